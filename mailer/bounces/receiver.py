"""The inbound SMTP receiver for the bounce domain (aiosmtpd).

It accepts mail only for `bounces+…@domain` and `unsubscribe+…@domain`
(550 for anything else, so it is never an open relay or a catch-all), and
classifies and records each message before answering DATA. A database error
is answered 451: the sending MTA keeps the report and tries again, so no
bounce is lost while the database is away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import Engine

from mailer.bounces.inbound import InboundConfig, accepts_recipient, process_inbound
from mailer.models import InboundMessage

log = logging.getLogger(__name__)

#: reports carry at most the original message; 10 MB leaves room for large ones
DATA_SIZE_LIMIT = 10 * 1024 * 1024


class BounceHandler:
    """aiosmtpd handler: RCPT filtering, then classify + record at DATA."""

    def __init__(
        self, *, engine: Engine, config: InboundConfig,
        on_message: Callable[[InboundMessage], None] | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.on_message = on_message

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        if not accepts_recipient(address, domain=self.config.domain):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mail_from = str(envelope.mail_from or "")
        loop = asyncio.get_running_loop()
        try:
            # The database work runs in a thread so one slow commit does not
            # stall every other connection on the event loop.
            rows = await loop.run_in_executor(
                None, self._process, raw, mail_from, list(envelope.rcpt_tos)
            )
        except Exception:
            log.exception("inbound message from %r not recorded", mail_from)
            return "451 4.3.0 temporary failure recording the message; try again later"
        if self.on_message:
            for row in rows:
                self.on_message(row)
        return "250 2.0.0 OK: recorded"

    def _process(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> list[InboundMessage]:
        return [
            process_inbound(engine=self.engine, config=self.config, raw=raw,
                            mail_from=mail_from, rcpt_to=rcpt)
            for rcpt in rcpt_tos
        ]


class BounceReceiver:
    """The receiver on `host:port` in a background thread (start/stop, or `with`)."""

    def __init__(
        self, *, engine: Engine, config: InboundConfig, host: str = "127.0.0.1",
        port: int = 2526, on_message: Callable[[InboundMessage], None] | None = None,
        **server_kwargs: Any,
    ) -> None:
        self.handler = BounceHandler(engine=engine, config=config, on_message=on_message)
        self.host = host
        self.port = port
        server_kwargs.setdefault("data_size_limit", DATA_SIZE_LIMIT)
        self.controller = Controller(
            self.handler, hostname=host, port=port, decode_data=False,
            server_hostname=config.domain, **server_kwargs,
        )

    def start(self) -> BounceReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> BounceReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
