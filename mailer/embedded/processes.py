"""Start and stop Celery worker and beat processes (demo and tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1  # prctl(2)


def tied_to_parent() -> Callable[[], None] | None:
    """Return a `preexec_fn` that makes the child get SIGTERM when its parent
    dies (Linux prctl), so a parent killed outright (SIGKILL) leaves no worker,
    beat or Redis behind; None where that is not available. The C function is
    looked up here, in the parent: the child only calls it (no imports, no locks
    between fork and exec)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong]

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


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


def _spawn(
    name: str, args: list[str], env: Mapping[str, str], log: Path, *, tied: bool = False
) -> Child:
    """Start `celery -A workers.app ARGS` in its own session, output to `log`.
    `tied`: it runs in the log's folder and ends when this process dies
    (the demo; tests keep their own cleanup)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **env}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.app", *args],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=log.parent if tied else None,
            preexec_fn=tied_to_parent() if tied else None,
        )
    return Child(name, process, log)


def start_worker(
    env: Mapping[str, str],
    log: Path,
    *,
    concurrency: int = 2,
    hostname: str = "worker",
    loglevel: str = "INFO",
    tied: bool = False,
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
        tied=tied,
    )


def start_beat(
    env: Mapping[str, str], log: Path, *, loglevel: str = "INFO", tied: bool = False
) -> Child:
    schedule = Path(env.get("MAILER_VAR_DIR", "var")).absolute() / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    return _spawn("beat", ["beat", f"--loglevel={loglevel}", f"--schedule={schedule}"], env, log,
                  tied=tied)
