"""Request signing and key loading."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from hypothesis import given, settings
from hypothesis import strategies as st

from milkbot.clock import FixedClock
from milkbot.errors import ConfigError
from milkbot.venues.kalshi.auth import (
    KEY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    KalshiAuth,
    load_private_key,
    sign,
    verify,
)


def _pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_load_private_key_accepts_owner_only_file(tmp_path: Path, rsa_key) -> None:
    path = tmp_path / "kalshi.pem"
    path.write_bytes(_pem(rsa_key))
    path.chmod(0o600)
    loaded = load_private_key(path)
    assert loaded.public_key().public_numbers() == rsa_key.public_key().public_numbers()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_load_private_key_refuses_group_or_other_access(tmp_path: Path, rsa_key, mode) -> None:
    path = tmp_path / "kalshi.pem"
    path.write_bytes(_pem(rsa_key))
    path.chmod(mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_private_key(path)


def test_load_private_key_refuses_missing_garbage_and_non_rsa(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_private_key(tmp_path / "absent.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    garbage.chmod(0o600)
    with pytest.raises(ConfigError):
        load_private_key(garbage)
    ec_path = tmp_path / "ec.pem"
    ec_path.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    ec_path.chmod(0o600)
    with pytest.raises(ConfigError, match="RSA"):
        load_private_key(ec_path)


def test_signature_is_rsa_pss_sha256_with_digest_length_salt(rsa_key) -> None:
    ts, path = 1731000000123, "/trade-api/v2/portfolio/balance"
    sig = base64.b64decode(sign(rsa_key, ts, "GET", path))
    # Verify with the exact parameters of Kalshi's documented example, independently.
    rsa_key.public_key().verify(
        sig,
        f"{ts}GET{path}".encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )


async def test_auth_flow_signs_full_path_without_query(rsa_key) -> None:
    clock = FixedClock(datetime(2026, 7, 11, 15, 0, 0, 123000, tzinfo=UTC))
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    auth = KalshiAuth("key-id-1", rsa_key, clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as http:
        await http.get("https://k.test/trade-api/v2/portfolio/orders", params={"limit": 5})
    req = seen[0]
    assert req.headers[KEY_HEADER] == "key-id-1"
    assert req.headers[TIMESTAMP_HEADER] == "1783782000123"
    pub = rsa_key.public_key()
    sig = req.headers[SIGNATURE_HEADER]
    assert verify(pub, sig, 1783782000123, "GET", "/trade-api/v2/portfolio/orders")
    with pytest.raises(InvalidSignature):  # the query string was not part of the message
        pub.verify(
            base64.b64decode(sig),
            b"1783782000123GET/trade-api/v2/portfolio/orders?limit=5",
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )


_segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)
_paths = st.lists(_segment, min_size=1, max_size=5).map(lambda p: "/trade-api/v2/" + "/".join(p))
_queries = st.dictionaries(_segment, _segment, max_size=3)
_methods = st.sampled_from(["GET", "POST", "PUT", "DELETE"])


@settings(max_examples=25, deadline=None)
@given(path=_paths, query=_queries, method=_methods, other=_methods, ts=st.integers(0, 2**42))
def test_signature_property(rsa_key, path, query, method, other, ts) -> None:
    full = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    sig = sign(rsa_key, ts, method, full)
    pub = rsa_key.public_key()
    assert verify(pub, sig, ts, method, path)  # the query is ignored
    assert verify(pub, sig, ts, method.lower(), path)  # the method is upper-cased
    if other != method:
        assert not verify(pub, sig, ts, other, path)
    assert not verify(pub, sig, ts + 1, method, path)
    assert not verify(pub, sig, ts, method, path + "x")
