"""Describe the machine a figure was measured on."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from typing import Any

import psutil


def _cmd(*args: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(args, capture_output=True, text=True, timeout=5)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    return ""


def code_version() -> dict[str, str]:
    """Git HEAD and digests of the hot path's files (changes not yet committed show here)."""
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = {"git_head": _cmd("git", "-C", str(root), "rev-parse", "--short", "HEAD")}
    for rel in (
        "mailer/delivery/engine.py",
        "mailer/delivery/ledger.py",
        "mailer/delivery/relays.py",
        "mailer/delivery/smtp.py",
        "mailer/delivery/journal.py",
        "mailer/render/message.py",
        "mailer/tokens.py",
        "mailer/runtime.py",
    ):
        with contextlib.suppress(OSError):
            out[rel] = hashlib.sha256((root / rel).read_bytes()).hexdigest()[:12]
    return out


def describe(*, redis_url: str | None = None, database_url: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    info["cpu_model"] = cpu
    info["code"] = code_version()
    if redis_url:
        import redis

        with contextlib.suppress(Exception):
            info["redis"] = redis.Redis.from_url(redis_url).info("server")["redis_version"]
    if database_url and database_url.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        with contextlib.suppress(Exception):
            eng = create_engine(database_url)
            with eng.connect() as conn:
                info["postgresql"] = conn.execute(text("SHOW server_version")).scalar()
            eng.dispose()
    elif database_url:
        import sqlite3

        info["sqlite"] = sqlite3.sqlite_version
    return info
