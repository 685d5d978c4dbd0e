"""``milkbot doctor``: check a deployment before (and while) it trades.

Every check yields OK, WARN, FAIL or SKIP with a one-line message and, unless OK, a one-line
fix. The command fails (exit 1) when any check FAILs. Checks: configuration, trading mode,
the Kalshi key file, the data directory and its disk, the database and its migrations, the
Analytics API's read-only access, the exchange (reachability, signed access, clock skew),
NWS reachability, and the trader's localhost health endpoint.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from milkbot.clock import Clock, SystemClock
from milkbot.errors import ConfigError, MilkbotError, StorageError
from milkbot.settings import Settings

DATE_HEADER_SLACK = timedelta(seconds=2)
GIB = 1024**3
MIB = 1024**2


class Level(StrEnum):
    """The verdict of one check."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class Check:
    """One check's verdict: what was checked, what was found, how to fix it."""

    name: str
    level: Level
    message: str
    hint: str = ""

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict."""
        return {
            "check": self.name,
            "status": self.level.value,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass
class DoctorOptions:
    """What to check and how (transports and the clock are injectable for tests)."""

    check_nws: bool = True
    timeout: float = 5.0
    clock: Clock = field(default_factory=SystemClock)
    exchange_transport: httpx.AsyncBaseTransport | None = None
    nws_transport: httpx.AsyncBaseTransport | None = None
    health_transport: httpx.AsyncBaseTransport | None = None
    disk_warn_bytes: int = GIB
    disk_fail_bytes: int = 200 * MIB
    skew_warn: timedelta = timedelta(seconds=2)
    skew_fail: timedelta = timedelta(seconds=30)


def exit_code(checks: list[Check]) -> int:
    """0 when no check failed, 1 otherwise."""
    return 1 if any(c.level is Level.FAIL for c in checks) else 0


def render(checks: list[Check]) -> str:
    """One line per check, with the fix on the next line when there is one."""
    width = max((len(c.name) for c in checks), default=0)
    lines: list[str] = []
    for c in checks:
        lines.append(f"{c.level.value:<4}  {c.name:<{width}}  {c.message}")
        if c.hint and c.level is not Level.OK:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {c.hint}")
    failed = sum(c.level is Level.FAIL for c in checks)
    warned = sum(c.level is Level.WARN for c in checks)
    lines.append(f"{failed} failed, {warned} warnings, {len(checks)} checks")
    return "\n".join(lines)


# ------------------------------------------------------------------------ configuration


def check_trading_mode(s: Settings) -> Check:
    """Whether ``venue``, ``live_trading`` and the key settings agree."""
    name = "trading mode"
    has_key = s.kalshi_key_id is not None and s.kalshi_private_key_path is not None
    if s.venue == "local":
        if s.live_trading:
            return Check(
                name,
                Level.WARN,
                "MILKBOT_LIVE_TRADING=true has no effect on the local exchange",
                "unset MILKBOT_LIVE_TRADING, or set MILKBOT_VENUE=demo|prod to trade on Kalshi",
            )
        return Check(name, Level.OK, "local exchange (simulation): no order reaches Kalshi")
    if s.live_trading:  # the settings refuse live trading on Kalshi without a key
        money = " with real money" if s.venue == "prod" else ""
        return Check(
            name, Level.OK, f"LIVE trading on Kalshi {s.venue}{money} (the trader needs --live)"
        )
    if has_key:
        return Check(
            name,
            Level.FAIL,
            f"a key is set for Kalshi {s.venue} but MILKBOT_LIVE_TRADING is false: "
            "the trader refuses to start",
            "set MILKBOT_LIVE_TRADING=true to trade, or unset the key to only watch",
        )
    return Check(
        name, Level.OK, f"Kalshi {s.venue}, no key: the trader watches public data, no orders"
    )


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_key_file(s: Settings) -> Check:
    """The Kalshi PEM: present, owned by this user, mode 0600 or stricter, an RSA key."""
    from milkbot.venues.kalshi.auth import load_private_key

    name = "kalshi key"
    path = s.kalshi_private_key_path
    if path is None:
        if s.kalshi_key_id is not None:
            return Check(
                name,
                Level.FAIL,
                "MILKBOT_KALSHI_KEY_ID is set but MILKBOT_KALSHI_PRIVATE_KEY_PATH is not",
                "set MILKBOT_KALSHI_PRIVATE_KEY_PATH to the PEM file of that key",
            )
        return Check(name, Level.SKIP, f"no key configured (not needed for venue {s.venue})")
    if s.kalshi_key_id is None:
        return Check(
            name,
            Level.FAIL,
            f"MILKBOT_KALSHI_PRIVATE_KEY_PATH={path} but MILKBOT_KALSHI_KEY_ID is not set",
            "set MILKBOT_KALSHI_KEY_ID to the key id Kalshi shows for this key",
        )
    try:
        st = path.stat()
    except OSError as e:
        return Check(
            name,
            Level.FAIL,
            f"cannot read {path}: {e.strerror}",
            f"put the PEM at {path} (owner {_user_name(os.getuid())}, mode 600)",
        )
    if st.st_uid != os.getuid():
        owner, me = _user_name(st.st_uid), _user_name(os.getuid())
        return Check(
            name,
            Level.FAIL,
            f"{path} is owned by {owner}, not by the user running Milkbot ({me})",
            f"chown {me} {path} (or run doctor as the service user: sudo -u milkbot ...)",
        )
    loose = bool(st.st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    try:
        load_private_key(path)
    except ConfigError as e:
        hint = f"chmod 600 {path}" if loose else "use the unencrypted RSA PEM Kalshi gave you"
        return Check(name, Level.FAIL, str(e), hint)
    return Check(
        name,
        Level.OK,
        f"{path}: RSA key for id {s.kalshi_key_id}, mode {stat.S_IMODE(st.st_mode):o}, "
        f"owner {_user_name(st.st_uid)}",
    )


def check_data_dir(s: Settings, opts: DoctorOptions) -> Check:
    """The data directory: exists, writable, with free disk space."""
    name = "data dir"
    path = s.data_dir.resolve()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not path.exists():
        level, msg = Level.WARN, f"{path} does not exist yet"
        hint = f"mkdir -p {path} and make it writable by the service user"
        if not os.access(probe, os.W_OK):
            return Check(name, Level.FAIL, f"{msg}, and {probe} is not writable", hint)
        return Check(name, level, msg + " (it is created on first use)", hint)
    if not path.is_dir():
        return Check(name, Level.FAIL, f"{path} is not a directory", "set MILKBOT_DATA_DIR")
    if not os.access(path, os.W_OK | os.X_OK):
        return Check(
            name,
            Level.FAIL,
            f"{path} is not writable by {_user_name(os.getuid())}",
            f"chown -R {_user_name(os.getuid())} {path}",
        )
    free = shutil.disk_usage(path).free
    msg = f"{path}: {free / GIB:.1f} GiB free"
    if free < opts.disk_fail_bytes:
        return Check(name, Level.FAIL, msg, "free disk space (old logs, backups) or grow the disk")
    if free < opts.disk_warn_bytes:
        return Check(name, Level.WARN, msg, "free disk space before the database fills it")
    return Check(name, Level.OK, msg)


# ------------------------------------------------------------------------ database


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def with_connect_timeout(url: str, seconds: float) -> str:
    """A PostgreSQL URL with libpq's ``connect_timeout`` (it waits forever by default)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or "connect_timeout" in parsed.query:
        return url
    timeout = str(max(1, round(seconds)))
    return parsed.update_query_dict({"connect_timeout": timeout}).render_as_string(
        hide_password=False
    )


