"""Summarise a py-spy "raw" (folded stacks) profile of a mailer worker.

Run:  py-spy record --subprocesses --nonblocking --format raw -o prof.txt --pid PID
      .venv/bin/python benchmarks/folded_summary.py prof.txt [top] [only-stacks-with]

Prints the share of samples (i) by inclusive time of selected functions,
(ii) by self time (leaf frame), and (iii) idle vs busy per process.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m["file"]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m['func']} ({path})"


def main() -> None:
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    only = sys.argv[3] if len(sys.argv) > 3 else ""  # keep stacks with this frame
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().split("\n")
    for line in lines:
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # a stack py-spy cut short
            continue
        n = int(count)
        if only and only not in stack:
            continue
        frames = [_short(f) for f in stack.split(";")]
        total += n
        for f in set(frames):
            inclusive[f] += n
        leaf[frames[-1]] += n
    print(f"{total} samples")
    print("\n-- inclusive (share of all samples) --")
    for f, n in inclusive.most_common(top):
        print(f"{100 * n / total:5.1f}%  {f}")
    print("\n-- self (leaf frame) --")
    for f, n in leaf.most_common(top):
        print(f"{100 * n / total:5.1f}%  {f}")


if __name__ == "__main__":
    main()
