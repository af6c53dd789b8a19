"""Route modules of the web app, one per concern."""

from __future__ import annotations

#: methods of every read-only route: link scanners and probes also send HEAD
READ = ["GET", "HEAD"]
