"""`mailer bench` at a tiny size: every design sends every message (no timing checks)."""

from __future__ import annotations

import json

import pytest

from mailer.bench.runner import BenchOptions, run_bench


@pytest.mark.slow
def test_bench_tiny_run_counts_are_consistent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILER_REDIS_URL", raising=False)  # a private redis-server
    # Two full batches of 200: each lasts well over the sampler's 50 ms poll
    # (a batch of 20 could start and end between two polls, and its latency
    # would go unseen).
    n = 400
    report = run_bench(
        BenchOptions(
            recipients=n, workers=1, sqlite=True, sink="builtin", naive_cap=10, timeout=120
        ),
        say=lambda _msg: None,
    )
    assert report.sink == "builtin"
    assert any("bottleneck" in w for w in report.warnings)
    rows = {r.design: r for r in report.rows}
    assert set(rows) == {"mailer", "ceiling", "naive"}
    assert rows["mailer"].messages == n
    assert report.product["counts"] == {"sent": n}
    assert rows["ceiling"].messages == n
    assert rows["naive"].messages == 10  # capped sample
    assert len(rows["naive"].latencies) == 10
    assert rows["mailer"].latencies  # at least one claimed batch observed
    assert 0 < report.part["text_bytes"] < report.part["message_bytes"] <= 20 * 1024
    assert report.part["blocks_kept"] >= 1
    assert rows["ceiling"].ratio_to_ceiling == pytest.approx(1.0)
    assert rows["naive"].ratio_to_naive == pytest.approx(1.0)
    data = json.loads(report.to_json())
    assert [d["design"] for d in data["designs"]] == ["mailer", "ceiling", "naive"]
    assert all(d["messages"] > 0 for d in data["designs"])
    # the built-in sink runs in this process: its CPU is not the sink's alone
    assert all(d["sink_cpu_seconds"] is None for d in data["designs"])
