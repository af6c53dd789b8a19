"""One `mailer demo` at a time on a var folder.

A second `mailer demo` (or `make serve` in a second terminal) while the first
still runs used to start a second worker and beat on the same database,
replace the password the first terminal printed, and with --reset remove the
running demo's data. Now it stops at once, says why, and touches nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailer.demo import DemoBusy, demo_lock
from mailer.settings import Settings

MAILER = str(Path(sys.executable).with_name("mailer"))


def _settings(var: Path) -> Settings:
    return Settings(var_dir=var)


def test_a_second_demo_is_refused_while_the_first_runs_and_nothing_is_removed(
        tmp_path: Path) -> None:
    var = tmp_path / "var"
    kept = var / "demo" / "outbox" / "kept.eml"
    kept.parent.mkdir(parents=True)
    kept.write_text("the running demo's mail")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_VAR_DIR"] = str(var)
    with demo_lock(_settings(var)) as lock:
        assert lock == var.absolute() / "demo.lock"
        for args in (["demo", "--reset"], ["demo", "--serve", "--port", "0"]):
            done = subprocess.run([MAILER, *args], cwd=empty, env=env, capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 1, (args, done.stdout, done.stderr)
            said = " ".join(done.stderr.split())
            assert f"別の mailer demo（プロセス {os.getpid()}）が" in said, said
            assert "Ctrl-C で止めてから" in said and "MAILER_VAR_DIR" in said
            assert "起動しています" not in done.stdout
            assert kept.read_text() == "the running demo's mail"  # --reset did not run
        with pytest.raises(DemoBusy) as busy, demo_lock(_settings(var)):
            pass
        assert busy.value.pid == str(os.getpid())
    assert os.listdir(empty) == []
    with demo_lock(_settings(var)):  # released when the first run ends
        pass
