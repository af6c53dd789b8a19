"""Start and stop Celery worker and beat processes (demo and tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 20) -> None:
        """Ask for a warm shutdown (SIGTERM), then kill if it takes too long."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL the process group (the worker and its pool children)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _spawn(name: str, args: list[str], env: Mapping[str, str], log: Path) -> Child:
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **env}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.app", *args],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Child(name, process, log)


def start_worker(
    env: Mapping[str, str],
    log: Path,
    *,
    concurrency: int = 2,
    hostname: str = "worker",
    loglevel: str = "INFO",
) -> Child:
    return _spawn(
        "worker",
        [
            "worker",
            f"--concurrency={concurrency}",
            "--pool=prefork",
            f"--loglevel={loglevel}",
            f"--hostname={hostname}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        env,
        log,
    )


def start_beat(env: Mapping[str, str], log: Path, *, loglevel: str = "INFO") -> Child:
    schedule = Path(env.get("MAILER_VAR_DIR", "var")) / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    return _spawn("beat", ["beat", f"--loglevel={loglevel}", f"--schedule={schedule}"], env, log)
