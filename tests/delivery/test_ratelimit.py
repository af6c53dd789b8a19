"""The global GCRA limiter against a real Redis server."""

from __future__ import annotations

import bisect
import multiprocessing
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from mailer.delivery.ratelimit import (
    Decision,
    Rate,
    RateLimiter,
    RateLimitTimeout,
    parse_rate,
)

SOAK_SECONDS = float(os.environ.get("MAILER_RATELIMIT_SOAK_SECONDS", "60"))
SOAK_PROCESSES = 4
SOAK_RATE = Rate(count=50, per_seconds=1.0)
SOAK_BURST = 1


@pytest.fixture
def client(redis_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    try:
        yield conn
    finally:
        for key in conn.scan_iter(match=key_prefix + "*"):
            conn.delete(key)
        conn.close()


# -- parse_rate -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50/s", Rate(50, 1.0)),
        ("3000/m", Rate(3000, 60.0)),
        ("100000/h", Rate(100000, 3600.0)),
        ("10/5s", Rate(10, 5.0)),
        (" 7 / 2m ", Rate(7, 120.0)),
        ("1/0.5s", Rate(1, 0.5)),
    ],
)
def test_parse_rate_accepts(text: str, expected: Rate) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize(
    "text", ["", "50", "50/", "/s", "0/s", "-1/s", "10/0s", "50/x", "50/s/s", "fifty/s", "5.5/s"]
)
def test_parse_rate_rejects_with_one_line_naming_value(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_rate(text)
    message = str(info.value)
    assert repr(text) in message
    assert "\n" not in message


def test_rate_and_limiter_reject_nonsense(client: redis.Redis, key_prefix: str) -> None:
    with pytest.raises(ValueError):
        Rate(0, 1.0)
    with pytest.raises(ValueError):
        Rate(1, 0.0)
    with pytest.raises(ValueError):
        RateLimiter(client, key=key_prefix + "rl", rate=Rate(1, 1.0), burst=0)
    limiter = RateLimiter(client, key=key_prefix + "rl", rate=Rate(1, 1.0))
    with pytest.raises(ValueError):
        limiter.try_acquire(0)


# -- behaviour --------------------------------------------------------------------
# Rate(4, 1.0): interval T = 0.25 s, slack s = 0.05 s, so a refused request
# waits T - s = 0.2 s for the next token.


def near(wait: float, expected: float) -> bool:
    """A wait measured a moment after `expected` was exact."""
    return expected - 0.04 < wait <= expected


def test_burst_then_wait(client: redis.Redis, key_prefix: str) -> None:
    limiter = RateLimiter(client, key=key_prefix + "rl", rate=Rate(4, 1.0), burst=3)
    assert [limiter.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert near(limiter.try_acquire(), 0.2)


def test_denial_takes_nothing(client: redis.Redis, key_prefix: str) -> None:
    limiter = RateLimiter(client, key=key_prefix + "rl", rate=Rate(1, 1.0))
    assert limiter.try_acquire() == 0.0
    first = limiter.try_acquire()
    second = limiter.try_acquire()
    assert near(first, 0.95)
    assert second <= first  # a refused request did not push the next grant back


def test_n_tokens_cost_n_intervals(client: redis.Redis, key_prefix: str) -> None:
    limiter = RateLimiter(client, key=key_prefix + "rl", rate=Rate(4, 1.0), burst=5)
    assert limiter.try_acquire(5) == 0.0
    assert near(limiter.try_acquire(1), 0.2)
    assert near(limiter.try_acquire(5), 1.2)


def test_n_above_burst_is_one_step_when_idle(client: redis.Redis, key_prefix: str) -> None:
    limiter = RateLimiter(client, key=key_prefix + "rl", rate=Rate(4, 1.0), burst=1)
    assert limiter.try_acquire(10) == 0.0
    # The batch's ten intervals are paid for afterwards.
    assert near(limiter.try_acquire(1), 2.45)


def test_n_above_burst_waits_for_idle(client: redis.Redis, key_prefix: str) -> None:
    limiter = RateLimiter(client, key=key_prefix + "rl", rate=Rate(4, 1.0), burst=1)
    assert limiter.try_acquire(1) == 0.0
    assert near(limiter.try_acquire(10), 0.2)
    assert 0.1 < limiter.acquire(10, timeout=1.0) < 0.4


def test_acquire_sleeps_the_interval(client: redis.Redis, key_prefix: str) -> None:
    # Rate(20, 1.0): T = 50 ms, s = 25 ms; six grants take 5T - s = 225 ms.
    limiter = RateLimiter(client, key=key_prefix + "rl", rate=Rate(20, 1.0))
    start = time.monotonic()
    waits = [limiter.acquire() for _ in range(6)]
    elapsed = time.monotonic() - start
    assert waits[0] < 0.01
    assert 0.2 < elapsed < 0.4
    assert all(0.01 < w < 0.15 for w in waits[1:])


def test_acquire_timeout_fails_fast(client: redis.Redis, key_prefix: str) -> None:
    limiter = RateLimiter(client, key=key_prefix + "rl", rate=Rate(1, 1.0))
    limiter.acquire()
    start = time.monotonic()
    with pytest.raises(RateLimitTimeout, match="rl"):
        limiter.acquire(timeout=0.2)
    assert time.monotonic() - start < 0.1
    assert 0.85 < limiter.acquire(timeout=2.0) < 1.1


def test_slack_never_adds_a_token(client: redis.Redis, key_prefix: str) -> None:
    limiter = RateLimiter(client, key=key_prefix + "rl", rate=Rate(20, 1.0), burst=2)
    grants: list[int] = []
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        decision = limiter.decide()
        if decision.granted:
            grants.append(round(decision.server_time * 1_000_000))
        else:
            time.sleep(decision.wait)
    assert max_in_window(grants, 1_000_000) <= 20 + 2
    assert max_in_window(grants, 50_000) <= 1 + 2  # W = T: W/T + burst


def test_key_expires_when_idle(client: redis.Redis, key_prefix: str) -> None:
    key = key_prefix + "rl"
    limiter = RateLimiter(client, key=key, rate=Rate(10, 1.0))
    limiter.try_acquire()
    assert 0 < client.pttl(key) <= 102
    time.sleep(0.15)
    assert client.exists(key) == 0
    assert limiter.try_acquire() == 0.0


def test_decision_uses_the_redis_clock(client: redis.Redis, key_prefix: str) -> None:
    limiter = RateLimiter(client, key=key_prefix + "rl", rate=Rate(10, 1.0))
    seconds, micros = client.time()
    decision = limiter.decide()
    assert decision.granted
    assert 0 <= decision.server_time - (seconds + micros / 1e6) < 1.0


def test_limiters_share_the_key(redis_url: str, client: redis.Redis, key_prefix: str) -> None:
    other = redis.Redis.from_url(redis_url)
    try:
        a = RateLimiter(client, key=key_prefix + "rl", rate=Rate(1, 1.0))
        b = RateLimiter(other, key=key_prefix + "rl", rate=Rate(1, 1.0))
        assert a.try_acquire() == 0.0
        assert b.try_acquire() > 0.9
    finally:
        other.close()


# -- soak: several processes, one key --------------------------------------------


class _RecordingLimiter(RateLimiter):
    """Keeps the Redis time of every grant so the test can check the windows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.grants: list[float] = []

    def decide(self, n: int = 1) -> Decision:
        decision = super().decide(n)
        if decision.granted:
            self.grants.append(decision.server_time)
        return decision


def _soak_worker(
    url: str, key: str, rate: Rate, burst: int, seconds: float, barrier: Any, out: Any
) -> None:
    client = redis.Redis.from_url(url)
    limiter = _RecordingLimiter(client, key=key, rate=rate, burst=burst)
    client.ping()
    barrier.wait(timeout=120)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        limiter.acquire(1)
    out.put(limiter.grants)
    client.close()


def max_in_window(times_us: list[int], window_us: int) -> int:
    """The most grants in any closed window [t, t + window] starting at a grant."""
    times_us = sorted(times_us)
    return max(
        (bisect.bisect_right(times_us, t + window_us) - i for i, t in enumerate(times_us)),
        default=0,
    )


@pytest.mark.slow
@pytest.mark.timeout(SOAK_SECONDS + 180)
def test_soak_four_processes_hold_the_global_rate(
    redis_url: str,
    client: redis.Redis,
    key_prefix: str,
    record_testsuite_property: Any,
) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(SOAK_PROCESSES + 1)
    out = ctx.Queue()
    key = key_prefix + "soak"
    workers = [
        ctx.Process(
            target=_soak_worker,
            args=(redis_url, key, SOAK_RATE, SOAK_BURST, SOAK_SECONDS, barrier, out),
        )
        for _ in range(SOAK_PROCESSES)
    ]
    for w in workers:
        w.start()
    try:
        barrier.wait(timeout=120)
        seconds, micros = client.time()
        start_us = seconds * 1_000_000 + micros
        grants: list[float] = []
        for _ in workers:
            grants.extend(out.get(timeout=SOAK_SECONDS + 60))
    finally:
        for w in workers:
            w.join(timeout=10)
            if w.is_alive():
                w.kill()
    assert all(w.exitcode == 0 for w in workers)

    end_us = start_us + int(SOAK_SECONDS * 1_000_000)
    times_us = sorted(round(t * 1_000_000) for t in grants)
    in_run = [t for t in times_us if start_us <= t < end_us]
    achieved = len(in_run) / SOAK_SECONDS
    limit = SOAK_RATE.per_second
    peak = max_in_window(times_us, 1_000_000)
    error = (achieved - limit) / limit

    figures = (
        f"ratelimit soak: {SOAK_PROCESSES} processes, limit {limit:g}/s burst {SOAK_BURST}, "
        f"{SOAK_SECONDS:g}s: {len(in_run)} grants, achieved {achieved:.2f}/s "
        f"({error:+.2%}), max in any 1 s window {peak} (bound {limit + SOAK_BURST:g})"
    )
    print(figures)
    record_testsuite_property("soak_achieved_rate", round(achieved, 3))
    record_testsuite_property("soak_rate_error", round(error, 5))
    record_testsuite_property("soak_max_per_1s_window", peak)

    assert abs(error) <= 0.05, figures
    assert peak <= limit + SOAK_BURST, figures
