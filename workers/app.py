"""The Celery application, configured from mailer's Settings.

Run with `mailer worker` / `mailer beat` (or `celery -A workers.app …`).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import (
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)

from mailer.delivery.dispatch import Coordinator
from mailer.delivery.liveness import WorkerRegistry, start_heartbeat
from mailer.delivery.outage_notice import REDIS, OutageNotice, describe, redis_place
from mailer.i18n import N_, _
from mailer.logging_setup import install_celery_logging, quiet_task_logs
from mailer.settings import Settings, load_settings

log = logging.getLogger(__name__)

_broker_outage = OutageNotice(
    log,
    N_("beat: ブローカーの Redis"),
    N_("配信の刻みを送れません。Redis が戻れば続けます。"
       "Redis が動いているか、MAILER_REDIS_URL が正しいか確かめてください"),
    redis_place,
)

DISPATCH_TASK = "mailer.dispatch"
DELIVER_TASK = "mailer.deliver_send"


class DataDirScheduler(PersistentScheduler):  # type: ignore[misc]
    """Celery's file-backed beat scheduler, creating its folder when missing.

    The file lives in the data folder (MAILER_VAR_DIR), never the current
    folder, and a fresh machine has no such folder yet: beat started in an
    empty folder must not fail on it.
    """

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        """Queue a due task; while the broker is down, say so once.

        Celery's own apply_entry logs an ERROR with a traceback and a stack
        dump on every tick (every second) while Redis is down.
        """
        log.debug("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except Exception as exc:
            _broker_outage.failed(exc)
        else:
            _broker_outage.ok()


class BrokerLines(logging.Filter):
    """Celery's consumer logs an ERROR ("Cannot connect to redis://…") every
    couple of seconds while the broker is down, and a WARNING when it loses
    it: both become the process's one Redis line (`outage_notice.REDIS`), and
    "Connected to" (the broker back) its INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "Cannot connect to" in text or "Connection to broker lost" in text:
            args = record.args if isinstance(record.args, tuple) else ()
            exc = next((a for a in args if isinstance(a, BaseException)), None)
            REDIS.failed(exc or ConnectionError(text.splitlines()[0]))
            return False
        if text.startswith("Connected to"):
            REDIS.ok()
        return True


def quiet_broker_errors() -> None:
    """Install BrokerLines on Celery's consumer loggers."""
    for name in ("celery.worker.consumer.consumer", "celery.worker.consumer.connection"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, BrokerLines) for f in logger.filters):
            logger.addFilter(BrokerLines())


