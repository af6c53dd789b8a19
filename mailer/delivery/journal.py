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
from typing import Protocol

#: how long a journal entry outlives its send's activity
JOURNAL_TTL_SECONDS = 7 * 24 * 3600


class AcceptedJournal(Protocol):
    def note_accepted(self, send_id: int, delivery_id: int) -> None: ...

    def forget(self, send_id: int, delivery_ids: Iterable[int]) -> None: ...

    def accepted(self, send_id: int, delivery_ids: Iterable[int]) -> set[int]: ...


class RedisJournal:
    def __init__(self, client: object, *, prefix: str = "mailer:accepted:") -> None:
        self.client = client
        self.prefix = prefix
        self._expiry_set: set[int] = set()

    def _key(self, send_id: int) -> str:
        return f"{self.prefix}{send_id}"

    def note_accepted(self, send_id: int, delivery_id: int) -> None:
        self.client.sadd(self._key(send_id), delivery_id)  # type: ignore[attr-defined]
        if send_id not in self._expiry_set:  # once per send and process is enough
            self.client.expire(self._key(send_id), JOURNAL_TTL_SECONDS)  # type: ignore[attr-defined]
            self._expiry_set.add(send_id)

    def forget(self, send_id: int, delivery_ids: Iterable[int]) -> None:
        ids = list(delivery_ids)
        if ids:
            self.client.srem(self._key(send_id), *ids)  # type: ignore[attr-defined]

    def accepted(self, send_id: int, delivery_ids: Iterable[int]) -> set[int]:
        ids = list(delivery_ids)
        if not ids:
            return set()
        flags = self.client.smismember(self._key(send_id), ids)  # type: ignore[attr-defined]
        return {i for i, flag in zip(ids, flags, strict=True) if flag}


class NoJournal:
    """No journal: every outcome must then be committed one by one."""

    def note_accepted(self, send_id: int, delivery_id: int) -> None:
        return None

    def forget(self, send_id: int, delivery_ids: Iterable[int]) -> None:
        return None

    def accepted(self, send_id: int, delivery_ids: Iterable[int]) -> set[int]:
        return set()
