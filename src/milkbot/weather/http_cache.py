"""A polite HTTP fetcher for weather providers: cache, conditional requests, retries, health.

* Freshness from ``Cache-Control: max-age`` (minus ``Age``), else ``Expires``, else a default
  TTL; ``no-store``/``no-cache`` mean always revalidate.
* Stale entries are revalidated with ``If-None-Match``/``If-Modified-Since``; a 304 refreshes
  the entry and serves the stored body.
* 5xx, 429 and transport errors are retried with jittered exponential backoff (randomness
  and sleep are injected). Other 4xx are not retried.
* :class:`UpstreamHealth` counts consecutive failures; at the threshold the provider is in
  *outage* and calls fail fast with :class:`ProviderOutageError` until a cool-down passes and
  one probe succeeds, so the trader can fall back to the other provider.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from milkbot.clock import Clock
from milkbot.domain.weather import WeatherSnapshot
from milkbot.errors import ParseError, TransientUpstreamError, UpstreamError
from milkbot.logging import get_logger

log = get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]
SnapshotSink = Callable[[WeatherSnapshot], None]


class ProviderOutageError(UpstreamError):
    """The provider is in outage (circuit open): use the fallback provider."""


class HttpStatusError(UpstreamError):
    """A non-retryable HTTP error answer (4xx other than 429)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A response body as served to the caller, fresh from the network or from the cache."""

    url: str
    status: int
    body: bytes
    headers: Mapping[str, str]
    retrieved_at: datetime
    from_cache: bool
    revalidated: bool = False

    @property
    def last_modified(self) -> datetime | None:
        """The ``Last-Modified`` header as an aware UTC datetime, if present and valid."""
        return _http_date(self.headers.get("last-modified"))

    def json(self) -> Any:
        """Decode the body as JSON; raise :class:`ParseError` when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as e:
            raise ParseError(f"{self.url}: body is not JSON: {e}") from None


@dataclass(slots=True)
class CacheEntry:
    """One stored response and how long it stays fresh."""

    result: FetchResult
    fresh_until: datetime
    etag: str | None
    last_modified: str | None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def freshness_lifetime(headers: Mapping[str, str], now: datetime, default: timedelta) -> timedelta:
    """How long a response stays fresh, from its caching headers (RFC 9111, private cache)."""
    cache_control = headers.get("cache-control", "").lower()
    directives = [d.strip() for d in cache_control.split(",") if d.strip()]
    if any(d in ("no-store", "no-cache") for d in directives):
        return timedelta(0)
    for d in directives:
        m = re.fullmatch(r"max-age\s*=\s*\"?(\d+)\"?", d)
        if m:
            age = headers.get("age", "0").strip()
            age_s = int(age) if age.isdigit() else 0
            return max(timedelta(0), timedelta(seconds=int(m[1]) - age_s))
    expires = headers.get("expires")
    if expires is not None:
        when = _http_date(expires)
        if when is None:
            return timedelta(0)  # an invalid Expires means "already expired"
        date = _http_date(headers.get("date")) or now
        return max(timedelta(0), when - date)
    return default


@dataclass
class UpstreamHealth:
    """Consecutive-failure circuit of one provider."""

    provider: str
    threshold: int = 3
    cooldown: timedelta = timedelta(minutes=2)
    consecutive_failures: int = 0
    last_error: str | None = None
    last_success_at: datetime | None = None
    opened_at: datetime | None = None

    @property
    def outage(self) -> bool:
        """Whether the provider is considered down (the trader should fall back)."""
        return self.opened_at is not None

    def allow_request(self, now: datetime) -> bool:
        """Whether a request may go out (always when healthy; one probe after cool-down)."""
        return self.opened_at is None or now >= self.opened_at + self.cooldown

    def record_success(self, now: datetime) -> None:
        """Close the circuit."""
        if self.opened_at is not None:
            log.info("provider recovered", provider=self.provider)
        self.consecutive_failures = 0
        self.last_success_at = now
        self.opened_at = None

    def record_failure(self, error: str, now: datetime, *, hard: bool = False) -> None:
        """Count a failed call; ``hard`` failures (e.g. an expired grid) open at once."""
        self.consecutive_failures += 1
        self.last_error = error
        if hard or self.consecutive_failures >= self.threshold:
            if self.opened_at is None:
                log.warning("provider outage", provider=self.provider, error=error)
            self.opened_at = now


