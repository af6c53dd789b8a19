"""VERP return paths: every delivery gets its own envelope sender.

A bounce comes back to `bounces+TOKEN@domain`, and TOKEN names the delivery
(ledger row) it is about, so a bounce always maps to one subscriber and one
part even when the DSN itself is unreadable. TOKEN is the delivery id in base36
followed by a 50-bit HMAC in base32, both lowercase: some MTAs lowercase local
parts, so parsing ignores case, and the MAC keeps anyone from forging bounces
that would suppress other subscribers.

The MAC covers the whole lowercased address (local part, id and domain), so a
token is valid only at the address it was issued for.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re

MAX_DELIVERY_ID = 2**63 - 1  # a PostgreSQL BIGINT
#: The id a test send's return path carries. Ledger ids count up from 1 and
#: never reach it, so a test message has the readers' envelope sender (same
#: shape, length and domain) while a bounce of it matches no delivery and
#: touches no subscriber (bounces/apply notes "not in the ledger").
TEST_DELIVERY_ID = MAX_DELIVERY_ID
MIN_SECRET_BYTES = 16
MAC_CHARS = 10  # 10 base32 characters = 50 bits
MAX_LOCAL_PART = 64  # RFC 5321 4.5.3.1.1

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[1-9a-z][0-9a-z]*$")  # canonical: no leading zeros
_MAC_RE = re.compile(r"^[a-z2-7]+$")
_LOCAL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$")
_DOMAIN_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
_MAC_CONTEXT = b"mailer-verp-v1\x00"


def make_return_path(
    delivery_id: int, *, secret: bytes, domain: str, local: str = "bounces"
) -> str:
    """Return the envelope sender `local+TOKEN@domain` for one delivery.

    A Unicode domain is written in its IDNA (xn--) form. Raises ValueError when
    the id is outside 1..2**63-1, the secret is shorter than 16 bytes, `local`
    is not a lowercase dot-atom without "+", or the local part would exceed
    64 characters.
    """
    if not 1 <= delivery_id <= MAX_DELIVERY_ID:
        raise ValueError(f"delivery id {delivery_id} outside 1..2**63-1")
    _check_secret(secret)
    if not _LOCAL_RE.match(local):
        raise ValueError(f"invalid VERP local part {local!r}: use lowercase letters, digits, . _ -")
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None:
        raise ValueError(f"invalid VERP domain {domain!r}")
    id36 = _to_base36(delivery_id)
    token = id36 + _mac(secret, local, id36, ascii_domain)
    local_part = f"{local}+{token}"
    if len(local_part) > MAX_LOCAL_PART:
        raise ValueError(
            f"VERP local part {local_part!r} is longer than {MAX_LOCAL_PART} characters"
        )
    return f"{local_part}@{ascii_domain}"


def parse_return_path(address: str, *, secret: bytes, local: str = "bounces") -> int | None:
    """Return the delivery id a VERP address was made for, or None.

    Accepts `<address>` and any change of letter case. Returns None for
    anything else that is not exactly an address `make_return_path` issued
    with this secret and local part: a wrong MAC, another form, non-ASCII.
    Raises ValueError only for a secret shorter than 16 bytes.
    """
    _check_secret(secret)
    text = address.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    if not text.isascii():
        return None
    local_part, at, domain = text.lower().rpartition("@")
    prefix = local.lower() + "+"
    if not at or not domain or not local_part.startswith(prefix):
        return None
    token = local_part[len(prefix) :]
    id36, mac = token[:-MAC_CHARS], token[-MAC_CHARS:]
    if not _ID_RE.match(id36) or len(mac) != MAC_CHARS or not _MAC_RE.match(mac):
        return None
    delivery_id = int(id36, 36)
    if delivery_id > MAX_DELIVERY_ID:
        return None
    expected = _mac(secret, local.lower(), id36, domain)
    if not hmac.compare_digest(mac, expected):
        return None
    return delivery_id


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"VERP secret must be at least {MIN_SECRET_BYTES} bytes")


@functools.lru_cache(maxsize=64)  # one domain per deployment; IDNA is slow, this is per message
def _ascii_domain(domain: str) -> str | None:
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return ascii_domain if _DOMAIN_RE.match(ascii_domain) else None


def _to_base36(n: int) -> str:
    digits = []
    while n:
        n, r = divmod(n, 36)
        digits.append(_B36[r])
    return "".join(reversed(digits))


def _mac(secret: bytes, local: str, id36: str, domain: str) -> str:
    message = _MAC_CONTEXT + f"{local}+{id36}@{domain}".encode("ascii")
    digest = hmac.digest(secret, message, hashlib.sha256)
    # 5 bytes of base32 are 8 characters; take 7 bytes (12 chars) and cut to 10.
    return base64.b32encode(digest[:7]).decode("ascii").lower()[:MAC_CHARS]
