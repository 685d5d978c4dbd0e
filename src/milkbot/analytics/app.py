"""The Analytics API application (``milkbot api``).

Read-only over the analytics schema. Every trade-derived figure is delayed by
:data:`DELAY`: the cutoff ``now - DELAY`` is a bound parameter of every query.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from milkbot.analytics import queries, schemas
from milkbot.domain.stations import STATIONS
from milkbot.errors import ConfigError
from milkbot.settings import Settings
from milkbot.store.engine import create_api_engine, session_factory
from milkbot.store.models import ServiceHeartbeat

DELAY_MINUTES = 60
DELAY = timedelta(minutes=DELAY_MINUTES)
CACHE_SECONDS = 2.0
CACHE_ENTRIES = 1024
STALE_SECONDS = 5.0
"""While a resource renders for a new cutoff, others get its previous body up to this old."""
TRADER_CLOCK_SECONDS = 1.0
"""How long the trader's exported clock is reused; a stale clock only lengthens the delay."""
CALIBRATION_BINS = 10
SLOW_STEP = timedelta(minutes=1)
"""Equity, strategy scores and calibration move with settlements and slots, not seconds:
their cutoff is floored to the minute and each rendering is kept for a minute."""

NowFn = Callable[[], datetime]

_ERROR = {"content": {"application/json": {"schema": {"type": "object"}}}}
RESPONSES: dict[int | str, dict[str, object]] = {
    304: {"description": "Not modified since the ETag in If-None-Match"},
    503: {"description": "The analytics database is unavailable", **_ERROR},
}
CITY_RESPONSES: dict[int | str, dict[str, object]] = {
    **RESPONSES,
    404: {"description": "Unknown city code", **_ERROR},
}


def _wall_now() -> datetime:
    return datetime.now(UTC)


class _Cache:
    """A TTL cache of rendered responses so many clients cost the database little.

    A response is cached under its resource (path and query) and the cutoff it was rendered
    for. Concurrent misses of one key share a single render: the first request renders; the
    others get the resource's previous body if it is at most ``stale`` seconds old and was
    rendered for an earlier cutoff (so it is only more delayed), else they wait for the
    render. Expired entries are dropped and the size is bounded.
    """

    def __init__(
        self,
        ttl: float,
        monotonic: Callable[[], float] = time.monotonic,
        max_entries: int = CACHE_ENTRIES,
        stale: float = STALE_SECONDS,
    ) -> None:
        self._ttl, self._monotonic, self._max, self._stale = ttl, monotonic, max_entries, stale
        self._items: dict[tuple[str, datetime], tuple[float, bytes]] = {}  # expiry, body
        self._latest: dict[str, tuple[float, datetime, bytes]] = {}
        self._inflight: dict[tuple[str, datetime], asyncio.Event] = {}

    def get(self, resource: str, cutoff: datetime) -> bytes | None:
        """The body of ``resource`` at ``cutoff`` if it is younger than the TTL."""
        hit = self._items.get((resource, cutoff))
        if hit is None or self._monotonic() > hit[0]:
            return None
        return hit[1]

    def put(self, resource: str, cutoff: datetime, body: bytes, ttl: float | None = None) -> None:
        """Cache ``body`` for ``ttl`` seconds (default: the cache's TTL); drop expired entries
        and, past the bound, the oldest ones."""
        now = self._monotonic()
        self._items = {k: v for k, v in self._items.items() if now <= v[0]}
        self._latest = {k: v for k, v in self._latest.items() if now - v[0] <= self._stale}
        while len(self._items) >= self._max:
            del self._items[next(iter(self._items))]
        while len(self._latest) >= self._max:
            del self._latest[next(iter(self._latest))]
        self._items[(resource, cutoff)] = (now + (self._ttl if ttl is None else ttl), body)
        previous = self._latest.get(resource)
        if previous is None or previous[1] <= cutoff:
            self._latest[resource] = (now, cutoff, body)

    def __len__(self) -> int:
        return len(self._items)

    def _previous(self, resource: str, cutoff: datetime) -> bytes | None:
        hit = self._latest.get(resource)
        if hit is None or self._monotonic() - hit[0] > self._stale or hit[1] > cutoff:
            return None
        return hit[2]

    async def get_or_render(
        self,
        resource: str,
        cutoff: datetime,
        render: Callable[[], Awaitable[bytes]],
        ttl: float | None = None,
    ) -> tuple[bytes, bool]:
        """The cached body, the previous one while another request renders, or one rendered
        now; True when this call rendered it."""
        key = (resource, cutoff)
        while True:
            body = self.get(resource, cutoff)
            if body is not None:
                return body, False
            pending = self._inflight.get(key)
            if pending is None:
                break
            previous = self._previous(resource, cutoff)
            if previous is not None:
                return previous, False
            await pending.wait()  # then read the cache again (or render if that one failed)
        done = self._inflight[key] = asyncio.Event()
        try:
            body = await render()
            self.put(resource, cutoff, body, ttl)
            return body, True
        finally:
            del self._inflight[key]
            done.set()


