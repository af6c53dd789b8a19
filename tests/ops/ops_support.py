"""Constants shared by the ops tests and their fixtures."""

from __future__ import annotations

RELAY_USER, RELAY_PASSWORD = "editor", "p@ss word"
