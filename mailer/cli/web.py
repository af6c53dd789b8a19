"""`mailer web`: run the public web app (archive, images, unsubscribe, preferences)."""

from __future__ import annotations

import typer

from mailer.cli.common import open_engine, refuse_weak_key, says, settings_or_exit
from mailer.i18n import _


@says(_("uvicorn でウェブアプリを動かします（前に TLS を終端するプロキシを置いてください）。"))
def web(
    host: str = typer.Option("127.0.0.1", help=_("待ち受けるアドレス")),
    port: int = typer.Option(8000, help=_("待ち受けるポート")),
) -> None:
    import uvicorn

    from mailer.cli.ops import setup_logging
    from mailer.web.app import create_app

    settings = settings_or_exit()
    refuse_weak_key(settings, listen_host=host)  # before anything listens
    open_engine(settings).dispose()  # refuse a database without the schema
    setup_logging(settings)
    # log_config=None keeps uvicorn's access log under our redacting handlers
    # (its paths carry unsubscribe tokens).
    # Proxy headers only from MAILER_TRUSTED_PROXIES: uvicorn's own default trusts
    # 127.0.0.1, so any local process could pose as any client (and dodge the
    # login lockout by address).
    trusted = settings.trusted_proxies.strip()
    uvicorn.run(create_app(settings), host=host, port=port, proxy_headers=bool(trusted),
                forwarded_allow_ips=trusted or None, log_config=None)
