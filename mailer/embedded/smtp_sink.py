"""A built-in SMTP sink (aiosmtpd) that stores every accepted message as an
`.eml` file. `mailer demo` uses it instead of a real relay; tests use it with
a `FaultPlan`, the one seam where failures are injected.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from mailer.embedded.redis_server import free_port

#: A fault decision: None (behave), an SMTP reply line such as "451 4.7.1 later",
#: "drop" (close the connection without a reply), ("sleep", seconds) before
#: answering, or at DATA ("accept-then-sleep", seconds): store the message,
#: then wait before the 250 reply (the ambiguous window a client cannot see).
Fault = str | tuple[str, float] | None


@dataclass
class FaultPlan:
    """Decides, per stage ("RCPT" or "DATA") and recipient, what goes wrong.

    `decide(stage, recipient, attempt)` gets the 1-based number of times that
    recipient reached this stage.
    """

    decide: Callable[[str, str, int], Fault]
    _seen: dict[tuple[str, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_fault(self, stage: str, recipient: str) -> Fault:
        with self._lock:
            n = self._seen.get((stage, recipient), 0) + 1
            self._seen[(stage, recipient)] = n
        return self.decide(stage, recipient, n)


@dataclass(frozen=True)
class Accepted:
    mail_from: str
    recipients: tuple[str, ...]
    data: bytes
    path: Path | None


class SinkHandler:
    def __init__(
        self, outbox: Path | None, faults: FaultPlan | None = None, *, pipelining: bool = True
    ) -> None:
        self.outbox = outbox
        self.faults = faults
        self.pipelining = pipelining
        self.accepted: list[Accepted] = []
        self._lock = threading.Lock()
        if outbox:
            outbox.mkdir(parents=True, exist_ok=True)

    async def _apply(self, server: SMTPServer, fault: Fault) -> str | None:
        if fault is None:
            return None
        if isinstance(fault, tuple):
            await asyncio.sleep(fault[1])
            return None
        if fault == "drop":
            transport = server.transport
            if transport is not None:
                transport.abort()  # type: ignore[attr-defined]
            return "421 4.4.2 connection dropped by fault plan"
        return fault

    async def handle_EHLO(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Offer PIPELINING (RFC 2920), as Postfix and every large relay do.

        aiosmtpd reads commands one by one from its stream, so pipelined
        commands work; it only does not say so by itself.
        """
        session.host_name = hostname  # the hook must set it (aiosmtpd docs)
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.faults:
            reply = await self._apply(server, self.faults.next_fault("RCPT", address))
            if reply:
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        delay_after_accept = 0.0
        if self.faults:
            for rcpt in envelope.rcpt_tos:
                fault = self.faults.next_fault("DATA", rcpt)
                if isinstance(fault, tuple) and fault[0] == "accept-then-sleep":
                    delay_after_accept = fault[1]
                    continue
                reply = await self._apply(server, fault)
                if reply:
                    return reply
        self._store(envelope)
        if delay_after_accept:
            await asyncio.sleep(delay_after_accept)
        return "250 2.0.0 OK: queued"

    def _store(self, envelope: Envelope) -> None:
        data = envelope.original_content or b""
        path = None
        if self.outbox:
            name = f"{uuid.uuid4().hex}.eml"
            tmp = self.outbox / f".{name}.tmp"
            tmp.write_bytes(data)
            path = self.outbox / name
            tmp.replace(path)  # atomic: a reader never sees half a message
        with self._lock:
            self.accepted.append(
                Accepted(str(envelope.mail_from), tuple(envelope.rcpt_tos), data, path)
            )


class SmtpSink:
    """An SMTP server on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        outbox: Path | None = None,
        *,
        port: int | None = None,
        faults: FaultPlan | None = None,
        pipelining: bool = True,
        **server_kwargs: Any,
    ) -> None:
        self.handler = SinkHandler(outbox, faults, pipelining=pipelining)
        self.port = port or free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            decode_data=False,
            **server_kwargs,
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def accepted(self) -> list[Accepted]:
        return self.handler.accepted

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
