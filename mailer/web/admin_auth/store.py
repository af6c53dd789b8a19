"""Login failure counters and logged-out sessions: in Redis when the app has one
(every web process then shares them), else in this process.

Policy (its numbers live in mailer/services/sign_in.py): 5 failures for one
account, or from one client IP, within 15 minutes lock that account / IP out
for 15 minutes (even with the right password).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis
from fastapi import Request

from mailer.services.sign_in import LOCK_SECONDS, MAX_FAILURES, WINDOW_SECONDS

__all__ = ["LOCK_SECONDS", "MAX_FAILURES", "WINDOW_SECONDS", "AuthStore", "auth_store"]


def _key(kind: str, value: str) -> str:
    # Hashed: the store need not hold addresses in clear.
    return f"{kind}:{hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]}"


class AuthStore(Protocol):
    def locked(self, *, account: str, ip: str) -> bool:
        """Return True if the account or the IP is locked out now."""

    def failed(self, *, account: str, ip: str) -> None:
        """Count one failed login for both; lock whichever reached MAX_FAILURES."""

    def succeeded(self, *, account: str) -> None:
        """Forget the account's failures."""

    def revoke(self, session_id: str, *, ttl: int) -> None:
        """Remember a logged-out session id for `ttl` seconds (its remaining life)."""

    def is_revoked(self, session_id: str) -> bool: ...


class MemoryAuthStore:
    """One process's counters (sliding window); `clock` is injectable for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._revoked: dict[str, float] = {}

    def _is_locked(self, key: str, now: float) -> bool:
        until = self._locked_until.get(key)
        if until is not None and until <= now:
            del self._locked_until[key]
            return False
        return until is not None

    def locked(self, *, account: str, ip: str) -> bool:
        now = self._clock()
        with self._lock:
            return any(self._is_locked(k, now)
                       for k in (_key("acct", account), _key("ip", ip)))

    def failed(self, *, account: str, ip: str) -> None:
        now = self._clock()
        with self._lock:
            for key in (_key("acct", account), _key("ip", ip)):
                recent = [t for t in self._failures.get(key, []) if t > now - WINDOW_SECONDS]
                recent.append(now)
                if len(recent) >= MAX_FAILURES:
                    self._locked_until[key] = now + LOCK_SECONDS
                    self._failures.pop(key, None)
                else:
                    self._failures[key] = recent
            if len(self._failures) > 100_000:  # a flood of distinct names: drop the oldest
                for stale in list(self._failures)[:50_000]:
                    del self._failures[stale]

    def succeeded(self, *, account: str) -> None:
        with self._lock:
            self._failures.pop(_key("acct", account), None)

    def revoke(self, session_id: str, *, ttl: int) -> None:
        now = self._clock()
        with self._lock:
            self._revoked = {k: v for k, v in self._revoked.items() if v > now}
            self._revoked[session_id] = now + ttl

    def is_revoked(self, session_id: str) -> bool:
        with self._lock:
            until = self._revoked.get(session_id)
            return until is not None and until > self._clock()


class RedisAuthStore:
    """Shared counters: a fixed 15-minute window from the first failure."""

    def __init__(self, client: redis.Redis, *, prefix: str = "mailer:auth:") -> None:
        self._redis = client
        self._prefix = prefix

    def locked(self, *, account: str, ip: str) -> bool:
        keys = [f"{self._prefix}lock:{_key(k, v)}" for k, v in (("acct", account), ("ip", ip))]
        return bool(self._redis.exists(*keys))

    def failed(self, *, account: str, ip: str) -> None:
        for kind, value in (("acct", account), ("ip", ip)):
            count_key = f"{self._prefix}fail:{_key(kind, value)}"
            pipe = self._redis.pipeline()
            # The window starts at the first failure; INCR keeps the key's TTL.
            pipe.set(count_key, 0, ex=WINDOW_SECONDS, nx=True)
            pipe.incr(count_key)
            count = int(pipe.execute()[1])
            if count >= MAX_FAILURES:
                pipe = self._redis.pipeline()
                pipe.set(f"{self._prefix}lock:{_key(kind, value)}", 1, ex=LOCK_SECONDS)
                pipe.delete(count_key)
                pipe.execute()

    def succeeded(self, *, account: str) -> None:
        self._redis.delete(f"{self._prefix}fail:{_key('acct', account)}")

    def revoke(self, session_id: str, *, ttl: int) -> None:
        self._redis.set(f"{self._prefix}revoked:{session_id}", 1, ex=max(ttl, 1))

    def is_revoked(self, session_id: str) -> bool:
        return bool(self._redis.exists(f"{self._prefix}revoked:{session_id}"))


_create_lock = threading.Lock()


def auth_store(request: Request) -> AuthStore:
    """Return the app's store (made on first use: Redis if the app has a client)."""
    app_state = request.app.state
    store: AuthStore | None = getattr(app_state, "auth_store", None)
    if store is None:
        with _create_lock:
            store = getattr(app_state, "auth_store", None)
            if store is None:
                client = request.app.state.web.redis
                store = RedisAuthStore(client) if client is not None else MemoryAuthStore()
                app_state.auth_store = store
    return store
