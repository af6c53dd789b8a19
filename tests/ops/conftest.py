"""Fixtures for the operations tests: TLS certificates, DKIM keys, a private
Redis whose configuration the tests may change, and an SMTP relay with
STARTTLS and AUTH."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from ops_support import RELAY_PASSWORD, RELAY_USER

from mailer.embedded.redis_server import EmbeddedRedis, start_embedded_redis
from mailer.embedded.smtp_sink import SmtpSink


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (cert.pem, key.pem)."""
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout", str(key), "-out", str(crt),
    )  # fmt: skip
    return crt, key


@pytest.fixture(scope="session")
def dkim_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """RSA private keys by size: {2048: path, 1024: path}."""
    d = tmp_path_factory.mktemp("dkim")
    keys = {}
    for bits in (2048, 1024):
        path = d / f"dkim-{bits}.pem"
        _openssl("genrsa", "-out", str(path), str(bits))
        keys[bits] = path
    return keys


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A Redis server only these tests use, so they may CONFIG SET it."""
    server = start_embedded_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


def _authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        RELAY_USER.encode(),
        RELAY_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


@pytest.fixture
def relay(cert: tuple[Path, Path], tmp_path: Path) -> Iterator[SmtpSink]:
    """An SMTP relay that requires STARTTLS and AUTH (PLAIN) before mail."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    with SmtpSink(
        tmp_path / "relay-outbox",
        tls_context=ctx,
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
        auth_exclude_mechanism=["LOGIN"],
    ) as sink:
        yield sink
