"""The lease a batch holds on its claimed rows: heartbeat and fencing.

A batch claims rows with a fresh random token (`new_token`) and a lease of
`DeliveryConfig.lease`. While it works it renews the lease of the rows it
still holds (`renew_if_due`, called with the engine's status check: one
UPDATE per renewal, never one per message). Before a byte of a message goes
to a relay it asks `still_valid`, a clock comparison; only once the local
deadline has passed does that touch the database (a renewal), and rows the
renewal no longer finds under the token were taken back by the sweeper
(docs/delivery.md, "Leases, heartbeat and fencing").
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from mailer.delivery import ledger

#: the local deadline ends this much before the lease the database holds
#: (clock skew between hosts, the time a statement takes), at most this
MAX_MARGIN_SECONDS = 5.0


def new_token() -> str:
    """A fencing token for one claim (32 hex digits, the column's width)."""
    return secrets.token_hex(16)


class BatchLease:
    """The rows one batch holds, under one token, and until when locally.

    `clock` is monotonic (seconds); `now` the wall clock the database leases
    are written in. `started` is the clock reading taken before the claim, so
    the local deadline never outlives the lease in the database.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        token: str,
        ids: Iterable[int],
        lease: timedelta,
        started: float,
        clock: Callable[[], float],
        now: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.token = token
        self.held: set[int] = set(ids)
        self.lease = lease
        self.clock = clock
        self.now = now
        seconds = lease.total_seconds()
        self.margin = min(MAX_MARGIN_SECONDS, seconds / 5)
        self.renew_every = seconds / 3
        self.lost: set[int] = set()
        self._set_deadlines(started)

    def _set_deadlines(self, started: float) -> None:
        self.valid_until = started + self.lease.total_seconds() - self.margin
        self.renew_at = started + self.renew_every

    def still_valid(self) -> bool:
        """True if every row this batch holds may still be sent.

        A clock comparison while the local deadline holds; past it, a
        renewal first. False once some row was taken back (see `lost`)."""
        if self.lost:
            return False
        if self.clock() < self.valid_until:
            return True
        self.renew()
        return not self.lost

    def renew_if_due(self) -> bool:
        """The heartbeat: renew when a third of the lease has passed since the
        last renewal. Returns `still_valid()`."""
        if not self.lost and self.held and self.clock() >= self.renew_at:
            self.renew()
        return self.still_valid()

    def renew(self) -> None:
        """Extend the lease of the held rows (one UPDATE); rows the database
        no longer has under this token move from `held` to `lost`."""
        if not self.held:
            self._set_deadlines(self.clock())
            return
        started = self.clock()
        with self.engine.begin() as conn:
            kept = ledger.renew_leases(
                conn, ids=sorted(self.held), lease_token=self.token, now=self.now(),
                lease=self.lease,
            )
        self.lost |= self.held - kept
        self.held = kept
        self._set_deadlines(started)

    def done(self, ids: Iterable[int]) -> None:
        """Rows whose outcome was written (or that were handed back): no longer held."""
        self.held.difference_update(ids)
