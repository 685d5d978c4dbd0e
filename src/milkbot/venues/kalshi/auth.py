"""Kalshi request signing: RSA-PSS SHA-256 over ``timestamp_ms + METHOD + path``.

The path is the full URL path from the host root without the query string; the body is not
signed (``shared/notes/kalshi-api.md`` section 2).
"""

from __future__ import annotations

import base64
import stat
from collections.abc import Generator
from pathlib import Path

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from milkbot.clock import Clock, SystemClock
from milkbot.errors import ConfigError

KEY_HEADER = "KALSHI-ACCESS-KEY"
TIMESTAMP_HEADER = "KALSHI-ACCESS-TIMESTAMP"
SIGNATURE_HEADER = "KALSHI-ACCESS-SIGNATURE"
WS_PATH = "/trade-api/ws/v2"

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def load_private_key(path: Path | str) -> rsa.RSAPrivateKey:
    """Load an RSA private key from a PEM file readable by its owner only.

    Raises
    ------
    ConfigError
        If the file is missing, group/other-accessible, not PEM, or not an RSA key.
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read the Kalshi key file {p}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the Kalshi key file {p} is accessible by group/others "
            f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {p}"
        )
    try:
        key = serialization.load_pem_private_key(p.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{p} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{p} holds a {type(key).__name__}, Kalshi keys are RSA")
    return key


def signing_message(timestamp_ms: int, method: str, path: str) -> bytes:
    """The bytes Kalshi signs: timestamp, upper-case method, path without query."""
    return f"{timestamp_ms}{method.upper()}{path.split('?', 1)[0]}".encode()


def sign(key: rsa.RSAPrivateKey, timestamp_ms: int, method: str, path: str) -> str:
    """Base64 RSA-PSS (MGF1-SHA256, salt = digest length) signature of a request."""
    raw = key.sign(signing_message(timestamp_ms, method, path), _PSS, hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def verify(
    public_key: rsa.RSAPublicKey, signature: str, timestamp_ms: int, method: str, path: str
) -> bool:
    """Return whether ``signature`` is valid for the request (used by the local exchange)."""
    try:
        public_key.verify(
            base64.b64decode(signature),
            signing_message(timestamp_ms, method, path),
            _PSS,
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


class KalshiAuth(httpx.Auth):
    """httpx auth adding the three ``KALSHI-ACCESS-*`` headers to each request."""

    def __init__(self, key_id: str, private_key: rsa.RSAPrivateKey, clock: Clock | None = None):
        self.key_id = key_id
        self._key = private_key
        self._clock = clock or SystemClock()

    def headers(self, method: str, path: str) -> dict[str, str]:
        """Signed headers for a request (also used for the WebSocket handshake)."""
        ts = int(self._clock.now().timestamp() * 1000)
        return {
            KEY_HEADER: self.key_id,
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: sign(self._key, ts, method, path),
        }

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign the request with its raw path (no query)."""
        request.headers.update(self.headers(request.method, request.url.path))
        yield request
