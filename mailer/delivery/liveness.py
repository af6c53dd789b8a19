"""Which workers are alive: each worker notes itself in Redis every few seconds.

`mailer doctor` reads the registry without Celery: a worker seen within
`ALIVE_SECONDS` is alive; one seen earlier that never said goodbye (a clean
shutdown removes its entry) died or is frozen (`kill -9`, out of memory,
SIGSTOP, a host gone). The notes are written by a thread of the worker's main
process (workers/app.py), so a frozen process stops noting itself too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: how often a worker notes itself
HEARTBEAT_SECONDS = 10.0
#: a worker not seen for this long is not alive
ALIVE_SECONDS = 3 * HEARTBEAT_SECONDS
#: entries of workers gone for this long are dropped from the registry
FORGET_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class WorkerSeen:
    hostname: str
    seconds_ago: float

    @property
    def alive(self) -> bool:
        return self.seconds_ago <= ALIVE_SECONDS


class WorkerRegistry:
    """The `{prefix}workers` hash: hostname -> last time seen (Unix seconds)."""

    def __init__(self, client: object, *, prefix: str = "mailer:") -> None:
        self.client = client
        self.key = f"{prefix}workers"

    def note_alive(self, hostname: str, *, now: float | None = None) -> None:
        self.client.hset(self.key, hostname, repr(time.time() if now is None else now))  # type: ignore[attr-defined]

    def forget(self, hostname: str) -> None:
        """A clean shutdown: the worker is gone, not dead."""
        self.client.hdel(self.key, hostname)  # type: ignore[attr-defined]

    def seen(self, *, now: float | None = None) -> list[WorkerSeen]:
        """Every worker in the registry, the most recently seen first; entries
        older than FORGET_SECONDS are dropped."""
        now = time.time() if now is None else now
        raw: dict[bytes | str, bytes | str] = self.client.hgetall(self.key)  # type: ignore[attr-defined]
        found = []
        for host, stamp in raw.items():
            name = host.decode() if isinstance(host, bytes) else host
            try:
                ago = max(0.0, now - float(stamp))
            except ValueError:
                ago = FORGET_SECONDS + 1
            if ago > FORGET_SECONDS:
                self.client.hdel(self.key, name)  # type: ignore[attr-defined]
                continue
            found.append(WorkerSeen(name, ago))
        return sorted(found, key=lambda w: w.seconds_ago)


def start_heartbeat(note: Callable[[], None], *, every: float = HEARTBEAT_SECONDS,
                    on_error: Callable[[Exception], None] | None = None) -> threading.Event:
    """Call `note()` now and every `every` seconds in a daemon thread; return
    the event that stops it. An error is passed to `on_error` once per run of
    failures (Redis down), not once per beat."""
    stop = threading.Event()

    def beat() -> None:
        failing = False
        while not stop.is_set():
            try:
                note()
                failing = False
            except Exception as exc:  # Redis down: keep beating, say it once
                if not failing and on_error is not None:
                    on_error(exc)
                failing = True
            stop.wait(every)

    threading.Thread(target=beat, name="mailer-heartbeat", daemon=True).start()
    return stop