def check_database(s: Settings) -> Check:
    """The trading database answers and is migrated to the newest revision."""
    from milkbot.store.migrate import current_revision, head_revision

    name = "database"
    where = _safe_url(s.trading_url)
    upgrade = "milkbot db upgrade"
    if s.is_sqlite:
        main = Path(make_url(s.trading_url).database or "")
        if not main.exists():
            return Check(name, Level.FAIL, f"{main} does not exist (not migrated)", upgrade)
    try:
        current = current_revision(s)
    except StorageError as e:
        hint = (
            "check MILKBOT_DATABASE_URL, that PostgreSQL runs and accepts this user"
            if not s.is_sqlite
            else "check the file's permissions and MILKBOT_DATA_DIR"
        )
        return Check(name, Level.FAIL, f"cannot open {where}: {e}", hint)
    head = head_revision()
    if current is None:
        return Check(name, Level.FAIL, f"{where} is not migrated", upgrade)
    if current != head:
        return Check(
            name, Level.FAIL, f"{where} is at revision {current}, Milkbot needs {head}", upgrade
        )
    return Check(name, Level.OK, f"{where} at revision {head} (newest)")


def check_api_access(s: Settings) -> Check:
    """The Analytics API's database access: the analytics schema only, read-only."""
    from milkbot.store.engine import API_ROLE, api_database_url, sync_url

    name = "api read-only"
    url = api_database_url(s)
    if url.startswith("sqlite"):
        path = s.analytics_sqlite_path
        if not path.exists():
            return Check(name, Level.FAIL, f"{path} does not exist", "milkbot db upgrade")
        return Check(
            name, Level.OK, f"SQLite: the API opens only {path}, read-only (mode=ro, query_only)"
        )
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            user = conn.execute(text("SELECT current_user")).scalar()
            conn.execute(text("SELECT 1 FROM analytics.heartbeats LIMIT 1")).all()
            readable = conn.execute(
                text("SELECT has_schema_privilege(current_user, 'trading', 'USAGE')")
            ).scalar()
            writable = conn.execute(
                text("SELECT has_table_privilege(current_user, 'analytics.trades', 'INSERT')")
            ).scalar()
    except SQLAlchemyError as e:
        first = str(e).splitlines()[0]
        return Check(
            name,
            Level.FAIL,
            f"cannot read the analytics schema as {_safe_url(url)}: {first}",
            f"milkbot db upgrade creates the role {API_ROLE}; give it a password "
            f"(ALTER ROLE {API_ROLE} PASSWORD '...') and put it in MILKBOT_API_DATABASE_URL",
        )
    finally:
        engine.dispose()
    if readable or writable:
        what = "use the trading schema" if readable else "write analytics tables"
        return Check(
            name,
            Level.FAIL,
            f"the API's role {user} can {what}",
            f"connect the API as {API_ROLE} (MILKBOT_API_DATABASE_URL); re-run milkbot db upgrade",
        )
    return Check(name, Level.OK, f"role {user} reads analytics only (no trading, no writes)")


