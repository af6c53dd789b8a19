"""DKIM signing of outgoing messages (RFC 6376, rsa-sha256, relaxed/relaxed).

Bulk senders must sign with a 2048-bit key aligned with the From domain, and
the signature must cover List-Unsubscribe and List-Unsubscribe-Post (RFC 8058)
or receivers ignore one-click unsubscribe. Signing is pure: bytes in, bytes
out; reading the key file happens once, in `load_dkim_key`.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

import dkim
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

MIN_KEY_BITS = 2048

# The header fields we sign when present. Each is listed once more than it
# occurs ("oversigning") so that adding another instance, e.g. a second
# List-Unsubscribe pointing elsewhere, breaks the signature.
SIGNED_HEADERS: tuple[str, ...] = (
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)

_SELECTOR_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]*)(?:\.[A-Za-z0-9_-]+)*$")
_HEADER_NAME_RE = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:", re.MULTILINE)
_RSA_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1 rsaEncryption


class DkimKeyError(ValueError):
    """A DKIM key file could not be read or is not a usable RSA private key."""


@dataclass(frozen=True)
class DkimKey:
    """A signing key: `selector._domainkey.domain` publishes its public half.

    `domain` may be given in Unicode; it is signed in its IDNA (xn--) form.
    """

    selector: str
    domain: str
    private_key_pem: bytes

    def __post_init__(self) -> None:
        if not _SELECTOR_RE.match(self.selector):
            raise ValueError(f"invalid DKIM selector {self.selector!r}")
        if not self.domain or self.domain.startswith(".") or self.domain.endswith("."):
            raise ValueError(f"invalid DKIM domain {self.domain!r}")

    @property
    def ascii_domain(self) -> str:
        """The domain as it appears in d= and in DNS."""
        return self.domain.encode("idna").decode("ascii").lower()


def load_dkim_key(path: Path, *, selector: str, domain: str) -> DkimKey:
    """Read an RSA private key (PKCS#1 or PKCS#8 PEM) for signing.

    Raises DkimKeyError naming `path` when the file cannot be read, is not an
    RSA private key, or is shorter than MIN_KEY_BITS.
    """
    try:
        pem = path.read_bytes()
    except OSError as e:
        raise DkimKeyError(f"cannot read DKIM key {path}: {e.strerror or e}") from e
    # dkimpy finds the PEM body by "--\n"; keys saved on Windows have CRLF.
    pem = pem.replace(b"\r\n", b"\n")
    try:
        bits = _key_bits(pem)
    except DkimKeyError as e:
        raise DkimKeyError(f"invalid DKIM key {path}: {e}") from e
    if bits < MIN_KEY_BITS:
        raise DkimKeyError(
            f"DKIM key {path} has {bits} bits; bulk senders need at least {MIN_KEY_BITS}"
        )
    return DkimKey(selector=selector, domain=domain, private_key_pem=pem)


def sign(message: bytes, key: DkimKey) -> bytes:
    """Return `message` with a DKIM-Signature header field prepended.

    Signs the fields of SIGNED_HEADERS that are present (oversigned) and the
    whole body. The message may use CRLF or LF line endings; the new field uses
    the same. Raises DkimKeyError if the key is unusable and ValueError if the
    message has no From field or a malformed header.
    """
    head = message.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    linesep = b"\r\n" if b"\r\n" in head else b"\n"
    counts: dict[str, int] = {}
    for match in _HEADER_NAME_RE.finditer(head):
        name = match.group(1).decode("ascii").lower()
        counts[name] = counts.get(name, 0) + 1
    include = [
        name.lower().encode("ascii")
        for name in SIGNED_HEADERS
        for _ in range(counts.get(name.lower(), 0) + 1)
        if counts.get(name.lower())
    ]
    if b"from" not in include:
        raise ValueError("cannot DKIM-sign a message without a From header field")
    try:
        signature: bytes = dkim.sign(
            message,
            key.selector.encode("ascii"),
            key.ascii_domain.encode("ascii"),
            key.private_key_pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
            linesep=linesep,
        )
    except dkim.KeyFormatError as e:
        raise DkimKeyError(f"unusable DKIM key for {key.selector}._domainkey.{key.domain}") from e
    except dkim.MessageFormatError as e:
        raise ValueError(f"cannot DKIM-sign a malformed message: {e}") from e
    if linesep == b"\n":
        signature = signature.replace(b"\r\n", b"\n")
    return signature + message


def dns_txt_value(key: DkimKey) -> str:
    """The TXT record's content, "v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>"."""
    pk = _private_key_fields(key.private_key_pem)
    der = _spki_der(pk["modulus"], pk["publicExponent"])
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode("ascii")


def dns_txt_record(key: DkimKey) -> str:
    """The zone line an operator publishes, e.g.

    `news._domainkey.example.jp TXT "v=DKIM1; k=rsa; p=MIIB…" "…"`

    A DNS character-string holds at most 255 bytes and a 2048-bit key does not
    fit in one, so the value is split into several quoted strings, which
    resolvers join back together.
    """
    value = dns_txt_value(key)
    chunks = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    return f"{key.selector}._domainkey.{key.ascii_domain} TXT {chunks}"


def _private_key_fields(pem: bytes) -> dict[str, int]:
    try:
        fields: dict[str, int] = parse_pem_private_key(pem)
    except (UnparsableKeyError, ValueError, IndexError) as e:
        raise DkimKeyError("not an RSA private key in PKCS#1 or PKCS#8 PEM form") from e
    return fields


def _key_bits(pem: bytes) -> int:
    return int(_private_key_fields(pem)["modulus"]).bit_length()


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def _der_int(value: int) -> bytes:
    # Big-endian two's complement: a leading zero keeps a high bit from meaning "negative".
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _spki_der(modulus: int, exponent: int) -> bytes:
    rsa_public_key = _der(0x30, _der_int(modulus) + _der_int(exponent))
    algorithm = _der(0x30, _der(0x06, _RSA_OID) + _der(0x05, b""))
    return _der(0x30, algorithm + _der(0x03, b"\x00" + rsa_public_key))
