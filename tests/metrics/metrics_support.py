"""Helpers for the metrics tests: serve the web app, scrape and parse /metrics.

`serve` is the same as tests/web/web_support.py's (a real uvicorn in a
thread); it is repeated here because that module is only importable from
tests/web.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from mailer.settings import Settings, load_settings
from mailer.testing.webserver import serve_app
from mailer.web.app import create_app

SECRET = "metrics-test-secret-key-0123456789abcdef"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

_SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? '
    r"(\S+)$"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": SECRET,
        "base_url": "https://mailer.example.com",
        "redis_url": None,
        "old_secret_keys": "",
    }
    return load_settings(**{**values, **overrides})


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """Run `create_app(settings)` under uvicorn in a thread; yield its base URL."""
    with serve_app(create_app(settings)) as url:
        yield url


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_exposition(text: str) -> Samples:
    """Parse Prometheus text format 0.0.4 strictly; raise AssertionError on
    anything a Prometheus server would reject or that breaks its rules
    (sample before its TYPE, a family split in two, a histogram whose buckets
    decrease or whose +Inf bucket is not its count)."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    types: dict[str, str] = {}
    order: list[str] = []
    samples: Samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, f"family {name} declared twice"
            types[name] = kind
            order.append(name)
            continue
        assert line and not line.startswith("#"), f"unexpected line {line!r}"
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels_text, value_text = match.groups()
        family = name
        if family not in types:
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert types.get(family) == "histogram", f"{name}: no TYPE before it"
        assert order[-1] == family, f"{name}: samples of {family} are not together"
        labels = frozenset((k, _unescape(v)) for k, v in _LABEL.findall(labels_text or ""))
        key = (name, labels)
        assert key not in samples, f"duplicate sample {line!r}"
        value = float(value_text)
        assert not math.isnan(value), line
        samples[key] = value
    for family, kind in types.items():
        if kind == "histogram":
            _check_histogram(family, samples)
    return samples


def _check_histogram(family: str, samples: Samples) -> None:
    series: dict[frozenset[tuple[str, str]], list[tuple[float, float]]] = {}
    for (name, labels), value in samples.items():
        if name == f"{family}_bucket":
            le = dict(labels)["le"]
            rest = frozenset(kv for kv in labels if kv[0] != "le")
            series.setdefault(rest, []).append((float(le), value))
    for rest, buckets in series.items():
        buckets.sort()
        counts = [n for _, n in buckets]
        assert counts == sorted(counts), f"{family}{dict(rest)}: buckets decrease"
        assert buckets[-1][0] == math.inf, f"{family}{dict(rest)}: no +Inf bucket"
        assert buckets[-1][1] == samples[(f"{family}_count", rest)], f"{family}: +Inf != count"
        assert (f"{family}_sum", rest) in samples


def scrape(base_url: str) -> tuple[httpx.Response, Samples]:
    r = httpx.get(f"{base_url}/metrics", timeout=20)
    assert r.status_code == 200, r.text
    return r, parse_exposition(r.text)


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The value of one sample, or None if it is absent."""
    return samples.get((name, frozenset(labels.items())))


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of every sample of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)
