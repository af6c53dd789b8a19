"""`mailer worker-health`: is this host's Celery worker alive? (compose healthcheck)."""

from __future__ import annotations

import socket

import typer

from mailer.cli.common import fail, says, settings_or_exit
from mailer.i18n import _


@says(_("ブローカー経由でこのホストの Celery ワーカーに応答を求めます"
        "（`celery inspect ping -d celery@$HOSTNAME` と同じ）。\n\n"
        "応答があれば終了コード 0、なければ（ブローカーに届かないときも）1、"
        "設定が読めなければ 2 で終わります。"))
def worker_health(
    name: str = typer.Option(
        "",
        "--name",
        help=_("ワーカーのノード名。既定は `mailer worker` の使う celery@HOSTNAME"),
    ),
    timeout: float = typer.Option(5.0, min=0.1, help=_("応答を待つ秒数")),
) -> None:
    settings = settings_or_exit()
    if not settings.redis_url:
        fail(_("MAILER_REDIS_URL: `mailer worker-health` には必須です"), code=2)
    node = name or f"celery@{socket.gethostname()}"
    from workers.app import app as celery_app

    # A healthcheck must answer within its own timeout: fail fast when the
    # broker is down instead of retrying the connection for minutes.
    celery_app.conf.broker_connection_timeout = timeout
    celery_app.conf.broker_connection_max_retries = 0
    celery_app.conf.broker_transport_options = {
        **(celery_app.conf.broker_transport_options or {}),
        "max_retries": 0,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
    }
    try:
        replies = celery_app.control.ping(destination=[node], timeout=timeout)
    except Exception as exc:  # broker down, refused, auth: the worker is not reachable
        fail(_("{node}: ブローカーに届きません（{reason}）").format(
            node=node, reason=f"{type(exc).__name__}: {exc}"))
    if not any(node in reply for reply in replies or []):
        fail(_("{node}: {seconds} 秒以内に応答がありません").format(
            node=node, seconds=f"{timeout:g}"))
    typer.echo(_("{node}: 応答がありました").format(node=node))
