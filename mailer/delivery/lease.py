"""The lease a batch holds on its claimed rows: heartbeat and fencing.

A batch claims rows with a fresh random token (`new_token`) and a lease of
`DeliveryConfig.lease`. While it works it renews the lease of the rows it
still holds (`renew_if_due`, called with the engine's status check: one
UPDATE per renewal, never one per message). Before a byte of a message goes
to a relay it asks `still_valid`, a clock comparison; only once the local
deadline has passed does that touch the database (a renewal), and rows the
renewal no longer finds under the token were taken back by the sweeper
(docs/delivery.md, "Leases, heartbeat and fencing").

While the batch waits on a relay (`waiting`: a slow or silent relay may hold
a reply for the whole SMTP timeout, as long as the lease itself) a keeper
thread renews the lease when due, so the rows are not taken back from a
live worker; a stopped worker (SIGSTOP, kill -9) stops its keeper too.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
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
        #: renewals come from the batch and from the keeper thread
        self._lock = threading.RLock()
        self._waiting = False
        self._keeper: threading.Thread | None = None
        self._closed = threading.Event()
        self._set_deadlines(started)

    def _set_deadlines(self, started: float) -> None:
        self.valid_until = started + self.lease.total_seconds() - self.margin
        self.renew_at = started + self.renew_every

    def still_valid(self) -> bool:
        """True if every row this batch holds may still be sent.

        A clock comparison while the local deadline holds; past it, a
        renewal first. False once some row was taken back (see `lost`)."""
        with self._lock:
            if self.lost:
                return False
            if self.clock() < self.valid_until:
                return True
            self.renew()
            return not self.lost

    def renew_if_due(self) -> bool:
        """The heartbeat: renew when a third of the lease has passed since the
        last renewal. Returns `still_valid()`."""
        with self._lock:
            if not self.lost and self.held and self.clock() >= self.renew_at:
                self.renew()
            return self.still_valid()

    def renew(self) -> None:
        """Extend the lease of the held rows (one UPDATE); rows the database
        no longer has under this token move from `held` to `lost`."""
        with self._lock:
            self._renew()

    def _renew(self) -> None:
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
        with self._lock:
            self.held.difference_update(ids)

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a call that may wait on a relay (a submit, a drain): the
        keeper thread renews the lease when due meanwhile."""
        self._waiting = True
        if self._keeper is None:
            self._keeper = threading.Thread(target=self._keep, name="lease-keeper", daemon=True)
            self._keeper.start()
        try:
            yield
        finally:
            self._waiting = False

    def _keep(self) -> None:
        tick = max(0.05, min(1.0, self.renew_every / 4))
        while not self._closed.wait(tick):
            if not self._waiting:
                continue
            with self._lock:
                if self.lost or not self.held or self.clock() < self.renew_at:
                    continue
                # The batch meets a database outage itself, after the wait.
                with contextlib.suppress(Exception):
                    self._renew()

    def close(self) -> None:
        """The batch is over: stop the keeper thread."""
        self._closed.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
