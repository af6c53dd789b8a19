"""Login, logout, the audit log pages, and the handler that renders AuthError."""

from __future__ import annotations
