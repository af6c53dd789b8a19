"""Signed tokens and identifiers that go into every message.

itsdangerous signs unsubscribe tokens; a list of secrets allows key rotation
(the newest signs, all verify).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Sequence
from datetime import timedelta

from itsdangerous import BadSignature, Signer, TimestampSigner, URLSafeSerializer

UNSUBSCRIBE_SALT = "unsubscribe.v2"
PREVIEW_SALT = "part-preview"
#: how long a preview link of an unpublished part works (a test send's reader
#: may open it days later, up to the send)
PREVIEW_LIFETIME = timedelta(days=14)


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


def preview_token(secrets: Sequence[str], *, part_id: int, now: float | None = None) -> str:
    """Return a URL-safe token letting its holder see one unpublished part and
    its images for PREVIEW_LIFETIME: `PART.TIMESTAMP.SIGNATURE`, signed with
    the newest secret (itsdangerous's TimestampSigner; `now` in Unix seconds
    for tests)."""
    signer = _preview_signer(tuple(secrets))
    if now is None:
        return signer.sign(str(part_id)).decode("ascii")
    # itsdangerous takes the time from `get_timestamp`; a subclass fixes it.
    return _FixedTimeSigner(list(secrets), salt=PREVIEW_SALT, at=int(now)).sign(
        str(part_id)).decode("ascii")


def read_preview_token(secrets: Sequence[str], token: str, *,
                       max_age: timedelta = PREVIEW_LIFETIME) -> int | None:
    """Return the part id a preview token names, or None if it is forged,
    altered, malformed or older than `max_age`."""
    try:
        value = _preview_signer(tuple(secrets)).unsign(
            token, max_age=int(max_age.total_seconds())).decode("ascii")
    except (BadSignature, UnicodeError):
        return None
    return int(value) if value.isascii() and value.isdigit() else None


@functools.lru_cache(maxsize=16)  # one per key set
def _preview_signer(secrets: tuple[str, ...]) -> TimestampSigner:
    return TimestampSigner(list(secrets), salt=PREVIEW_SALT)


class _FixedTimeSigner(TimestampSigner):
    def __init__(self, *args: object, at: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._at = at

    def get_timestamp(self) -> int:
        return self._at


def message_id(*, delivery_id: int, part_id: int, secret: str, domain: str) -> str:
    """Return a Message-ID unique per delivery and stable across its retries
    (so a client that de-duplicates by Message-ID hides a repeated attempt)."""
    tag = hmac.digest(secret.encode(), f"{part_id}.{delivery_id}".encode(), hashlib.sha256)
    return f"<{part_id}.{delivery_id}.{tag.hex()[:10]}@{domain}>"


DRAFT_PREVIEW_SALT = "draft-preview"
#: a draft's images in the editor's preview frame; the page asks for a new one
#: with every preview
DRAFT_PREVIEW_LIFETIME = timedelta(hours=12)


def draft_preview_token(secrets: Sequence[str], *, slug: str) -> str:
    """Return a URL-safe token opening the images of the draft `slug` (the
    editor's preview frame sends no session): `SLUG.TIMESTAMP.SIGNATURE`."""
    return TimestampSigner(list(secrets), salt=DRAFT_PREVIEW_SALT).sign(slug).decode("ascii")


def read_draft_preview_token(secrets: Sequence[str], token: str) -> str | None:
    """Return the draft slug a token names, or None (forged, altered, expired)."""
    try:
        return TimestampSigner(list(secrets), salt=DRAFT_PREVIEW_SALT).unsign(
            token, max_age=int(DRAFT_PREVIEW_LIFETIME.total_seconds())).decode("ascii")
    except (BadSignature, UnicodeError):
        return None
