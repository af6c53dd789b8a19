"""The suppression key: a hash of the normalised address.

Kept beside each suppressed address, and alone after an erasure, so an
address can be recognised (and never mailed again) without being stored.
"""

from __future__ import annotations

import hashlib


def email_hash(email: str) -> str:
    """Return the hex sha256 of the address, trimmed and lower-cased."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()