# ------------------------------------------------------------------------ network


class _DateProbe(httpx.AsyncBaseTransport):
    """A transport that records the local send/receive times and the server's Date header."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: Clock) -> None:
        self._inner = inner
        self._clock = clock
        self.samples: list[tuple[datetime, datetime, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = self._clock.now()
        response = await self._inner.handle_async_request(request)
        self.samples.append((sent, self._clock.now(), response.headers.get("date")))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _reach_hint(s: Settings) -> str:
    if s.venue == "local":
        return (
            f"start the local exchange (milkbot exchange --port {s.exchange_port}) or fix "
            "MILKBOT_EXCHANGE_HOST/MILKBOT_EXCHANGE_PORT"
        )
    return "check outbound HTTPS, DNS and the firewall of this host"


async def check_exchange(s: Settings, opts: DoctorOptions) -> list[Check]:
    """Exchange status, signed access when a key is set, and the clock skew (Date header)."""
    from milkbot.venues.kalshi.client import KalshiClient, KalshiRejection
    from milkbot.venues.kalshi.factory import auth_from_settings

    inner = opts.exchange_transport or httpx.AsyncHTTPTransport()
    probe = _DateProbe(inner, opts.clock)
    checks: list[Check] = []
    key_problem = ""
    try:
        auth = auth_from_settings(s, opts.clock)
    except ConfigError:
        auth, key_problem = None, "not tested: the key does not load (see kalshi key)"
    client = KalshiClient(
        s.exchange_url,
        auth=auth,
        transport=probe,
        clock=opts.clock,
        timeout=opts.timeout,
        max_retries=0,
    )
    async with client:
        try:
            status = await client.get_exchange_status()
        except MilkbotError as e:
            checks.append(
                Check(
                    "exchange",
                    Level.FAIL,
                    f"cannot reach the exchange at {s.exchange_url}: {e}",
                    _reach_hint(s),
                )
            )
            checks.append(Check("clock skew", Level.SKIP, "not measured: exchange unreachable"))
            return checks
        if status.exchange_active and status.trading_active:
            checks.append(Check("exchange", Level.OK, f"{s.exchange_url}: trading active"))
        else:
            checks.append(
                Check(
                    "exchange",
                    Level.WARN,
                    f"{s.exchange_url} answers but exchange_active={status.exchange_active}, "
                    f"trading_active={status.trading_active}",
                    "wait for the exchange to reopen (maintenance or outside trading hours)",
                )
            )
        if auth is None:
            why = key_problem or "no key: signed access not tested"
            checks.append(Check("exchange auth", Level.SKIP, why))
        else:
            try:
                await client.get_balance()
                checks.append(
                    Check("exchange auth", Level.OK, f"signed request accepted (key {auth.key_id})")
                )
            except KalshiRejection as e:
                checks.append(
                    Check(
                        "exchange auth",
                        Level.FAIL,
                        f"the exchange refused a signed request: {e}",
                        "check that MILKBOT_KALSHI_KEY_ID matches the PEM (and, on the local "
                        "exchange, its --public-key), and the clock",
                    )
                )
            except MilkbotError as e:
                checks.append(
                    Check(
                        "exchange auth", Level.FAIL, f"signed request failed: {e}", _reach_hint(s)
                    ),
                )
    checks.append(_skew_check(probe.samples, opts))
    return checks


def _skew_check(samples: list[tuple[datetime, datetime, str | None]], opts: DoctorOptions) -> Check:
    name = "clock skew"
    dated = [(a, b, d) for a, b, d in samples if d]
    if not dated:
        return Check(name, Level.WARN, "the exchange sent no Date header: skew not measured")
    sent, received, header = min(dated, key=lambda x: x[1] - x[0])
    try:
        server = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return Check(name, Level.WARN, f"unparsable Date header {header!r}")
    # The Date header is truncated to the second, and servers may cache it for a second
    # (uvicorn does): the server's time at the answer lies in [date, date + 2 s].
    lo = (server - received).total_seconds()
    hi = (server + DATE_HEADER_SLACK - sent).total_seconds()
    at_least = timedelta(seconds=max(0.0, lo, -hi))
    msg = f"exchange minus local clock: {lo:+.1f} to {hi:+.1f} s (from its Date header)"
    hint = "enable time sync: timedatectl set-ntp true (systemd-timesyncd or chrony)"
    if at_least > opts.skew_fail:
        return Check(name, Level.FAIL, msg, hint + "; signed requests need an accurate clock")
    if at_least > opts.skew_warn:
        return Check(name, Level.WARN, msg, hint)
    return Check(name, Level.OK, msg)


async def check_nws(s: Settings, opts: DoctorOptions) -> Check:
    """NWS answers (optional: the trader falls back to Open-Meteo)."""
    from milkbot.weather.nws.client import NWS_BASE_URL

    name = "nws"
    if not opts.check_nws:
        return Check(name, Level.SKIP, "not checked (--no-nws)")
    try:
        async with httpx.AsyncClient(transport=opts.nws_transport, timeout=opts.timeout) as c:
            resp = await c.get(
                NWS_BASE_URL + "/",
                headers={"User-Agent": s.nws_user_agent, "Accept": "application/geo+json"},
            )
    except httpx.HTTPError as e:
        return Check(
            name,
            Level.WARN,
            f"skipped/failed: no network to {NWS_BASE_URL} ({type(e).__name__}: {e})",
            "allow outbound HTTPS; until then forecasts come only from the fallback provider",
        )
    if resp.status_code != 200:
        return Check(
            name,
            Level.WARN,
            f"{NWS_BASE_URL} answered HTTP {resp.status_code}",
            "NWS requires a User-Agent with a contact: set MILKBOT_NWS_USER_AGENT",
        )
    return Check(name, Level.OK, f"{NWS_BASE_URL} reachable (User-Agent {s.nws_user_agent!r})")


async def check_trader(s: Settings, opts: DoctorOptions) -> Check:
    """The trader's ``/health`` on 127.0.0.1 (a trader that is not running is a warning)."""
    name = "trader"
    url = f"http://127.0.0.1:{s.trader_health_port}/health"
    try:
        async with httpx.AsyncClient(transport=opts.health_transport, timeout=opts.timeout) as c:
            resp = await c.get(url)
    except httpx.HTTPError:
        return Check(
            name,
            Level.WARN,
            f"not running (nothing answers {url})",
            "start it: systemctl start milkbot-trader (or milkbot trader)",
        )
    try:
        body: dict[str, Any] = resp.json()
    except ValueError:
        body = {}
    detail = f"mode {body.get('mode')}, {body.get('steps')} steps"
    if resp.status_code == 200:
        return Check(name, Level.OK, f"healthy at {url}: {detail}")
    return Check(
        name,
        Level.FAIL,
        f"unhealthy at {url} (HTTP {resp.status_code}): {detail}, "
        f"last error {body.get('last_error') or 'none'}",
        "read its log: journalctl -u milkbot-trader -n 100",
    )


