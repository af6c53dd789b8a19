"""The bench report: one row per design, printed as a table or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from mailer.bench.stats import mib, percentile


@dataclass
class DesignRow:
    design: str
    messages: int
    seconds: float
    latencies: list[float] = field(default_factory=list, repr=False)
    latency_unit: str = ""
    peak_rss_bytes: int = 0  # the largest of the design's sending processes
    cpu_seconds: float = 0.0
    #: CPU seconds of Postfix's smtp-sink while this design ran (None: built-in sink)
    sink_cpu_seconds: float | None = None
    note: str = ""
    ratio_to_ceiling: float | None = None
    ratio_to_naive: float | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def p50_ms(self) -> float | None:
        v = percentile(self.latencies, 50)
        return None if v is None else v * 1000

    @property
    def p99_ms(self) -> float | None:
        v = percentile(self.latencies, 99)
        return None if v is None else v * 1000

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("latencies")
        d.update(
            msgs_per_second=round(self.rate, 1),
            p50_ms=_r(self.p50_ms),
            p99_ms=_r(self.p99_ms),
            latency_samples=len(self.latencies),
            peak_rss_mib=mib(self.peak_rss_bytes),
            seconds=round(self.seconds, 3),
            cpu_seconds=round(self.cpu_seconds, 2),
            sink_cpu_seconds=_r(self.sink_cpu_seconds, 2),
            ratio_to_ceiling=_r(self.ratio_to_ceiling, 3),
            ratio_to_naive=_r(self.ratio_to_naive, 2),
        )
        return d


def _r(v: float | None, nd: int = 1) -> float | None:
    return None if v is None else round(v, nd)


@dataclass
class BenchReport:
    options: dict[str, Any]
    machine: dict[str, Any]
    part: dict[str, Any]
    sink: str
    warnings: list[str] = field(default_factory=list)
    rows: list[DesignRow] = field(default_factory=list)
    product: dict[str, Any] = field(default_factory=dict)

    def row(self, design: str) -> DesignRow | None:
        return next((r for r in self.rows if r.design == design), None)

    def compute_ratios(self) -> None:
        ceiling, naive = self.row("ceiling"), self.row("naive")
        for r in self.rows:
            if ceiling and ceiling.rate:
                r.ratio_to_ceiling = r.rate / ceiling.rate
            if naive and naive.rate:
                r.ratio_to_naive = r.rate / naive.rate

    def to_dict(self) -> dict[str, Any]:
        return {
            "options": self.options,
            "machine": self.machine,
            "part": self.part,
            "sink": self.sink,
            "warnings": self.warnings,
            "product": self.product,
            "designs": [r.to_dict() for r in self.rows],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str)

    def print(self, console: Console) -> None:
        for w in self.warnings:
            console.print(f"[bold yellow]warning:[/] {w}", highlight=False)
        p = self.part
        console.print(
            f"part: {p['message_bytes'] / 1024:.1f} KB per message "
            f"(text {p['text_bytes'] / 1024:.1f} KB + html {p['html_bytes'] / 1024:.1f} KB "
            f"before base64), sink: {self.sink}",
            highlight=False,
        )
        t = Table(
            title=f"mailer bench: {self.options['recipients']} recipients, "
            f"W={self.options['workers']}, {self.options['database']}"
        )
        for col in (
            "design",
            "msgs",
            "secs",
            "msg/s",
            "/ceil",
            "×naive",
            "p50 ms",
            "p99 ms",
            "RSS MiB",
            "CPU s",
        ):
            t.add_column(col, justify="left" if col == "design" else "right")
        for r in self.rows:
            t.add_row(
                r.design,
                str(r.messages),
                f"{r.seconds:.2f}",
                f"{r.rate:,.0f}",
                _fmt(r.ratio_to_ceiling, "{:.0%}"),
                _fmt(r.ratio_to_naive, "{:.1f}×"),
                _fmt(r.p50_ms, "{:.0f}"),
                _fmt(r.p99_ms, "{:.0f}"),
                _fmt(mib(r.peak_rss_bytes), "{:.0f}"),
                f"{r.cpu_seconds:.1f}",
            )
        console.print(t)
        for r in self.rows:
            console.print(f"  {r.design}: latency per {r.latency_unit}. {r.note}", highlight=False)
        if self.product:
            console.print(
                "  pipeline: " + ", ".join(f"{k}={v}" for k, v in self.product.items()),
                highlight=False,
            )


def _fmt(v: float | None, f: str) -> str:
    return "-" if v is None else f.format(v)
