"""`mailer worker-health`: is this host's Celery worker alive? (compose healthcheck)."""

from __future__ import annotations

import socket

import typer

from mailer.cli.common import fail, settings_or_exit


def worker_health(
    name: str = typer.Option(
        "",
        "--name",
        help="the worker's node name; default celery@HOSTNAME, what `mailer worker` uses",
    ),
    timeout: float = typer.Option(5.0, min=0.1, help="seconds to wait for the reply"),
) -> None:
    """Ping the local Celery worker through the broker (like `celery inspect ping
    -d celery@$HOSTNAME`). Exits 0 if it answered, 1 if not (or if the broker
    cannot be reached), 2 if the configuration does not load."""
    settings = settings_or_exit()
    if not settings.redis_url:
        fail("MAILER_REDIS_URL: required for `mailer worker-health`", code=2)
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
        fail(f"{node}: cannot reach the broker ({type(exc).__name__}: {exc})")
    if not any(node in reply for reply in replies or []):
        fail(f"{node}: no reply within {timeout:g}s")
    typer.echo(f"{node}: ok")
