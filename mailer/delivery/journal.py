"""The accepted-journal: which claimed rows a relay has accepted but the
database has not yet recorded as `sent`.

Outcomes are written to the database in groups (one commit per group instead
of one per message). So that a worker dying between a relay's 250 and the
group's commit does not lead to a second copy, each acceptance is first noted
here (one Redis SADD, far cheaper than a commit). When the sweeper takes back
the rows of a dead worker it marks journaled ones `sent` instead of `pending`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

#: how long a journal entry outlives its send's activity
JOURNAL_TTL_SECONDS = 7 * 24 * 3600


class AcceptedJournal(Protocol):
    def note_accepted(self, send_id: int, delivery_id: int) -> None: ...

    def forget(self, send_id: int, delivery_ids: Iterable[int]) -> None: ...

    def accepted(self, send_id: int, delivery_ids: Iterable[int]) -> set[int]: ...


class RedisJournal:
    """The journal in Redis, one set per send.

    `note_accepted` is on the hot path, once per message. It writes its SADD
    to a connection of its own and does not wait for the reply: the command
    is in the kernel's socket buffer before the next message starts (and
    reaches Redis even if this process is killed right after), while the
    replies are read in bulk by `settle`, which `forget` and `accepted` call
    first. This is redis-py's own pipelining (send_command / read_response),
    kept open across messages, because a `Pipeline` only sends at execute()
    and a plain call waits a round trip per message (20 % of a worker's
    time, docs/performance.md).
    """

    def __init__(self, client: object, *, prefix: str = "mailer:accepted:") -> None:
        self.client = client
        self.prefix = prefix
        self._expiry_set: set[int] = set()
        self._conn: Any = None
        self._unread = 0

    def _key(self, send_id: int) -> str:
        return f"{self.prefix}{send_id}"

    def _connection(self) -> Any:
        if self._conn is None:
            pool = self.client.connection_pool  # type: ignore[attr-defined]
            self._conn = pool.connection_class(**pool.connection_kwargs)
        return self._conn

    def _send(self, *args: object) -> None:
        try:
            # No health check: its PING would read one of our unread replies.
            self._connection().send_command(*args, check_health=False)
        except Exception:
            self._reset()
            raise
        self._unread += 1

    def note_accepted(self, send_id: int, delivery_id: int) -> None:
        self._send("SADD", self._key(send_id), delivery_id)
        if send_id not in self._expiry_set:  # once per send and process is enough
            self._send("EXPIRE", self._key(send_id), JOURNAL_TTL_SECONDS)
            self._expiry_set.add(send_id)

    def settle(self) -> None:
        """Read the replies of the notes sent so far; raise if one failed."""
        if not self._unread:
            return
        try:
            while self._unread:
                self._unread -= 1
                self._conn.read_response()
        except Exception:
            self._reset()
            raise

    def _reset(self) -> None:
        if self._conn is not None:
            self._conn.disconnect()
        self._conn = None
        self._unread = 0
        self._expiry_set.clear()

    def forget(self, send_id: int, delivery_ids: Iterable[int]) -> None:
        self.settle()
        ids = list(delivery_ids)
        if ids:
            self.client.srem(self._key(send_id), *ids)  # type: ignore[attr-defined]

    def accepted(self, send_id: int, delivery_ids: Iterable[int]) -> set[int]:
        self.settle()
        ids = list(delivery_ids)
        if not ids:
            return set()
        flags = self.client.smismember(self._key(send_id), ids)  # type: ignore[attr-defined]
        return {i for i, flag in zip(ids, flags, strict=True) if flag}

    def close(self) -> None:
        try:
            self.settle()
        finally:
            self._reset()


class NoJournal:
    """No journal: every outcome must then be committed one by one."""

    def note_accepted(self, send_id: int, delivery_id: int) -> None:
        return None

    def forget(self, send_id: int, delivery_ids: Iterable[int]) -> None:
        return None

    def accepted(self, send_id: int, delivery_ids: Iterable[int]) -> set[int]:
        return set()
