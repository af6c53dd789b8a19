"""SmtpTransport against real aiosmtpd servers: STARTTLS, SMTPS, AUTH,
timeouts, and the classification of every reply."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from mailer.delivery.relay import parse_smtp_url
from mailer.delivery.smtp import FailureKind, SmtpTransport, TransportError, classify
from mailer.embedded.smtp_sink import FaultPlan, SmtpSink

MESSAGE = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: t\r\n\r\nhello\r\n"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(crt),
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


def server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"editor",
        b"p@ss word",
    )
    return AuthResult(success=ok)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (421, FailureKind.RELAY),
        (450, FailureKind.DEFER),
        (451, FailureKind.DEFER),
        (452, FailureKind.DEFER),
        (550, FailureKind.PERMANENT),
        (554, FailureKind.PERMANENT),
        (None, FailureKind.RELAY),
    ],
)
def test_classify(code: int | None, kind: FailureKind) -> None:
    assert classify(code, "x").kind is kind


def test_no_reply_after_data_is_ambiguous() -> None:
    assert classify(None, "reset", after_data=True).kind is FailureKind.AMBIGUOUS


@pytest.fixture
def starttls_sink(cert: tuple[Path, Path], tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(
        tmp_path / "o",
        tls_context=server_context(cert),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_exclude_mechanism=["LOGIN"],
    ) as sink:
        yield sink


def test_starttls_and_auth(starttls_sink: SmtpSink, cert: tuple[Path, Path]) -> None:
    relay = parse_smtp_url(f"smtp+starttls://editor:p%40ss%20word@127.0.0.1:{starttls_sink.port}")
    t = SmtpTransport(relay, timeout=5, ca_file=str(cert[0]))
    t.send("bounces@example.com", "b@example.org", MESSAGE)
    t.send("bounces@example.com", "c@example.org", MESSAGE)  # same connection
    t.close()
    assert [a.recipients for a in starttls_sink.accepted] == [
        ("b@example.org",),
        ("c@example.org",),
    ]


def test_wrong_password_backs_off_the_relay(
    starttls_sink: SmtpSink, cert: tuple[Path, Path]
) -> None:
    relay = parse_smtp_url(f"smtp+starttls://editor:wrong@127.0.0.1:{starttls_sink.port}")
    t = SmtpTransport(relay, timeout=5, ca_file=str(cert[0]))
    with pytest.raises(TransportError) as err:
        t.send("bounces@example.com", "b@example.org", MESSAGE)
    # (aiosmtpd closes the session on a failed AUTH rather than answering 535,
    # so the message varies; the kind must not.)
    assert err.value.kind is FailureKind.RELAY
    assert not starttls_sink.accepted


def test_untrusted_certificate_is_refused(starttls_sink: SmtpSink) -> None:
    relay = parse_smtp_url(f"smtp+starttls://editor:x@127.0.0.1:{starttls_sink.port}")
    with pytest.raises(TransportError) as err:
        SmtpTransport(relay, timeout=5).send("a@example.com", "b@example.org", MESSAGE)
    assert err.value.kind is FailureKind.RELAY and "CERTIFICATE" in str(err.value).upper()


def test_smtps_implicit_tls(cert: tuple[Path, Path], tmp_path: Path) -> None:
    with SmtpSink(tmp_path / "o", ssl_context=server_context(cert)) as sink:
        relay = parse_smtp_url(f"smtps://127.0.0.1:{sink.port}")
        t = SmtpTransport(relay, timeout=5, ca_file=str(cert[0]))
        t.send("a@example.com", "b@example.org", MESSAGE)
        t.close()
        assert len(sink.accepted) == 1


def test_replies_are_classified_and_the_connection_survives(tmp_path: Path) -> None:
    def decide(stage: str, rcpt: str, attempt: int):  # type: ignore[no-untyped-def]
        return (
            {
                "soft@example.org": "452 4.2.2 mailbox full",
                "hard@example.org": "550 5.1.1 no such user",
            }.get(rcpt)
            if stage == "RCPT"
            else None
        )

    with SmtpSink(tmp_path / "o", faults=FaultPlan(decide)) as sink:
        t = SmtpTransport(parse_smtp_url(sink.url), timeout=5)
        with pytest.raises(TransportError) as soft:
            t.send("a@example.com", "soft@example.org", MESSAGE)
        with pytest.raises(TransportError) as hard:
            t.send("a@example.com", "hard@example.org", MESSAGE)
        t.send("a@example.com", "ok@example.org", MESSAGE)
        t.close()
        assert (soft.value.kind, soft.value.code) == (FailureKind.DEFER, 452)
        assert (hard.value.kind, hard.value.code) == (FailureKind.PERMANENT, 550)
        assert [a.recipients for a in sink.accepted] == [("ok@example.org",)]


def test_relay_down_and_timeout(tmp_path: Path) -> None:
    from mailer.embedded.redis_server import free_port

    t = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{free_port()}"), timeout=2)
    with pytest.raises(TransportError) as err:
        t.send("a@example.com", "b@example.org", MESSAGE)
    assert err.value.kind is FailureKind.RELAY
    slow = FaultPlan(lambda st, r, a: ("sleep", 3.0) if st == "DATA" else None)
    with SmtpSink(tmp_path / "o", faults=slow) as sink:
        t = SmtpTransport(parse_smtp_url(sink.url), timeout=1)
        with pytest.raises(TransportError) as err:
            t.send("a@example.com", "b@example.org", MESSAGE)
        assert err.value.kind is FailureKind.AMBIGUOUS
