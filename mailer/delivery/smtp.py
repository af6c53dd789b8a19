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


#: What a transport knows of one message: its tag and None (accepted) or why not.
Result = tuple[int, "TransportError | None"]


class Transport(Protocol):
    """What the engine needs from a mail relay connection.

    `submit` may return before a message's outcome is known (it is then among
    the results of a later `submit` or of `drain`); every submitted tag comes
    back exactly once.
    """

    name: str

    def submit(self, tag: int, envelope_from: str, recipient: str, data: bytes) -> list[Result]:
        """Hand over one message; return the outcomes known now."""

    def drain(self) -> list[Result]:
        """Wait for the outcomes of every message handed over."""

    def abandon(self) -> None:
        """Forget every message handed over whose outcome is not known, without
        sending the rest of it (its transaction is given up, not completed)."""

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
    PIPELINING (RFC 2920) a message costs one round trip and one write: the
    previous message's data (with its final ".") and this message's MAIL,
    RCPT and DATA leave together, and the four replies are read together
    (RFC 2920 lets message content open a group). On loopback and in VMs a
    write costs as much CPU as rendering a message, so this halves the
    transport's cost (docs/performance.md). So `submit` hands a message over
    and returns the outcomes known so far (the previous message's, and this
    one's if it was refused before its data), and `drain` sends what is held
    and reads the last reply. smtplib can do neither. A message's data waits
    at most until the next message is handed over or the batch drains.
    Without PIPELINING the commands go one by one and every outcome is known
    when `submit` returns.

    Each stage's reply is classified, and a lost connection is blamed
    precisely: only a message whose data was out when it broke is ambiguous;
    one whose commands merely shared the lost connection is handed over again
    on a new one.
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
        self._awaiting: int | None = None  # tag of the message after 354, reply unread
        self._held = b""  # its data (dot-stuffed, with the final "."), not yet written

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
        """Hand over one message and wait for it: return on acceptance, raise
        TransportError otherwise (test sends; the engine streams with `submit`)."""
        for _, error in self.submit(0, envelope_from, recipient, data) + self.drain():
            if error is not None:
                raise error

    def submit(self, tag: int, envelope_from: str, recipient: str, data: bytes) -> list[Result]:
        try:
            envelope = (
                b"MAIL FROM:<" + _smtp_address(envelope_from) + b">\r\n"
                b"RCPT TO:<" + _smtp_address(recipient) + b">\r\nDATA\r\n"
            )
        except TransportError as exc:
            return [(tag, exc)]
        if self._awaiting is not None:
            return self._with_previous(tag, envelope, (envelope_from, recipient, data))
        if self._conn is None:
            try:
                self._conn = self._connect()
            except TransportError as exc:
                return [(tag, exc)]
        if not self._pipelined:
            error = self._one_by_one(envelope, data)
            return [(tag, error)]
        try:
            self._conn.send(envelope)
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            return [(tag, classify(None, f"MAIL: {type(exc).__name__}: {exc}"))]
        return self._after_envelope(tag, data)

    def _with_previous(
        self, tag: int, envelope: bytes, message: tuple[str, str, bytes]
    ) -> list[Result]:
        """Send this message's commands, then read the previous message's
        end-of-data reply and this message's three replies (one round trip)."""
        previous, self._awaiting = self._awaiting, None
        held, self._held = self._held, b""
        assert previous is not None and self._conn is not None
        try:
            self._conn.send(held + envelope)
            written = True
        except (OSError, smtplib.SMTPException):
            written = False  # the data may have gone; a reply may be there to read
        error = self._end_of_data_reply()
        done: list[Result] = [(previous, error)]
        if error is not None and error.kind is FailureKind.RELAY:  # 421: the relay is closing
            return [*done, (tag, classify(421, f"closed with the previous message: {error}"))]
        if not written or self._conn is None:
            # The connection was lost with the previous message (whose outcome
            # is then ambiguous); this one's commands went nowhere: start afresh.
            self._drop()
            return [*done, *self.submit(tag, *message)]
        return [*done, *self._after_envelope(tag, data=message[2])]

    def _after_envelope(self, tag: int, data: bytes) -> list[Result]:
        """Read the replies to a pipelined MAIL, RCPT, DATA and hold the data
        for the next write (the next `submit` or `drain`)."""
        assert self._conn is not None
        try:
            self._check_replies(self._conn)
        except TransportError as exc:
            return [(tag, exc)]
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            return [(tag, classify(None, f"MAIL: {type(exc).__name__}: {exc}"))]
        self._held = wire_data(data)
        self._awaiting = tag
        return []

    def _end_of_data_reply(self) -> TransportError | None:
        """The reply to a message's data (the transaction ends either way)."""
        assert self._conn is not None
        try:
            code, resp = self._conn.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            return classify(None, f"END: {type(exc).__name__}: {exc}", after_data=True)
        if code == 250:
            return None
        if code == 421:
            self._drop()
        return classify(code, _reply_text(resp))

    def drain(self) -> list[Result]:
        if self._awaiting is None:
            return []
        tag, self._awaiting = self._awaiting, None
        held, self._held = self._held, b""
        assert self._conn is not None
        # If the write fails, whether the data arrived is for the reply to tell.
        with contextlib.suppress(OSError, smtplib.SMTPException):
            self._conn.send(held)
        return [(tag, self._end_of_data_reply())]

    def _one_by_one(self, envelope: bytes, data: bytes) -> TransportError | None:
        """The transaction without PIPELINING: each command waits for its reply."""
        assert self._conn is not None
        conn = self._conn
        stage = "MAIL"
        try:
            for command, ok in zip(
                envelope.split(b"\r\n")[:3], ((250,), (250, 251), (354,)), strict=True
            ):
                stage = command[:4].decode()
                conn.send(command + b"\r\n")
                self._expect(conn, ok)
            stage = "END"
            conn.send(wire_data(data))
            self._expect(conn, (250,))
        except TransportError as exc:
            return exc
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            return classify(
                None, f"{stage}: {type(exc).__name__}: {exc}", after_data=stage == "END"
            )
        return None

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

    def abandon(self) -> None:
        """Give up the message whose data is held (not one byte of it is out):
        the relay, waiting for data after its 354, gets none; closing the
        connection makes it discard the transaction (RFC 5321 4.1.1.4: only
        the final "." completes it; RSET cannot be said inside DATA)."""
        if self._awaiting is None:
            return
        self._awaiting, self._held = None, b""
        self._drop()

    def close(self) -> None:
        """Close the connection (a message still awaited is given up: no QUIT,
        which inside DATA would be read as message text and wait for a reply)."""
        self.abandon()
        if self._conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._conn.quit()
            self._drop()
