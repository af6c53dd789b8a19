"""The SMTP transport and the one place SMTP outcomes are classified.

Every way a delivery attempt can end is mapped by `classify` to a `Failure`
kind; the engine acts on the kind, never on raw codes.
"""

from __future__ import annotations

import contextlib
import re
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


def _needs_dot_stuffing(data: bytes) -> bool:
    """True when a line of `data` starts with "." (RFC 5321 4.5.2).

    smtplib stuffs every message with a multi-line regex, which costs about
    as much as the rest of the SMTP transaction for a 50 KB message (244 µs
    measured, docs/performance.md). Base64 bodies hold no "." at all, so
    walking the few dots of the headers with `bytes.find` (memchr) answers in
    a few µs; a body with many dots (ISO-2022-JP text) falls back to one
    substring search.
    """
    if data.startswith(b"."):
        return True
    i = data.find(b".")
    for _ in range(64):
        if i == -1:
            return False
        if data[i - 1] == 0x0A:
            return True
        i = data.find(b".", i + 1)
    return b"\n." in data


def wire_data(data: bytes) -> bytes:
    """The DATA payload for CRLF message bytes: dot-stuffed, ending in CRLF.CRLF."""
    if _needs_dot_stuffing(data):
        data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _smtp_address(address: str) -> bytes:
    """An envelope address as it goes in MAIL FROM / RCPT TO (ASCII, one line)."""
    if not address.isascii() or any(c in address for c in "\r\n<>"):
        raise TransportError(
            FailureKind.PERMANENT, f"address {address!r} cannot be sent (not plain ASCII)"
        )
    return address.encode("ascii")


class SmtpTransport:
    """One reused SMTP connection to one relay, opened on first use.

    smtplib opens the connection (greeting, EHLO, STARTTLS, AUTH) and parses
    replies; the transaction itself is written here. When the relay offers
    PIPELINING (RFC 2920) MAIL, RCPT and DATA go out in one write and their
    replies are read together: two round trips per message instead of four,
    which smtplib cannot do. Without PIPELINING the commands go one by one.
    Each stage's reply is classified, and we know whether a lost connection
    happened before or after the message data went out.
    """

    def __init__(
        self,
        relay: RelayConfig,
        *,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        ca_file: str | None = None,
        pipelining: bool = True,
    ):
        self.relay = relay
        self.name = relay.name
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.ca_file = ca_file
        self._conn: smtplib.SMTP | None = None
        self.pipelining = pipelining
        self._pipelined = False  # the open connection's relay offers PIPELINING

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
            self._pipelined = self.pipelining and conn.has_extn("pipelining")
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
        mail = b"MAIL FROM:<" + _smtp_address(envelope_from) + b">\r\n"
        rcpt = b"RCPT TO:<" + _smtp_address(recipient) + b">\r\n"
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        stage = "MAIL"
        try:
            if self._pipelined:
                conn.send(mail + rcpt + b"DATA\r\n")
                self._check_replies(conn)
            else:
                for command, ok in ((mail, (250,)), (rcpt, (250, 251)), (b"DATA\r\n", (354,))):
                    stage = command[:4].decode()
                    conn.send(command)
                    self._expect(conn, ok)
            stage = "END"
            conn.send(wire_data(data))
            self._expect(conn, (250,))
        except TransportError:
            raise
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise classify(
                None, f"{stage}: {type(exc).__name__}: {exc}", after_data=stage == "END"
            ) from exc

    def _expect(self, conn: smtplib.SMTP, ok: tuple[int, ...]) -> None:
        code, resp = conn.getreply()
        if code not in ok:
            self._after_error(code)
            raise classify(code, _reply_text(resp))

    def _check_replies(self, conn: smtplib.SMTP) -> None:
        """Read the replies to a pipelined MAIL, RCPT, DATA; raise for the first
        refusal after reading all three, so the connection stays in step."""
        failure: tuple[int, str] | None = None
        for ok in ((250,), (250, 251), (354,)):
            try:
                code, resp = conn.getreply()
            except (OSError, smtplib.SMTPException):
                if failure is None:
                    raise
                self._drop()  # e.g. 421 then closed: the first refusal is the news
                raise classify(*failure) from None
            if failure is None and code not in ok:
                failure = (code, _reply_text(resp))
            elif failure is not None and code == 354:
                # DATA accepted although MAIL or RCPT failed (RFC 2920 says it
                # must not be): end the empty message; the server refuses it.
                conn.send(b".\r\n")
                conn.getreply()
        if failure is not None:
            self._after_error(failure[0])
            raise classify(*failure)

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
