"""The `mailer` command line (typer + rich)."""

from __future__ import annotations

from mailer.cli.main import app

__all__ = ["app"]