def beat_schedule_path(settings: Settings) -> Path:
    """Where beat keeps its schedule state: the data folder, as an absolute path."""
    return (settings.var_dir / "celerybeat-schedule").absolute()


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return the Celery configuration derived from Settings."""
    beat_schedule_file = str(beat_schedule_path(settings))
    return {
        "broker_url": settings.redis_url,
        "result_backend": None,
        "task_ignore_result": True,
        # At-least-once task delivery; the ledger makes sending exactly-once.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # No task waits anywhere near this long (no ETAs; batches end within
        # their time budget), so the broker never re-delivers a live task.
        "broker_transport_options": {"visibility_timeout": 3600},
        "broker_connection_retry_on_startup": True,
        # Said explicitly (Celery 6.0 changes the default): a batch carries on
        # when the broker goes, and hands back its rows itself; it is not
        # cancelled. Celery 5 warns of the coming change on every connection
        # loss all the same: see the filter below.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "Asia/Tokyo",
        "enable_utc": True,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "beat_schedule_filename": beat_schedule_file,
        "beat_scheduler": f"{__name__}:DataDirScheduler",
        "beat_schedule": {
            "dispatch": {
                "task": DISPATCH_TASK,
                "schedule": settings.dispatch_interval,
                "options": {"expires": max(5.0, settings.dispatch_interval * 5)},
            }
        },
    }


def make_celery(settings: Settings) -> Celery:
    app = Celery("mailer", include=["workers.tasks"])
    app.conf.update(celery_config(settings))
    return app


settings = load_settings()
app = make_celery(settings)
install_celery_logging(app, fmt=settings.log_format)
# The tick runs every second: Celery's received/succeeded/sending lines for it
# go to DEBUG (a quiet system logs nothing at INFO); batch tasks keep theirs.
quiet_task_logs([DISPATCH_TASK])
quiet_broker_errors()


def ignore_cancel_notice() -> None:
    """Celery's notice of a future default, repeated on every connection loss
    (the setting is given in celery_config; the operator's line for the outage
    is REDIS's). Installed once the worker is up: Celery's logging setup puts
    an "always" filter for its deprecation warnings in front of any earlier."""
    warnings.filterwarnings("ignore", message=r"\s*In Celery 5.1 we introduced an optional")


def _coordinator() -> Coordinator | None:
    if not settings.redis_url:
        return None
    return Coordinator(redis.Redis.from_url(settings.redis_url, socket_timeout=5))


_heartbeat_stop: Any = None


def _registry() -> WorkerRegistry | None:
    if not settings.redis_url:
        return None
    return WorkerRegistry(redis.Redis.from_url(settings.redis_url, socket_timeout=5))


@worker_ready.connect
def _on_ready(sender: Any = None, **_kwargs: Any) -> None:
    global _heartbeat_stop
    ignore_cancel_notice()
    coordinator = _coordinator()
    if coordinator is not None and sender is not None:
        try:
            coordinator.clear_stopping(sender.hostname)
        except redis.RedisError as exc:
            log.warning(_("Redis（{where}）が応答しないため、停止の印を消せませんでした（{reason}）").format(
                where=redis_place(), reason=describe(exc)))
    registry = _registry()
    if registry is not None and sender is not None:
        hostname = str(sender.hostname)
        # `mailer doctor` reads these notes to tell live workers from dead ones.
        _heartbeat_stop = start_heartbeat(
            lambda: registry.note_alive(hostname),
            on_error=REDIS.failed)  # the process's one Redis line


@worker_shutdown.connect
def _on_worker_shutdown(sender: Any = None, **_kwargs: Any) -> None:
    # A clean stop: the worker is gone, not dead (doctor reports only the latter).
    if _heartbeat_stop is not None:
        _heartbeat_stop.set()
    registry = _registry()
    if registry is not None and sender is not None:
        try:
            registry.forget(str(getattr(sender, "hostname", sender)))
        except redis.RedisError as exc:
            log.warning(_("Redis（{where}）が応答しないため、ワーカーを一覧から外せませんでした（{reason}）。"
                          "一覧の記録は期限が来ると消えます").format(
                where=redis_place(), reason=describe(exc)))


@worker_shutting_down.connect
def _on_shutting_down(sender: Any = None, **_kwargs: Any) -> None:
    # Runs in the main process on SIGTERM (warm shutdown): running batches
    # check this flag every few messages, record what they sent and release
    # the rest, so a rolling restart leaves no row in `sending`.
    coordinator = _coordinator()
    if coordinator is not None and sender:
        try:
            coordinator.mark_stopping(str(sender))
        except redis.RedisError as exc:
            # Redis is gone, so is the broker: no batch can be told, and the
            # ledger's leases bring their rows back. One line, no traceback.
            log.warning(_("Redis（{where}）が応答しないため、実行中のバッチに停止を伝えられませんでした"
                          "（{reason}）。バッチはリースが切れると宛先を戻します").format(
                where=redis_place(), reason=describe(exc)))


@worker_process_init.connect
def _after_fork(**_kwargs: Any) -> None:
    # Each child opens its own database connections and Redis client.
    from workers import tasks

    tasks.reset_runtime()


@worker_process_shutdown.connect
def _on_shutdown(**_kwargs: Any) -> None:
    from workers import tasks

    tasks.reset_runtime()
