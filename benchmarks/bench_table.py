"""Render `mailer bench --json` reports as one markdown table.

Run: .venv/bin/python benchmarks/bench_table.py report1.json [report2.json …]
"""

from __future__ import annotations

import json
import sys


def _f(v: object, fmt: str) -> str:
    return "–" if v is None else fmt.format(v)


def main() -> None:
    print(
        "| N | W | part | load | design | msgs | s | msg/s | of ceiling | × naive "
        "| p50 ms | p99 ms | peak RSS MiB | CPU s | sink CPU s |"
    )
    print("|" + "---|" * 15)
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        o, load = d["options"], d["machine"].get("load_average", [None])[0]
        kb = d["part"]["message_bytes"] / 1024
        for r in d["designs"]:
            print(
                f"| {o['recipients']:,} | {o['workers']} | {kb:.0f} KB | {_f(load, '{:.1f}')} "
                f"| {r['design']} "
                f"| {r['messages']:,} | {r['seconds']:.1f} | {r['msgs_per_second']:,.0f} "
                f"| {_f(r['ratio_to_ceiling'], '{:.0%}')} | {_f(r['ratio_to_naive'], '{:.1f}')} "
                f"| {_f(r['p50_ms'], '{:.0f}')} | {_f(r['p99_ms'], '{:.0f}')} "
                f"| {_f(r['peak_rss_mib'], '{:.0f}')} | {r['cpu_seconds']:.1f} "
                f"| {_f(r.get('sink_cpu_seconds'), '{:.1f}')} |"
            )


if __name__ == "__main__":
    main()
