"""A private PostgreSQL cluster (initdb + pg_ctl) that a fault suite may stop
and restart without touching the machine's shared server.

PostgreSQL refuses to run as root; when we are root the cluster is created and
run as the `postgres` system user (runuser).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mailer.embedded.redis_server import free_port


class PostgresClusterError(RuntimeError):
    """initdb or pg_ctl is missing or failed."""


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if not runuser:
            raise PostgresClusterError("running as root and no runuser to become postgres")
        return [runuser, "-u", "postgres", "--", *cmd]
    return cmd


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if not exe:
        raise PostgresClusterError(f"{name} not found on PATH")
    return exe


@dataclass
class PostgresCluster:
    datadir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        log = self.datadir.parent / "postgres.log"
        cmd = _as_owner([_tool("pg_ctl"), "-D", str(self.datadir), "-l", str(log), "-w", *args])
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise PostgresClusterError(f"pg_ctl {' '.join(args)}: {done.stderr or done.stdout}")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir}"
        self._pg_ctl("-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "stop")


def create_cluster(workdir: Path) -> PostgresCluster:
    """initdb a fresh cluster under `workdir` (trust auth on loopback) and start it."""
    workdir.mkdir(parents=True, exist_ok=True)
    datadir = workdir / "pgdata"
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
    cmd = _as_owner(
        [_tool("initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    )
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise PostgresClusterError(f"initdb: {done.stderr or done.stdout}")
    cluster = PostgresCluster(datadir=datadir, port=free_port())
    cluster.start()
    return cluster
