"""How an address is compared: the normalised form and the suppression key.

Pure functions with no imports of ours, so the models (which keep the key
beside each subscriber) and the services can both use them.
"""

from __future__ import annotations

import hashlib


def normalise(email: str) -> str:
    """Return the address as compared: trimmed and lower-cased."""
    return email.strip().lower()


def email_hash(email: str) -> str:
    """Return the hex sha256 of the normalised address (the suppression key)."""
    return hashlib.sha256(normalise(email).encode("utf-8")).hexdigest()
