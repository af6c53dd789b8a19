"""`mailer web`: run the public web app (archive, images, unsubscribe, preferences)."""

from __future__ import annotations

import typer

from mailer.cli.common import settings_or_exit


def web(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
) -> None:
    """Serve the web app with uvicorn (put a TLS-terminating proxy in front)."""
    import uvicorn

    from mailer.web.app import create_app

    settings = settings_or_exit()
    uvicorn.run(create_app(settings), host=host, port=port, proxy_headers=True)