def _problem_title(response: httpx.Response) -> str:
    """Short description of an error response (RFC 7807 title/detail when present)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return response.text[:200]
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("type", "title", "detail") if body.get(k)]
        if parts:
            return " | ".join(parts)[:300]
    return response.text[:200]


HardFailure = Callable[[httpx.Response], bool]


def _never_hard(_: httpx.Response) -> bool:
    return False


@dataclass
class CachingFetcher:
    """GET with a per-URL cache, conditional requests, retries and a health circuit."""

    provider: str
    clock: Clock
    headers: Mapping[str, str] = field(default_factory=dict)
    transport: httpx.AsyncBaseTransport | None = None
    rng: random.Random = field(default_factory=random.Random)
    sleep: Sleep = asyncio.sleep
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    default_ttl: timedelta = timedelta(minutes=5)
    timeout: float = 15.0
    health: UpstreamHealth | None = None
    is_hard_failure: HardFailure = _never_hard
    _cache: dict[str, CacheEntry] = field(default_factory=dict, init=False, repr=False)
    _client: httpx.AsyncClient | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.health is None:
            self.health = UpstreamHealth(self.provider)
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    @property
    def circuit(self) -> UpstreamHealth:
        """The provider's health circuit."""
        assert self.health is not None
        return self.health

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self.transport,
                headers=dict(self.headers),
                timeout=self.timeout,
                follow_redirects=True,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the underlying HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def backoff(self, attempt: int) -> float:
        """Delay before retry ``attempt`` (0-based): full jitter over an exponential cap."""
        cap = min(self.max_delay, self.base_delay * (2.0**attempt))
        return cap * (0.5 + 0.5 * self.rng.random())

    @staticmethod
    def cache_key(url: str, params: Mapping[str, str] | None) -> str:
        """The cache key of a request: the URL with its query parameters sorted."""
        if not params:
            return url
        return f"{url}?{urlencode(sorted(params.items()))}"

    def invalidate(self, url: str, params: Mapping[str, str] | None = None) -> None:
        """Drop one cached response."""
        self._cache.pop(self.cache_key(url, params), None)

    def cached(self, url: str, params: Mapping[str, str] | None = None) -> CacheEntry | None:
        """The stored entry of a request, fresh or not."""
        return self._cache.get(self.cache_key(url, params))

    async def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """Fetch ``url``, serving a fresh cached copy when there is one."""
        key = self.cache_key(url, params)
        entry = self._cache.get(key)
        now = self.clock.now()
        if entry is not None and now < entry.fresh_until:
            return FetchResult(
                entry.result.url,
                entry.result.status,
                entry.result.body,
                entry.result.headers,
                entry.result.retrieved_at,
                from_cache=True,
            )
        health = self.circuit
        if not health.allow_request(now):
            raise ProviderOutageError(
                f"{self.provider} in outage since {health.opened_at}: {health.last_error}"
            )
        request_headers = dict(headers or {})
        if entry is not None:
            if entry.etag:
                request_headers["If-None-Match"] = entry.etag
            if entry.last_modified:
                request_headers["If-Modified-Since"] = entry.last_modified
        last_error = "no attempt"
        for attempt in range(self.max_attempts):
            if attempt:
                await self.sleep(self.backoff(attempt - 1))
            try:
                response = await self._http().get(url, params=params, headers=request_headers)
            except httpx.TransportError as e:
                last_error = f"{type(e).__name__}: {e}"
                continue
            now = self.clock.now()
            if response.status_code == 304 and entry is not None:
                entry.fresh_until = now + freshness_lifetime(
                    response.headers, now, self.default_ttl
                )
                health.record_success(now)
                return FetchResult(
                    entry.result.url,
                    entry.result.status,
                    entry.result.body,
                    entry.result.headers,
                    now,
                    from_cache=True,
                    revalidated=True,
                )
            if response.status_code == 200:
                return self._store(key, str(response.url), response, now)
            detail = f"HTTP {response.status_code}: {_problem_title(response)}"
            if self.is_hard_failure(response):
                health.record_failure(detail, now, hard=True)
                raise ProviderOutageError(f"{self.provider} {url}: {detail}")
            if response.status_code >= 500 or response.status_code == 429:
                last_error = detail
                log.info("retrying", provider=self.provider, url=url, error=detail)
                continue
            raise HttpStatusError(f"{self.provider} {url}: {detail}", response.status_code)
        health.record_failure(last_error, self.clock.now())
        raise TransientUpstreamError(
            f"{self.provider} {url}: {last_error} after {self.max_attempts} attempts"
        )

    def _store(self, key: str, url: str, response: httpx.Response, now: datetime) -> FetchResult:
        headers = {k.lower(): v for k, v in response.headers.items()}
        result = FetchResult(url, 200, response.content, headers, now, from_cache=False)
        lifetime = freshness_lifetime(headers, now, self.default_ttl)
        self._cache[key] = CacheEntry(
            result=result,
            fresh_until=now + lifetime,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
        )
        self.circuit.record_success(now)
        return result


def http_date(when: datetime) -> str:
    """Format an aware datetime as an HTTP date (for tests and conditional headers)."""
    return format_datetime(when.astimezone(UTC), usegmt=True)
