"""The layering of docs/architecture.md, checked on the real import graph:
no import cycles, services never reach for a door, mailer/ never imports Celery."""

from __future__ import annotations

import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from import_cycles import import_cycles  # noqa: E402

#: mailer modules that may import celery, and why
CELERY_ALLOWED = {
    "mailer.logging_setup",  # installs our log format on Celery's loggers (worker start)
    "mailer.bench.naive",  # the naive design the benchmark compares with is a Celery app
}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("mailer", "workers", cache_dir=None, include_external_packages=True)


def test_mailer_and_workers_have_no_import_cycle() -> None:
    assert import_cycles("mailer", "workers") == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclepkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyclepkg import a  # lazy: still a cycle\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cycles = import_cycles("cyclepkg")
    assert [sorted(c) for c in cycles] == [["cyclepkg.a", "cyclepkg.b"]]


def test_services_never_import_a_door(graph: grimp.ImportGraph) -> None:
    bad = []
    for module in graph.find_descendants("mailer.services"):
        for target in graph.find_modules_directly_imported_by(module):
            if target.startswith(("mailer.web", "mailer.cli", "workers", "celery")):
                bad.append(f"{module} -> {target}")
    assert bad == []


def test_mailer_never_imports_celery_outside_the_named_exceptions(
        graph: grimp.ImportGraph) -> None:
    importers = {m for m in graph.find_modules_that_directly_import("celery")
                 if m.startswith("mailer.")}
    assert "mailer.bench.naive" in importers  # the graph does see external imports
    assert importers <= CELERY_ALLOWED, importers - CELERY_ALLOWED