def _floor(ts: datetime, step: timedelta) -> datetime:
    """``ts`` rounded down to a multiple of ``step`` since the epoch."""
    seconds = ts.timestamp()
    return datetime.fromtimestamp(seconds - seconds % step.total_seconds(), UTC)


async def _get_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessions = request.app.state.sessions
    assert isinstance(sessions, async_sessionmaker)
    async with sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_get_session)]


def create_app(
    settings: Settings,
    *,
    now: NowFn | None = None,
    engine: AsyncEngine | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """Build the API over the analytics schema.

    Parameters
    ----------
    settings : Settings
        Where the database is, and whose clock defines "now" (``api_clock``).
    now : callable, optional
        The wall clock; injected by tests.
    engine : AsyncEngine, optional
        An engine to use instead of the read-only one derived from ``settings``.
    monotonic : callable, optional
        The monotonic clock of the response cache; injected by tests.
    """
    wall = now or _wall_now
    registry = CollectorRegistry()
    requests_total = Counter(
        "milkbot_api_requests_total", "API requests", ["path", "status"], registry=registry
    )
    latency = Histogram(
        "milkbot_api_request_seconds", "API request latency", ["path"], registry=registry
    )
    renders = Counter(
        "milkbot_api_db_renders_total",
        "Responses rendered from the database",
        ["path"],
        registry=registry,
    )
    db_queries = Counter(
        "milkbot_api_db_queries_total", "SQL statements sent to the database", registry=registry
    )
    cache = _Cache(CACHE_SECONDS, monotonic)
    trader_clock: list[tuple[float, datetime]] = []

    def _count_query(*_args: object) -> None:
        db_queries.inc()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        eng = engine or create_api_engine(settings)
        _app.state.sessions = session_factory(eng)
        event.listen(eng.sync_engine, "before_cursor_execute", _count_query)
        try:
            yield
        finally:
            event.remove(eng.sync_engine, "before_cursor_execute", _count_query)
            if engine is None:
                await eng.dispose()

    app = FastAPI(
        title="Milkbot Analytics API",
        version="1",
        description="Delayed, sanitized results of Milkbot. Every trade-derived figure is "
        "at least 60 minutes old.",
        lifespan=lifespan,
    )

    async def current_now(session: AsyncSession) -> datetime:
        if settings.api_clock == "trader":
            if trader_clock and monotonic() - trader_clock[0][0] <= TRADER_CLOCK_SECONDS:
                return trader_clock[0][1]
            ts = await queries.trader_clock(session)
            if ts is not None:
                trader_clock[:] = [(monotonic(), ts)]
                return ts
        return wall()

    async def cached(
        request: Request,
        session: AsyncSession,
        render: Callable[[datetime], Awaitable[bytes]],
        step: timedelta | None = None,
    ) -> Response:
        """Serve ``render(cutoff)`` through the cache. The cutoff is now minus the delay,
        floored to the second, or to ``step`` for slow-moving resources, whose bodies are
        then kept for ``step``."""
        try:
            cutoff = _floor((await current_now(session)) - DELAY, step or timedelta(seconds=1))
            ttl = None if step is None else max(CACHE_SECONDS, step.total_seconds())
            resource = f"{request.url.path}?{request.url.query}"
            body, rendered = await cache.get_or_render(
                resource, cutoff, lambda: render(cutoff), ttl
            )
        except SQLAlchemyError as e:
            raise HTTPException(status_code=503, detail="analytics database unavailable") from e
        if rendered:
            renders.labels(request.url.path).inc()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=4"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(content=body, media_type="application/json", headers=headers)

    @app.middleware("http")
    async def _metrics(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        latency.labels(path).observe(time.perf_counter() - start)
        requests_total.labels(path, str(response.status_code)).inc()
        return response

    @app.get(
        "/health",
        response_model=schemas.Health,
        responses={503: {"description": "Degraded", **_ERROR}},
    )
    async def health(session: SessionDep) -> schemas.Health | JSONResponse:
        """Report liveness and whether the analytics database answers."""
        now_ = wall()
        try:
            await session.get(ServiceHeartbeat, "trader")
            db = "ok"
        except SQLAlchemyError:
            db = "unavailable"
        body = schemas.Health(
            status="ok" if db == "ok" else "degraded",
            database=db,
            delay_minutes=DELAY_MINUTES,
            as_of=now_,
        )
        if db != "ok":
            return JSONResponse(status_code=503, content=body.model_dump(mode="json"))
        return body

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics of this process."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/cities", response_model=schemas.CitiesResponse, responses=RESPONSES)
    async def cities(request: Request, session: SessionDep) -> Response:
        """The 10-city grid as of now minus the delay."""

        async def render(cutoff: datetime) -> bytes:
            views = await queries.cities(session, cutoff)
            out = schemas.CitiesResponse(as_of=cutoff, delay_minutes=DELAY_MINUTES, cities=views)
            return out.model_dump_json().encode()

        return await cached(request, session, render)

    @app.get("/v1/cities/{city}", response_model=schemas.CityDetail, responses=CITY_RESPONSES)
    async def city(city: str, request: Request, session: SessionDep) -> Response:
        """One city as of now minus the delay: its card, the current event's history of
        market and model probabilities per bracket and of the forecast high and observed
        maximum (thinned to at most 240 timestamps), and its latest settlements."""
        station = next((s for s in STATIONS if s.city == city.upper()), None)
        if station is None:
            raise HTTPException(status_code=404, detail=f"unknown city {city!r}")

        async def render(cutoff: datetime) -> bytes:
            detail = await queries.city_detail(session, station, cutoff)
            return detail.model_dump_json().encode()

        return await cached(request, session, render)

    @app.get("/v1/equity", response_model=schemas.EquityResponse, responses=RESPONSES)
    async def equity(request: Request, session: SessionDep) -> Response:
        """The equity curve (P&L) and drawdown up to now minus the delay (to the minute)."""

        async def render(cutoff: datetime) -> bytes:
            points = await queries.equity(session, cutoff)
            return schemas.EquityResponse(as_of=cutoff, points=points).model_dump_json().encode()

        return await cached(request, session, render, SLOW_STEP)

    @app.get("/v1/trades", response_model=schemas.TradesResponse, responses=RESPONSES)
    async def trades(
        request: Request,
        session: SessionDep,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        city: Annotated[str | None, Query(max_length=8)] = None,
    ) -> Response:
        """Delayed trades, newest first, paginated."""

        async def render(cutoff: datetime) -> bytes:
            total, rows = await queries.trades(
                session,
                cutoff,
                offset=offset,
                limit=limit,
                city=city.upper() if city else None,
            )
            out = schemas.TradesResponse(
                as_of=cutoff, total=total, offset=offset, limit=limit, trades=rows
            )
            return out.model_dump_json().encode()

        return await cached(request, session, render)

    @app.get("/v1/settlements", response_model=schemas.SettlementsResponse, responses=RESPONSES)
    async def settlements(
        request: Request,
        session: SessionDep,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        city: Annotated[str | None, Query(max_length=8)] = None,
    ) -> Response:
        """Settled events and our P&L on each, up to now minus the delay, newest first."""

        async def render(cutoff: datetime) -> bytes:
            total, rows = await queries.settlements(
                session, cutoff, offset=offset, limit=limit, city=city.upper() if city else None
            )
            out = schemas.SettlementsResponse(
                as_of=cutoff, total=total, offset=offset, limit=limit, settlements=rows
            )
            return out.model_dump_json().encode()

        return await cached(request, session, render)

    @app.get("/v1/strategies", response_model=schemas.StrategiesResponse, responses=RESPONSES)
    async def strategies(request: Request, session: SessionDep) -> Response:
        """Per strategy: scores on settled markets and the P&L of the trades it drove, as of
        now minus the delay, floored to the minute.

        Scoring uses one row per (strategy, market): the strategy's latest forecast for the
        market made at or before the event's settlement and at or before now minus the delay,
        and only events whose settlement is itself older than the delay. The outcome is 1 when
        the market's bracket is the event's winning bracket. ``brier`` and ``log_loss``
        (natural log, probabilities clipped to [1e-4, 1 - 1e-4]) are means over those rows;
        ``calibration_error`` is the count-weighted mean gap between mean predicted and
        observed frequency over 10 equal-width bins (see ``/v1/calibration``). ``pnl``
        attributes every delayed trade to the strategy recorded on it; its realized P&L
        (fees included) counts only trades of events settled before the cutoff.
        """

        async def render(cutoff: datetime) -> bytes:
            rows = await queries.strategies(session, cutoff, bins=CALIBRATION_BINS)
            out = schemas.StrategiesResponse(
                as_of=cutoff,
                delay_minutes=DELAY_MINUTES,
                calibration_bins=CALIBRATION_BINS,
                strategies=rows,
            )
            return out.model_dump_json().encode()

        return await cached(request, session, render, SLOW_STEP)

    @app.get("/v1/calibration", response_model=schemas.CalibrationResponse, responses=RESPONSES)
    async def calibration(
        request: Request,
        session: SessionDep,
        strategy: Annotated[str | None, Query(max_length=32)] = None,
        bins: Annotated[int, Query(ge=2, le=50)] = CALIBRATION_BINS,
    ) -> Response:
        """Reliability data as of now minus the delay, floored to the minute.

        Per strategy, equal-width bins of predicted probability with the
        mean predicted probability, the observed frequency and the count (empty bins left
        out). Same scoring rows as ``/v1/strategies``: one per (strategy, market), the latest
        forecast at or before both the settlement and now minus the delay, of events settled
        before now minus the delay."""

        async def render(cutoff: datetime) -> bytes:
            rows = await queries.calibration(session, cutoff, bins=bins, strategy=strategy)
            out = schemas.CalibrationResponse(as_of=cutoff, bins=bins, strategies=rows)
            return out.model_dump_json().encode()

        return await cached(request, session, render, SLOW_STEP)

    return app


def check_api_settings(settings: Settings) -> None:
    """Refuse to serve the public side with trading credentials configured."""
    if settings.kalshi_key_id is not None or settings.kalshi_private_key_path is not None:
        raise ConfigError("the Analytics API must not be started with Kalshi credentials")
