"""`mailer demo --serve`: the demo's whole stack, and the web admin on its data.

The demo keeps its data in var/demo/mailer.db (unless MAILER_DATABASE_URL is
set), which plain `mailer web` does not read. `--serve` keeps the demo's
private Redis, SMTP sink, worker and beat running and serves the web app on
that database, on loopback only, with a staff account whose password is made
for this run and printed once: what a newcomer schedules or sends now in the
admin is delivered into the sink's folder. Ctrl-C stops the web app, then
the stack (`mailer.demo.demo_stack`).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING

from mailer.cli.common import console, fail
from mailer.i18n import _
from mailer.settings import Settings

if TYPE_CHECKING:
    from mailer.demo import DemoStack

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


def _watch(stack: DemoStack, every: float = 2.0) -> None:
    """Say so once when the worker or beat stops while the admin still runs
    (a send would then wait for ever without a word)."""
    told: set[str] = set()
    while not stack.closing:
        time.sleep(every)
        for name in stack.stopped():
            if name not in told and not stack.closing:
                told.add(name)
                console.print(
                    _("注意: {name} が止まりました（ログ: {folder}/{name}.log）。"
                      "配信は進みません。Ctrl-C で止めて、もう一度 mailer demo --serve を"
                      "起動してください").format(name=name, folder=stack.directory),
                    highlight=False, soft_wrap=True, markup=False)


def serve_demo(stack: DemoStack, port: int) -> None:
    """Create (or reset) the demo staff account, print how to log in and where
    mail lands, then serve the web app beside `stack` until Ctrl-C."""
    import uvicorn

    from mailer.cli.ops import setup_logging
    from mailer.demo import DEMO_STAFF_EMAIL, demo_staff_password
    from mailer.web.app import create_app

    password = demo_staff_password(stack.database_url)
    web_settings = stack.settings_for_web()
    url = f"http://{LOOPBACK}:{port}/admin"
    say = console.print
    say("")
    say("[bold]" + _("デモを起動しました。") + "[/]" + _("ブラウザで管理画面を開いてください。"),
        highlight=False)
    say(_("管理画面: {url}").format(url=url), highlight=False, soft_wrap=True)
    say(_("ログイン: {email}").format(email=DEMO_STAFF_EMAIL), highlight=False)
    say(_("パスワード（この起動用、次の起動で変わります）: {password}").format(password=password),
        highlight=False, markup=False)
    say(_("送ったメールの行き先: {folder}/ （宛先ごとに 1 通ずつ .eml ファイル。"
          "外へは送りません）").format(folder=stack.outbox),
        highlight=False, soft_wrap=True, markup=False)
    say(_("データ: {url}").format(url=stack.database_url), highlight=False, soft_wrap=True,
        markup=False)
    say(_("ログ: {folder}/worker.log, beat.log").format(folder=stack.directory),
        highlight=False, soft_wrap=True, markup=False)
    say(_("止めるには: Ctrl-C（Web 画面、ワーカー、beat、Redis、SMTP シンクをすべて止めます。"
          "データは残り、次の mailer demo --serve で続きから使えます）"), highlight=False)
    sys.stdout.flush()
    setup_logging(web_settings)
    threading.Thread(target=_watch, args=(stack,), name="demo-watch", daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
        uvicorn.run(create_app(web_settings, demo_outbox=stack.outbox), host=LOOPBACK,
                    port=port, log_config=None)
    console.print(_("停止しています …（ワーカーの仕事が終わるまで数秒かかることがあります）"),
                  highlight=False)
