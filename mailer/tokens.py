"""Signed tokens and identifiers that go into every message.

itsdangerous signs unsubscribe tokens; a list of secrets allows key rotation
(the newest signs, all verify).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Sequence

from itsdangerous import BadSignature, Signer, URLSafeSerializer

UNSUBSCRIBE_SALT = "unsubscribe.v2"


def _serializer(secrets: Sequence[str], salt: str) -> URLSafeSerializer:
    # itsdangerous signs with the last key and verifies with any of them.
    return _cached_serializer(tuple(secrets), salt)


@functools.lru_cache(maxsize=16)  # one per key set
def _cached_serializer(secrets: tuple[str, ...], salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(list(secrets), salt=salt)


def unsubscribe_token(secrets: Sequence[str], *, subscriber_id: int, list_id: int | None) -> str:
    """Return a URL-safe token naming a subscriber and a list (no expiry):
    `SUBSCRIBER.LIST.SIGNATURE` ("-" for no list), signed by itsdangerous's
    Signer with the newest secret.

    A token goes into every message. The first form, a URLSafeSerializer
    dump of `[subscriber, list]`, spent most of its time in `zlib.compress`
    (the serializer tries to compress every payload; 15-40 µs a token, from
    allocating zlib's 256 KB state), so the value is now signed as it is.
    Tokens of that first form are still read.
    """
    value = f"{subscriber_id}.{'-' if list_id is None else list_id}"
    return _signer(tuple(secrets)).sign(value).decode("ascii")


@functools.lru_cache(maxsize=16)  # one per key set
def _signer(secrets: tuple[str, ...]) -> Signer:
    return Signer(list(secrets), salt=UNSUBSCRIBE_SALT)


def read_unsubscribe_token(secrets: Sequence[str], token: str) -> tuple[int, int | None] | None:
    """Return (subscriber_id, list_id), or None if the token is forged or altered."""
    try:
        value = _signer(tuple(secrets)).unsign(token).decode("ascii")
    except (BadSignature, UnicodeError):
        return _read_first_form(secrets, token)
    sid, _, lid = value.partition(".")
    if not (sid.isascii() and sid.isdigit() and (lid == "-" or (lid.isascii() and lid.isdigit()))):
        return None
    return int(sid), None if lid == "-" else int(lid)


def _read_first_form(secrets: Sequence[str], token: str) -> tuple[int, int | None] | None:
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
