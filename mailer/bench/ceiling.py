"""The ceiling: W processes, each one persistent smtplib connection, sending
the same prerendered bytes (rendered once) N/W times. Nothing else: no
database, no broker, no rate limiter, no personalisation.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import smtplib
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CeilingResult:
    messages: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds per chunk
    peak_rss: list[int] = field(default_factory=list)  # bytes, per process
    cpu_seconds: float = 0.0
    errors: int = 0


def _worker(
    host: str,
    port: int,
    envelope_from: str,
    data: bytes,
    first: int,
    count: int,
    chunk: int,
    barrier: Any,
    results: Any,
) -> None:
    lat: list[float] = []
    sent = errors = 0
    smtp = smtplib.SMTP(host, port, timeout=30)
    smtp.ehlo()
    barrier.wait()
    t_start = os.times()
    t_chunk = time.perf_counter()
    for i in range(first, first + count):
        try:
            smtp.sendmail(envelope_from, [f"cio{i:07d}@city{i % 1000:03d}.example.jp"], data)
            sent += 1
        except smtplib.SMTPException:
            errors += 1
        if (i - first + 1) % chunk == 0:
            now = time.perf_counter()
            lat.append(now - t_chunk)
            t_chunk = now
    smtp.quit()
    t = os.times()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    cpu = (t.user + t.system) - (t_start.user + t_start.system)  # sending only
    results.put((sent, errors, lat, rss, cpu))


def run_ceiling(
    *,
    host: str,
    port: int,
    envelope_from: str,
    data: bytes,
    messages: int,
    workers: int,
    chunk: int = 200,
) -> CeilingResult:
    """Send `messages` copies of `data` from `workers` fresh (spawned) processes."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    results = ctx.Queue()
    share, extra = divmod(messages, workers)
    procs = []
    first = 0
    for w in range(workers):
        count = share + (1 if w < extra else 0)
        p = ctx.Process(
            target=_worker,
            args=(host, port, envelope_from, data, first, count, chunk, barrier, results),
        )
        p.start()
        procs.append(p)
        first += count
    barrier.wait(timeout=120)
    t0 = time.perf_counter()
    out = CeilingResult(messages=0, seconds=0.0)
    for _ in procs:
        sent, errors, lat, rss, cpu = results.get(timeout=3600)
        out.messages += sent
        out.errors += errors
        out.latencies.extend(lat)
        out.peak_rss.append(rss)
        out.cpu_seconds += cpu
    out.seconds = time.perf_counter() - t0
    for p in procs:
        p.join(timeout=30)
    return out
