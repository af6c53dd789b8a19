"""One line per outage, not one per tick.

The dispatch tick runs every second and beat queues it every second: while
the database or the broker is down each would otherwise log an error with a
traceback each time. An `OutageNotice` logs one WARNING when the service stops
answering and one INFO when it answers again, so that an outage of any length
tells the operator what is down in one line, and when it is back in another.
"""

from __future__ import annotations

import logging
import threading


class OutageNotice:
    """Remembers, per process, whether `what` is down, and logs the changes."""

    def __init__(
        self, logger: logging.Logger, what: str, meanwhile: str = "retrying every tick"
    ) -> None:
        self.logger = logger
        self.what = what
        self.meanwhile = meanwhile
        self.down = False
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        """Note a failure: one WARNING (no traceback) if it was up until now."""
        with self._lock:
            if self.down:
                return
            self.down = True
        first = (str(exc).splitlines() or [""])[0][:200]
        self.logger.warning(
            "%s unavailable (%s: %s); %s; no further lines until it is back",
            self.what,
            type(exc).__name__,
            first,
            self.meanwhile,
        )

    def ok(self) -> None:
        """Note a success: one INFO line if it was down."""
        with self._lock:
            if not self.down:
                return
            self.down = False
        self.logger.info("%s available again", self.what)
