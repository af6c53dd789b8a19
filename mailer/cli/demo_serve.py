"""`mailer demo --serve`: after the demo, the web admin on the demo's data.

The demo keeps its data in var/demo/mailer.db (unless MAILER_DATABASE_URL is
set), which plain `mailer web` does not read. `--serve` runs the web app on
that database, on loopback only, with a staff account whose password is made
for this run and printed once.
"""

from __future__ import annotations

import socket
import sys

from mailer.cli.common import console, fail
from mailer.i18n import _
from mailer.settings import Settings

LOOPBACK = "127.0.0.1"


def demo_serve_settings(settings: Settings, port: int) -> Settings:
    """Return the settings the demo runs with when it will be served: links in
    the demo's mail point at the served site. Exits at once (before the demo
    runs) when the port cannot be used."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((LOOPBACK, port))
    except OSError as exc:
        fail(_("--port {port}: {host}:{port} で待ち受けできません（{reason}）。"
               "別のポートを --port で指定してください").format(
            port=port, host=LOOPBACK, reason=exc.strerror or exc))
    return settings.model_copy(update={"base_url": f"http://{LOOPBACK}:{port}"})


def serve_demo(settings: Settings, database_url: str, port: int) -> None:
    """Create (or reset) the demo staff account, print how to log in, then
    serve the web app on the demo's database until Ctrl-C."""
    import uvicorn

    from mailer.cli.ops import setup_logging
    from mailer.demo import DEMO_STAFF_EMAIL, demo_staff_password
    from mailer.web.app import create_app

    password = demo_staff_password(database_url)
    web_settings = settings.model_copy(update={"database_url": database_url})
    url = f"http://{LOOPBACK}:{port}/admin"
    console.print(_("管理画面: {url}").format(url=url), highlight=False, soft_wrap=True)
    console.print(_("ログイン: {email}").format(email=DEMO_STAFF_EMAIL), highlight=False)
    console.print(_("パスワード（この起動用、次の起動で変わります）: {password}").format(
        password=password), highlight=False, markup=False)
    console.print(_("データ: {url}  （Ctrl-C で終了）").format(url=database_url),
                  highlight=False, soft_wrap=True)
    sys.stdout.flush()
    setup_logging(web_settings)
    uvicorn.run(create_app(web_settings), host=LOOPBACK, port=port, log_config=None)
