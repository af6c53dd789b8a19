"""Allowed status transitions, in one place.

Every change of a send's or a delivery's status goes through these tables:

* a single-row change (pause, resume, cancel) reads the row and calls
  `check_send` / `check_delivery` before its conditional UPDATE;
* a set-based statement (the ledger's hot path) takes its status guard and
  its new status from a `Transition` made by `send_transition` or
  `delivery_transition`, which refuse an edge the table lacks. Writers build
  their transitions at import, so a statement that would move rows along a
  forbidden edge stops the program from starting, not a send half-way.

tests/delivery/test_states.py walks the tables; tests/delivery/test_status_writes.py
fails on a status write to the send or delivery table that bypasses this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Table, Update, update

from mailer.models import DeliveryStatus as D
from mailer.models import SendStatus as S

DELIVERY_TRANSITIONS: dict[D, frozenset[D]] = {
    D.PENDING: frozenset({D.SENDING, D.CANCELLED}),  # claimed; cancelled with its send
    D.SENDING: frozenset(
        {
            D.SENT,  # accepted (also: the sweeper finds it in the accepted-journal)
            D.DEFERRED,  # 4xx, timeout before the data
            D.UNKNOWN,  # no reply after the data: not known, never sent again
            D.FAILED,  # 5xx, or the retry deadline passed
            D.SKIPPED,  # unsubscribed or suppressed since it was frozen
            D.PENDING,  # a batch hands it back, or the sweeper takes an expired lease back
        }
    ),
    D.DEFERRED: frozenset({D.SENDING, D.CANCELLED}),  # claimed again when due; cancelled
    D.FAILED: frozenset({D.PENDING}),  # resend-failed
    D.SENT: frozenset(),
    D.SKIPPED: frozenset(),
    D.CANCELLED: frozenset(),
    D.UNKNOWN: frozenset(),
}

#: rows still owed a delivery attempt
OPEN_DELIVERY = (D.PENDING, D.SENDING, D.DEFERRED)
#: rows a batch may claim (when due)
CLAIMABLE = (D.PENDING, D.DEFERRED)

SEND_TRANSITIONS: dict[S, frozenset[S]] = {
    S.SCHEDULED: frozenset({S.RUNNING, S.CANCELLED, S.PAUSED}),  # PAUSED: preflight errors too
    S.RUNNING: frozenset({S.PAUSED, S.DONE, S.CANCELLED}),  # PAUSED: error threshold too
    S.PAUSED: frozenset({S.RUNNING, S.SCHEDULED, S.CANCELLED}),
    S.DONE: frozenset({S.RUNNING}),  # resend-failed reopens it
    S.CANCELLED: frozenset(),
}


class TransitionError(ValueError):
    """A status change that the state machine does not allow."""


def check_delivery(old: D, new: D) -> None:
    """Return if a delivery may go from `old` to `new`; raise TransitionError if not."""
    if new not in DELIVERY_TRANSITIONS[old]:
        raise TransitionError(f"delivery cannot go from {old} to {new}")


def check_send(old: S, new: S) -> None:
    """Return if a send may go from `old` to `new`; raise TransitionError if not."""
    if new not in SEND_TRANSITIONS[old]:
        raise TransitionError(f"a {old} send cannot become {new}")


E = TypeVar("E", D, S)


@dataclass(frozen=True)
class Transition(Generic[E]):
    """Rows in one of `old` may move to one of `new`: every pair is an edge of
    the table (the constructors check it). Builds the guard and the SET of a
    set-based UPDATE, for SQLAlchemy Core or for a text statement."""

    kind: str  # "send" or "delivery", for messages
    old: tuple[E, ...]
    new: tuple[E, ...]

    @property
    def target(self) -> E:
        """Return the one new status; raise TransitionError if there are several
        (the statement must then say per row which, see `values`)."""
        if len(self.new) != 1:
            raise TransitionError(
                f"{self.kind} rows move to one of {_names(self.new)}: say which per row"
            )
        return self.new[0]

    def guard(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        """Return `column = old` (one old status) or `column IN (old…)`."""
        values = [s.value for s in self.old]
        # One equality when there is one status: the claim walks the
        # (send_id, status, id) index in order only with `=` (docs/performance.md).
        return column == values[0] if len(values) == 1 else column.in_(values)

    def values(self, status: Any = None, **more: Any) -> dict[str, Any]:
        """Return the column values of the UPDATE: the new status, then `more`.

        `status` is an SQL expression choosing among several new statuses per
        row (a bound parameter); the caller checks the values it binds with
        `check_targets`.
        """
        return {"status": self.target.value if status is None else status, **more}

    def update(self, table: Table, *where: Any, status: Any = None, **values: Any) -> Update:
        """Return `UPDATE table SET status = new, … WHERE status IN (old) AND …`."""
        return (
            update(table)
            .where(self.guard(table.c.status), *where)
            .values(**self.values(status, **values))
        )

    def sql_guard(self, column: str) -> str:
        """The guard as SQL text for a text() statement (`d.status = 'sending'`)."""
        quoted = ", ".join(f"'{s.value}'" for s in self.old)
        return f"{column} = {quoted}" if len(self.old) == 1 else f"{column} IN ({quoted})"

    def sql_set(self, expression: str | None = None) -> str:
        """The SET item as SQL text: `status = 'sent'`, or `status = <expression>`
        (which picks one of several new statuses per row; see `check_targets`)."""
        if expression is None:
            expression = f"'{self.target.value}'"
        return f"status = {expression}"

    def check_targets(self, statuses: Iterable[E]) -> None:
        """Return if every status is one of `new`; raise TransitionError if not.

        For statements whose new status is bound per row: check the set of
        statuses of a group once, not row by row against the database.
        """
        bad = set(statuses) - set(self.new)
        if bad:
            raise TransitionError(
                f"{self.kind} rows in {_names(self.old)} cannot become {_names(bad)} here"
                f" (this statement moves them to {_names(self.new)})"
            )


def send_transition(new: S | Iterable[S], *, from_: S | Iterable[S] | None = None) -> Transition[S]:
    """Return the transition of sends to `new` from `from_` (default: every
    status the table lets become `new`); raise TransitionError if the table
    lacks one of the edges."""
    return _transition("send", SEND_TRANSITIONS, new, from_)


def delivery_transition(
    new: D | Iterable[D], *, from_: D | Iterable[D] | None = None
) -> Transition[D]:
    """Return the transition of deliveries to `new` from `from_` (default:
    every status the table lets become `new`); raise TransitionError if the
    table lacks one of the edges."""
    return _transition("delivery", DELIVERY_TRANSITIONS, new, from_)


def _transition(
    kind: str,
    table: Mapping[E, frozenset[E]],
    new: E | Iterable[E],
    from_: E | Iterable[E] | None,
) -> Transition[E]:
    news = _as_tuple(new)
    if from_ is None:
        olds = tuple(s for s in table if all(n in table[s] for n in news))
    else:
        olds = _as_tuple(from_)
        missing = [(o, n) for o in olds for n in news if n not in table[o]]
        if missing:
            edges = ", ".join(f"{o} -> {n}" for o, n in missing)
            raise TransitionError(f"the {kind} state table has no edge {edges}")
    if not olds or not news:
        raise TransitionError(f"no {kind} status may become {_names(news)}")
    return Transition(kind, olds, news)


def _as_tuple(statuses: E | Iterable[E]) -> tuple[E, ...]:
    # A StrEnum member is itself an iterable (of characters): test it first.
    if isinstance(statuses, (D, S)):
        return (statuses,)  # type: ignore[return-value]
    return tuple(dict.fromkeys(statuses))


def _names(statuses: Iterable[E]) -> str:
    return "/".join(sorted(s.value for s in statuses))
