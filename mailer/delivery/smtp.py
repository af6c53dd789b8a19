"""The SMTP transport and the one place SMTP outcomes are classified.

Every way a delivery attempt can end is mapped by `classify` to a `Failure`
kind; the engine acts on the kind, never on raw codes.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from mailer.delivery.relay import RelayConfig


class FailureKind(StrEnum):
    RELAY = "relay"  # 421, connection refused/lost, timeouts: back off the relay, retry row
    DEFER = "defer"  # 450/451/452 and other 4xx: retry this row later
    PERMANENT = "permanent"  # 5xx: fail the row, record a bounce
    AMBIGUOUS = "ambiguous"  # lost after the data was sent, before the reply


@dataclass(frozen=True)
class TransportError(Exception):
    """A delivery attempt did not end in acceptance."""

    kind: FailureKind
    message: str
    code: int | None = None

    @property
    def permanent(self) -> bool:
        return self.kind is FailureKind.PERMANENT

    def __str__(self) -> str:
        return f"{self.code} {self.message}" if self.code else self.message


def classify(code: int | None, text: str, *, after_data: bool = False) -> TransportError:
    """Return the TransportError for an SMTP reply code (None: no reply at all).

    `after_data` says the whole message had been handed to the server when the
    connection failed: that is the ambiguous case (see docs/delivery.md).
    """
    text = " ".join(text.split())[:300]
    if code is None:
        if after_data:
            return TransportError(FailureKind.AMBIGUOUS, f"no reply after data: {text}")
        return TransportError(FailureKind.RELAY, text or "connection failed")
    if code == 421:
        return TransportError(FailureKind.RELAY, text, code)
    if 400 <= code < 500:
        return TransportError(FailureKind.DEFER, text, code)
    if 500 <= code < 600:
        return TransportError(FailureKind.PERMANENT, text, code)
    return TransportError(FailureKind.DEFER, f"unexpected reply: {text}", code)


class Transport(Protocol):
    """What the engine needs from a mail relay connection."""

    name: str

    def send(self, envelope_from: str, recipient: str, data: bytes) -> None:
        """Hand over one message; return on acceptance, raise TransportError otherwise."""

    def close(self) -> None: ...


def _reply_text(resp: bytes | str) -> str:
    return resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)


class SmtpTransport:
    """One reused SMTP connection to one relay, opened on first use.

    Uses smtplib's step-by-step commands (MAIL, RCPT, DATA) rather than
    `sendmail` so that each stage's reply is classified and we know whether a
    lost connection happened before or after the message data went out.
    """

    def __init__(
        self,
        relay: RelayConfig,
        *,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        ca_file: str | None = None,
    ):
        self.relay = relay
        self.name = relay.name
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.ca_file = ca_file
        self._conn: smtplib.SMTP | None = None

    def _tls(self) -> ssl.SSLContext:
        # Certificates are always verified; a private CA can be named instead.
        return ssl.create_default_context(cafile=self.ca_file)

    def _connect(self) -> smtplib.SMTP:
        r = self.relay
        try:
            conn: smtplib.SMTP
            if r.implicit_tls:
                conn = smtplib.SMTP_SSL(
                    r.host,
                    r.port,
                    timeout=self.timeout,
                    local_hostname=self.local_hostname,
                    context=self._tls(),
                )
            else:
                conn = smtplib.SMTP(
                    r.host, r.port, timeout=self.timeout, local_hostname=self.local_hostname
                )
            conn.ehlo()
            if r.starttls:
                conn.starttls(context=self._tls())
                conn.ehlo()
            if r.username:
                conn.login(r.username, r.password or "")
        # Whatever goes wrong before a transaction starts is the relay's
        # problem (greeting, TLS, AUTH), never the recipient's: back off the relay.
        except smtplib.SMTPAuthenticationError as exc:
            raise classify(None, f"{r.name}: authentication failed ({exc.smtp_code})") from exc
        except smtplib.SMTPResponseException as exc:
            raise classify(
                None, f"{r.name}: {exc.smtp_code} {_reply_text(exc.smtp_error)}"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise classify(None, f"{r.name}: {type(exc).__name__}: {exc}") from exc
        return conn

    def send(self, envelope_from: str, recipient: str, data: bytes) -> None:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        stage = "MAIL"
        try:
            code, resp = conn.mail(envelope_from)
            if code != 250:
                self._after_error(code)
                raise classify(code, _reply_text(resp))
            stage = "RCPT"
            code, resp = conn.rcpt(recipient)
            if code not in (250, 251):
                self._after_error(code)
                raise classify(code, _reply_text(resp))
            stage = "DATA"
            code, resp = conn.data(data)
            if code != 250:
                self._after_error(code)
                raise classify(code, _reply_text(resp))
        except TransportError:
            raise
        except smtplib.SMTPDataError as exc:
            self._after_error(exc.smtp_code)
            raise classify(exc.smtp_code, _reply_text(exc.smtp_error)) from exc
        except smtplib.SMTPResponseException as exc:
            self._after_error(exc.smtp_code)
            raise classify(exc.smtp_code, _reply_text(exc.smtp_error)) from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise classify(
                None, f"{stage}: {type(exc).__name__}: {exc}", after_data=stage == "DATA"
            ) from exc

    def _after_error(self, code: int | None) -> None:
        """Keep the connection usable after a rejected transaction."""
        if code == 421:
            self._drop()
            return
        try:
            if self._conn is not None:
                self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._conn.quit()
            self._drop()
