"""One batch task from start to end, without Celery: the worker's `deliver`
task only wires this to its runtime and its queue.

A batch marks its send active (so the dispatcher queues no more batches),
notes that it is no longer waiting in the broker (Coordinator.note_queued),
delivers, then queues its successor (noted as queued) or clears the mark. When the database,
Redis or the broker fails under it, the batch hands back what it can (see
engine.deliver_send), clears the mark so that the dispatcher queues a new
batch as soon as the rows are due again, and ends with one WARNING line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mailer.delivery.dispatch import QUEUED_TTL, Coordinator
from mailer.delivery.engine import BatchReport, DeliveryContext, deliver_send, is_outage
from mailer.delivery.outage_notice import REDIS, notice_for
from mailer.i18n import _

log = logging.getLogger(__name__)

def active_ttl(lease_seconds: float, time_budget: float) -> float:
    """Seconds the send-active mark lives unless a batch refreshes it: one
    lease, so that after a worker dies the dispatcher queues a new batch about
    when its rows come back; never less than a batch's run (its time budget,
    plus its last messages)."""
    return max(float(lease_seconds), time_budget + 10.0)


def run_batch(
    coordinator: Coordinator,
    make_context: Callable[[], DeliveryContext],
    send_id: int,
    *,
    requeue: Callable[[int], object],
    time_budget: float,
    lease_seconds: float = 30.0,
    queued_ttl: float = QUEUED_TTL,
    should_stop: Callable[[], bool] | None = None,
) -> BatchReport | None:
    """Run one batch of `send_id`; queue the next with `requeue(send_id)` when
    more is due. Returns the report, or None if the batch could not start."""
    ttl = active_ttl(lease_seconds, time_budget)
    try:
        coordinator.refresh_workers_active(send_id, ttl_seconds=ttl)
        # after the mark is refreshed: the dispatcher sees one or the other
        coordinator.note_batch_started(send_id)
        ctx = make_context()
        if should_stop is not None:
            ctx.should_stop = should_stop
        report = deliver_send(ctx, send_id, time_budget=time_budget)
    except Exception as exc:
        if not is_outage(exc):
            raise
        notice_for(exc).failed(exc)
        log.info(_("配信 {send}: バッチを始められませんでした（{reason}）。"
                   "次の刻みでまた積みます").format(
            send=send_id, reason=f"{type(exc).__name__}: {_first_line(exc)}"))
        _clear_mark(coordinator, send_id)
        return None
    log.info(
        _("配信 {send}: バッチ終了（取得 {claimed}、送信 {sent}、延期 {deferred}、失敗 {failed}、"
          "結果不明 {unknown}、未送信に戻し {released}、終了の理由 {stopped}）").format(
            send=send_id, claimed=report.claimed, sent=report.sent, deferred=report.deferred,
            failed=report.failed, unknown=report.unknown, released=report.released,
            stopped=report.stopped or "-",
        )
    )
    if not report.more_due:
        _clear_mark(coordinator, send_id)
        return report
    try:
        coordinator.refresh_workers_active(send_id, ttl_seconds=ttl)
        coordinator.note_queued(send_id, ttl_seconds=queued_ttl)
        try:
            requeue(send_id)
        except BaseException:
            coordinator.note_batch_started(send_id)  # it was not queued
            raise
    # The broker's own errors (kombu's) are not Redis's: any failure to queue
    # the next batch is handled alike. The dispatcher queues one once the mark is gone.
    except Exception as exc:
        REDIS.failed(exc)  # the broker: one WARNING per outage in this process
        log.info(_("配信 {send}: 次のバッチをブローカー（Redis）に積めませんでした（{reason}）。"
                   "Redis が戻れば次の刻みで積みます").format(
            send=send_id, reason=f"{type(exc).__name__}: {_first_line(exc)}"))
        _clear_mark(coordinator, send_id)
    return report


def _clear_mark(coordinator: Coordinator, send_id: int) -> None:
    """Clear the send-active mark if Redis answers (else it lapses by its TTL)."""
    try:
        coordinator.clear_workers_active(send_id)
    except Exception as exc:
        if not is_outage(exc):
            raise


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]
