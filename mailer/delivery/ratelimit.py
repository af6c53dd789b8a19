"""A global send rate shared by every worker process on every host.

Celery's own `rate_limit` is per worker, so N workers send N times the limit.
This limiter keeps one GCRA state (a "theoretical arrival time", TAT) in Redis
and updates it in a single Lua script, so the check-and-take is atomic and costs
one round trip. The script reads the clock with Redis `TIME`: worker hosts'
clocks may disagree, the server's is the only one all of them share.

GCRA in short: each token costs one emission interval T = per_seconds / count.
A request for n tokens is granted when `max(TAT, now) + n*T - b*T - s <= now`,
with b = max(burst, n),
and the TAT then moves to `max(TAT, now) + n*T`. An idle key expires once its
TAT has passed, which is the same as a fresh one.

The slack s = min(T/2, 50 ms) is there because a sender always wakes a little
late (sleep overshoot plus a round trip: ~0.3-0.8 ms on a quiet host, more on a
busy one). Without it a strict GCRA resets the TAT to "now" on every late grant,
and the lateness is lost for good: at 50/s with burst 1 that measured -3.6 %
with four processes. With it a late sender may take the next token up to s
early, so the long-run rate is exact. As s < T it never adds a token: in any
window of length W at most floor(W/T + burst + s/T) tokens are granted, which
is `count + burst` for W = per_seconds.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import redis

_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([smh])\s*$")


@dataclass(frozen=True)
class Rate:
    """`count` tokens every `per_seconds` seconds."""

    count: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.count < 1 or not self.per_seconds > 0:
            raise ValueError(f"invalid rate {self.count}/{self.per_seconds}s: both must be > 0")

    @property
    def interval(self) -> float:
        """The emission interval in seconds: the cost of one token."""
        return self.per_seconds / self.count

    @property
    def per_second(self) -> float:
        """Tokens per second."""
        return self.count / self.per_seconds


def parse_rate(text: str) -> Rate:
    """Parse "50/s", "3000/m", "100000/h" or "10/5s" into a Rate.

    Raises ValueError with a one-line message naming `text` when it is not of
    the form COUNT/[N]UNIT with UNIT one of s, m, h and COUNT, N greater than 0.
    """
    match = _RATE_RE.match(text)
    if match:
        count, multiple, unit = match.groups()
        per_seconds = float(multiple or 1) * _UNIT_SECONDS[unit]
        if int(count) > 0 and per_seconds > 0:
            return Rate(count=int(count), per_seconds=per_seconds)
    raise ValueError(
        f"invalid rate {text!r}: expected COUNT/[N]UNIT with UNIT s, m or h and "
        "COUNT, N > 0 (e.g. '50/s', '3000/m', '10/5s')"
    )


class RateLimitTimeout(TimeoutError):
    """`RateLimiter.acquire` could not get its tokens within the timeout."""


@dataclass(frozen=True)
class Decision:
    """One answer of the limiter.

    `wait` is 0.0 when granted, else the seconds until the request could be
    granted if nobody else takes the tokens first. `server_time` is the Redis
    clock (seconds since the epoch) at which the script decided.
    """

    granted: bool
    wait: float
    server_time: float


# Most a grant may come early to make up for a sender's wake-up latency.
MAX_SLACK_SECONDS = 0.05

# KEYS[1] = the TAT key; ARGV = emission interval (µs), burst, n, slack (µs).
# Times are microseconds since the epoch (< 2**53, exact in a Lua double); the
# TAT is written with %.17g because Lua's tostring keeps only 14 digits.
_GCRA_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local slack = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + n * interval
local allow_at = new_tat - math.max(burst, n) * interval - slack
if allow_at > now then
  return {0, math.ceil(allow_at - now), now}
end
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', ttl_ms)
return {1, 0, now}
"""


class RateLimiter:
    """A GCRA limiter on one Redis key, shared by everyone using that key.

    `burst` is how many tokens an idle limiter hands out at once (1 = evenly
    spaced, up to the slack s). A request for n > burst tokens is granted as one GCRA step
    of n emission intervals: it waits until the limiter is idle (TAT <= now + s),
    is granted whole, and later requests then wait the n intervals it used.
    So a batch may send n at once but the long-run rate still holds; with
    competing small requests a large one may wait longer (no fairness).
    """

    def __init__(self, client: redis.Redis, *, key: str, rate: Rate, burst: int = 1) -> None:
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.client = client
        self.key = key
        self.rate = rate
        self.burst = burst
        self._interval_us = rate.interval * 1_000_000
        self._slack_us = min(rate.interval / 2, MAX_SLACK_SECONDS) * 1_000_000
        self._script = client.register_script(_GCRA_LUA)

    def decide(self, n: int = 1) -> Decision:
        """Try to take n tokens in one round trip and say what happened.

        Raises ValueError when n < 1, and redis errors as they come.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        granted, wait_us, now_us = self._script(
            keys=[self.key], args=[repr(self._interval_us), self.burst, n, repr(self._slack_us)]
        )
        return Decision(
            granted=bool(granted), wait=int(wait_us) / 1_000_000, server_time=int(now_us) / 1e6
        )

    def try_acquire(self, n: int = 1) -> float:
        """Take n tokens if available now.

        Returns 0.0 when granted, else the seconds to wait before asking again
        (nothing is taken then).
        """
        return self.decide(n).wait

    def acquire(self, n: int = 1, *, timeout: float | None = None) -> float:
        """Block until n tokens are granted; return the seconds spent waiting.

        Raises RateLimitTimeout, without sleeping in vain, as soon as the next
        possible grant lies beyond `timeout` seconds from the call.
        """
        start = time.monotonic()
        while True:
            decision = self.decide(n)
            waited = time.monotonic() - start
            if decision.granted:
                return waited
            if timeout is not None and waited + decision.wait > timeout:
                raise RateLimitTimeout(
                    f"rate limit {self.key!r}: {n} token(s) not available within {timeout}s"
                )
            time.sleep(decision.wait)