# ------------------------------------------------------------------------ all together


async def run_doctor(
    load: Callable[[], Settings], opts: DoctorOptions | None = None
) -> list[Check]:
    """Run every check; a configuration that does not load stops after that check."""
    opts = opts or DoctorOptions()
    try:
        s = load()
    except ConfigError as e:
        return [Check("config", Level.FAIL, str(e), "fix the MILKBOT_* variables (or .env)")]
    config = Check(
        "config",
        Level.OK,
        f"venue {s.venue}, database {_safe_url(s.trading_url)}, data dir {s.data_dir}",
    )
    if not s.is_sqlite:
        api_url = s.api_database_url
        s = s.model_copy(
            update={
                "database_url": with_connect_timeout(s.trading_url, opts.timeout),
                "api_database_url": None
                if api_url is None
                else with_connect_timeout(api_url, opts.timeout),
            }
        )
    checks = [
        config,
        check_trading_mode(s),
        check_key_file(s),
        check_data_dir(s, opts),
    ]
    db = check_database(s)
    checks.append(db)
    if db.level is Level.FAIL:
        checks.append(Check("api read-only", Level.SKIP, "not checked: the database is not ready"))
    else:
        checks.append(check_api_access(s))
    checks.extend(await check_exchange(s, opts))
    checks.append(await check_nws(s, opts))
    checks.append(await check_trader(s, opts))
    return checks
