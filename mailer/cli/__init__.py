"""The `mailer` command line (typer + rich)."""

from __future__ import annotations

from mailer.cli.root import app

__all__ = ["app"]
