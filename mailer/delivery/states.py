"""Allowed status transitions, in one place."""

from __future__ import annotations

from mailer.models import DeliveryStatus as D
from mailer.models import SendStatus as S

DELIVERY_TRANSITIONS: dict[D, frozenset[D]] = {
    D.PENDING: frozenset({D.SENDING, D.SKIPPED, D.CANCELLED}),
    D.SENDING: frozenset({D.SENT, D.DEFERRED, D.FAILED, D.SKIPPED, D.PENDING}),
    D.DEFERRED: frozenset({D.SENDING, D.FAILED, D.CANCELLED}),
    D.FAILED: frozenset({D.PENDING}),  # resend-failed
    D.SENT: frozenset(),
    D.SKIPPED: frozenset(),
    D.CANCELLED: frozenset(),
}

#: rows still owed a delivery attempt
OPEN_DELIVERY = (D.PENDING, D.SENDING, D.DEFERRED)
#: rows a batch may claim (when due)
CLAIMABLE = (D.PENDING, D.DEFERRED)

SEND_TRANSITIONS: dict[S, frozenset[S]] = {
    S.SCHEDULED: frozenset({S.RUNNING, S.CANCELLED, S.PAUSED}),
    S.RUNNING: frozenset({S.PAUSED, S.DONE, S.CANCELLED}),
    S.PAUSED: frozenset({S.RUNNING, S.SCHEDULED, S.CANCELLED}),
    S.DONE: frozenset({S.RUNNING}),  # resend-failed reopens it
    S.CANCELLED: frozenset(),
}


class TransitionError(ValueError):
    """A status change that the state machine does not allow."""


def check_delivery(old: D, new: D) -> None:
    if new not in DELIVERY_TRANSITIONS[old]:
        raise TransitionError(f"delivery cannot go from {old} to {new}")


def check_send(old: S, new: S) -> None:
    if new not in SEND_TRANSITIONS[old]:
        raise TransitionError(f"a {old} send cannot become {new}")
