"""The suppression key, kept importable here; the rules live in
`mailer.services.suppression` (is an address suppressed, adding one)."""

from __future__ import annotations

from mailer.services.suppression import email_hash

__all__ = ["email_hash"]
