"""Signed tokens and identifiers that go into every message.

itsdangerous signs unsubscribe tokens; a list of secrets allows key rotation
(the newest signs, all verify).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Sequence

from itsdangerous import BadSignature, URLSafeSerializer


def _serializer(secrets: Sequence[str], salt: str) -> URLSafeSerializer:
    # itsdangerous signs with the last key and verifies with any of them.
    return _cached_serializer(tuple(secrets), salt)


@functools.lru_cache(maxsize=16)  # one per key set: a token is made for every message
def _cached_serializer(secrets: tuple[str, ...], salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(list(secrets), salt=salt)


def unsubscribe_token(secrets: Sequence[str], *, subscriber_id: int, list_id: int | None) -> str:
    """Return a URL-safe token naming a subscriber and a list (no expiry)."""
    return _serializer(secrets, "unsubscribe").dumps([subscriber_id, list_id])


def read_unsubscribe_token(secrets: Sequence[str], token: str) -> tuple[int, int | None] | None:
    """Return (subscriber_id, list_id), or None if the token is forged or altered."""
    try:
        sid, lid = _serializer(secrets, "unsubscribe").loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(sid, int) or not (lid is None or isinstance(lid, int)):
        return None
    return sid, lid


def message_id(*, delivery_id: int, part_id: int, secret: str, domain: str) -> str:
    """Return a Message-ID unique per delivery and stable across its retries
    (so a client that de-duplicates by Message-ID hides a repeated attempt)."""
    tag = hmac.new(secret.encode(), f"{part_id}.{delivery_id}".encode(), hashlib.sha256)
    return f"<{part_id}.{delivery_id}.{tag.hexdigest()[:10]}@{domain}>"
