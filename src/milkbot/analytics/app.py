"""The Analytics API application (``milkbot api``).

Read-only over the analytics schema. Every trade-derived figure is delayed by
:data:`DELAY`: the cutoff ``now - DELAY`` is a bound parameter of every query.
"""

from __future__ import annotations

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
    """A tiny TTL cache of rendered responses so many clients cost the database little."""

    def __init__(self, ttl: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._monotonic = ttl, monotonic
        self._items: dict[str, tuple[float, bytes]] = {}

    def get(self, key: str) -> bytes | None:
        hit = self._items.get(key)
        if hit is None or self._monotonic() - hit[0] > self._ttl:
            return None
        return hit[1]

    def put(self, key: str, body: bytes) -> None:
        self._items[key] = (self._monotonic(), body)


async def _get_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessions = request.app.state.sessions
    assert isinstance(sessions, async_sessionmaker)
    async with sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_get_session)]


def create_app(
    settings: Settings, *, now: NowFn | None = None, engine: AsyncEngine | None = None
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
    """
    wall = now or _wall_now
    registry = CollectorRegistry()
    requests_total = Counter(
        "milkbot_api_requests_total", "API requests", ["path", "status"], registry=registry
    )
    latency = Histogram(
        "milkbot_api_request_seconds", "API request latency", ["path"], registry=registry
    )
    db_queries = Counter(
        "milkbot_api_db_renders_total",
        "Responses rendered from the database",
        ["path"],
        registry=registry,
    )
    cache = _Cache(CACHE_SECONDS)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        eng = engine or create_api_engine(settings)
        _app.state.sessions = session_factory(eng)
        try:
            yield
        finally:
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
            ts = await queries.trader_clock(session)
            if ts is not None:
                return ts
        return wall()

    async def cached(
        request: Request, session: AsyncSession, render: Callable[[datetime], Awaitable[bytes]]
    ) -> Response:
        cutoff = (await current_now(session)) - DELAY
        key = f"{request.url.path}?{request.url.query}@{cutoff.isoformat(timespec='seconds')}"
        body = cache.get(key)
        if body is None:
            try:
                body = await render(cutoff)
            except SQLAlchemyError as e:
                raise HTTPException(status_code=503, detail="analytics database unavailable") from e
            db_queries.labels(request.url.path).inc()
            cache.put(key, body)
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

    @app.get("/v1/cities/{city}", response_model=schemas.CityView, responses=CITY_RESPONSES)
    async def city(city: str, request: Request, session: SessionDep) -> Response:
        """One city's card as of now minus the delay."""
        station = next((s for s in STATIONS if s.city == city.upper()), None)
        if station is None:
            raise HTTPException(status_code=404, detail=f"unknown city {city!r}")

        async def render(cutoff: datetime) -> bytes:
            return (await queries.city_view(session, station, cutoff)).model_dump_json().encode()

        return await cached(request, session, render)

    @app.get("/v1/equity", response_model=schemas.EquityResponse, responses=RESPONSES)
    async def equity(request: Request, session: SessionDep) -> Response:
        """The equity curve (P&L) and drawdown up to now minus the delay."""

        async def render(cutoff: datetime) -> bytes:
            points = await queries.equity(session, cutoff)
            return schemas.EquityResponse(as_of=cutoff, points=points).model_dump_json().encode()

        return await cached(request, session, render)

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
    async def settlements(request: Request, session: SessionDep) -> Response:
        """Settled events and our P&L on each, up to now minus the delay."""

        async def render(cutoff: datetime) -> bytes:
            rows = await queries.settlements(session, cutoff)
            return (
                schemas.SettlementsResponse(as_of=cutoff, settlements=rows)
                .model_dump_json()
                .encode()
            )

        return await cached(request, session, render)

    return app


def check_api_settings(settings: Settings) -> None:
    """Refuse to serve the public side with trading credentials configured."""
    if settings.kalshi_key_id is not None or settings.kalshi_private_key_path is not None:
        raise ConfigError("the Analytics API must not be started with Kalshi credentials")
