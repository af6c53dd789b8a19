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
from itsdangerous.encoding import base64_encode


def _serializer(secrets: Sequence[str], salt: str) -> URLSafeSerializer:
    # itsdangerous signs with the last key and verifies with any of them.
    return _cached_serializer(tuple(secrets), salt)


@functools.lru_cache(maxsize=16)  # one per key set: a token is made for every message
def _cached_serializer(secrets: tuple[str, ...], salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(list(secrets), salt=salt)


def unsubscribe_token(secrets: Sequence[str], *, subscriber_id: int, list_id: int | None) -> str:
    """Return a URL-safe token naming a subscriber and a list (no expiry).

    Exactly what the serializer's `dumps` returns (tests/test_tokens.py):
    the payload is the serializer's own, and the signature is itsdangerous's
    default (HMAC-SHA1 with the key derived from the newest secret). `dumps`
    builds a Signer and derives that key anew for every token; a token goes
    into every message, so the key is derived once per key set here.
    """
    serializer, key = _unsubscribe_signing(tuple(secrets))
    payload = serializer.dump_payload([subscriber_id, list_id])
    return (payload + b"." + base64_encode(hmac.digest(key, payload, "sha1"))).decode()


@functools.lru_cache(maxsize=16)
def _unsubscribe_signing(secrets: tuple[str, ...]) -> tuple[URLSafeSerializer, bytes]:
    serializer = _cached_serializer(secrets, "unsubscribe")
    signer = serializer.make_signer()
    if signer.digest_method().name != "sha1" or signer.sep != b".":  # not the default: be plain
        raise RuntimeError("itsdangerous's signing defaults changed; update unsubscribe_token")
    return serializer, signer.derive_key()


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
    tag = hmac.digest(secret.encode(), f"{part_id}.{delivery_id}".encode(), hashlib.sha256)
    return f"<{part_id}.{delivery_id}.{tag.hex()[:10]}@{domain}>"
