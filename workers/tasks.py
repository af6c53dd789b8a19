"""Thin Celery tasks: take ids, call a service, nothing else."""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError as KombuOperationalError

from mailer.delivery.batch_task import active_ttl, run_batch
from mailer.delivery.dispatch import dispatch as dispatch_tick
from mailer.delivery.engine import is_outage
from mailer.delivery.outage_notice import DATABASE, REDIS, notice_for
from mailer.i18n import _
from mailer.logging_setup import log_context
from mailer.runtime import Runtime
from workers.app import DELIVER_TASK, DISPATCH_TASK, app, settings

log = logging.getLogger(__name__)
_runtime: Runtime | None = None

#: seconds one batch task may run before handing over to a fresh task
TIME_BUDGET = 20.0


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(settings)
    return _runtime


def reset_runtime() -> None:
    global _runtime
    if _runtime is not None:
        _runtime.dispose()
    _runtime = None


@app.task(name=DISPATCH_TASK, ignore_result=True)
def dispatch() -> None:
    rt = runtime()
    try:
        report = dispatch_tick(
            rt.engine,
            rt.coordinator,
            lambda send_id: deliver.delay(send_id),
            parallelism=settings.parallelism,
            interval=settings.dispatch_interval,
            preflight=rt.preflight,
            journal=rt.journal,
            require_approval=settings.require_approval,
            metrics=rt.metrics,
            active_ttl=active_ttl(settings.lease_seconds, TIME_BUDGET),
        )
    except Exception as exc:
        # a database restarting, a full disk, Redis down: the next tick retries
        if not (is_outage(exc) or isinstance(exc, KombuOperationalError)):
            raise
        # the process's one line per outage, shared with its batches
        notice_for(exc).failed(exc, engine=rt.engine)
        return
    DATABASE.ok()
    REDIS.ok()
    if report.started or report.finished or report.released_leases:
        log.info(
            _("配信の刻み: 開始 {started}、完了 {finished}、引き取り {released} 件、"
              "バッチを積んだ配信 {enqueued}").format(
                started=report.started,
                finished=report.finished,
                released=report.released_leases,
                enqueued=report.enqueued,
            )
        )


@app.task(name=DELIVER_TASK, ignore_result=True, acks_late=True)
def deliver(send_id: int) -> None:
    rt = runtime()
    hostname = deliver.request.hostname or ""
    with log_context(send_id=send_id):
        run_batch(
            rt.coordinator,
            rt.delivery_context,
            send_id,
            requeue=deliver.delay,
            time_budget=TIME_BUDGET,
            lease_seconds=settings.lease_seconds,
            should_stop=lambda: bool(hostname) and rt.coordinator.is_stopping(hostname),
        )
