"""Soak the global rate limiter: N processes hammer one key; print what they got.

    .venv/bin/python benchmarks/ratelimit_soak.py --redis redis://127.0.0.1:6379/0 \
        --rate 50/s --burst 1 --processes 4 --seconds 60

Prints the achieved rate (grants in the run / seconds), its error against the
limit, the most grants in any 1-second window (GCRA bound: per-second rate +
burst) and the Redis round trips per grant. Uses a fresh random key.
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing
import time
import uuid
from typing import Any

import redis

from mailer.delivery.ratelimit import Rate, RateLimiter, parse_rate


def _worker(
    url: str, key: str, rate: Rate, burst: int, seconds: float, barrier: Any, out: Any
) -> None:
    client = redis.Redis.from_url(url)
    limiter = RateLimiter(client, key=key, rate=rate, burst=burst)
    client.ping()
    grants: list[float] = []
    calls = 0
    barrier.wait(timeout=120)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        decision = limiter.decide(1)
        calls += 1
        if decision.granted:
            grants.append(decision.server_time)
        else:
            time.sleep(decision.wait)
    out.put((grants, calls))
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rate", type=parse_rate, default=parse_rate("50/s"))
    parser.add_argument("--burst", type=int, default=1)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(args.processes + 1)
    out = ctx.Queue()
    key = f"mailer-bench:ratelimit:{uuid.uuid4().hex[:12]}"
    procs = [
        ctx.Process(
            target=_worker,
            args=(args.redis, key, args.rate, args.burst, args.seconds, barrier, out),
        )
        for _ in range(args.processes)
    ]
    for p in procs:
        p.start()
    client = redis.Redis.from_url(args.redis)
    barrier.wait(timeout=120)
    sec, usec = client.time()
    start_us = sec * 1_000_000 + usec
    grants: list[int] = []
    calls = 0
    for _ in procs:
        times, n = out.get(timeout=args.seconds + 60)
        grants.extend(round(t * 1_000_000) for t in times)
        calls += n
    for p in procs:
        p.join()
    client.delete(key)

    grants.sort()
    end_us = start_us + int(args.seconds * 1_000_000)
    in_run = sum(1 for t in grants if start_us <= t < end_us)
    achieved = in_run / args.seconds
    limit = args.rate.per_second
    peak = max(
        (bisect.bisect_right(grants, t + 1_000_000) - i for i, t in enumerate(grants)), default=0
    )
    print(
        f"{args.processes} processes, limit {limit:g}/s, burst {args.burst}, {args.seconds:g} s: "
        f"achieved {achieved:.2f}/s ({(achieved - limit) / limit:+.2%}), "
        f"max in any 1 s window {peak} (bound {limit + args.burst:g}), "
        f"{calls / max(len(grants), 1):.2f} round trips per grant"
    )


if __name__ == "__main__":
    main()
