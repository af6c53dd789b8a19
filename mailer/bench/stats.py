"""Process and latency statistics: peak RSS (VmHWM), CPU seconds, percentiles."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import psutil


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set (VmHWM from /proc); current RSS elsewhere."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(t.user + t.system)


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    try:
        p = psutil.Process(pid)
        return [pid, *(c.pid for c in p.children(recursive=True))]
    except psutil.Error:
        return []


@dataclass
class CpuMeter:
    """CPU seconds of a set of processes between `start()` and `stop()`."""

    pids: list[int] = field(default_factory=list)
    _before: dict[int, float] = field(default_factory=dict)

    def start(self, pids: Iterable[int]) -> None:
        self.pids = list(pids)
        self._before = {p: cpu_seconds(p) for p in self.pids}

    def stop(self, extra_pids: Iterable[int] = ()) -> float:
        """Return CPU seconds used since start (processes born meanwhile count whole)."""
        total = 0.0
        for p in {*self.pids, *extra_pids}:
            total += max(0.0, cpu_seconds(p) - self._before.get(p, 0.0))
        return total


def mib(n: int | float | None) -> float | None:
    return None if n is None else round(n / (1024 * 1024), 1)
