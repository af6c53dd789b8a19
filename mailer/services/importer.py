"""Read a subscriber CSV the way Japanese offices produce it.

Pure: bytes in, a `ParsedFile` out (valid rows, every rejected row with its
line number and reason, warnings). Nothing here touches the database; the
upsert is `mailer.services.subscribers.apply_import`.

Encodings: a file is UTF-8 (with or without BOM) or Shift_JIS as Excel writes
it (CP932, Microsoft's superset with ①, ㈱, 髙 and 﨑). No detection library is
used: the candidates are a closed set of two, tried strictly in order. Pure
ASCII reads the same either way, and Japanese CP932 text is practically never
valid UTF-8 (its lead bytes 0x81-0x9F/0xE0-0xFC are followed by trail bytes
outside UTF-8's continuation range), so "UTF-8 strictly, else CP932" is exact
where a statistical guesser (chardet and friends) can mislabel a short file.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field, fields
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

MAX_FILE_BYTES = 50 * 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"

#: Subscriber fields a file may set, in export column order.
FIELDS = ("email", "name", "honorific", "organisation", "organisation_kind", "job_title",
          "roles", "format", "charset")

#: Japanese column names, used by the export and in messages.
JA_HEADERS = {
    "email": "メールアドレス", "name": "氏名", "honorific": "敬称", "organisation": "団体名",
    "organisation_kind": "団体区分", "job_title": "役職", "roles": "役割", "format": "形式",
    "charset": "文字コード", "status": "状態",
}

_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("メールアドレス", "メール", "電子メール", "email", "e-mail", "mail",
              "email address", "mail address"),
    "name": ("氏名", "名前", "name", "full name"),
    "honorific": ("敬称", "honorific"),
    "organisation": ("団体名", "自治体名", "organisation", "organization"),
    "organisation_kind": ("団体区分", "organisation_kind", "organization_kind", "kind"),
    "job_title": ("役職", "job_title", "job title", "title"),
    "roles": ("役割", "roles", "role"),
    "format": ("形式", "配信形式", "format"),
    "charset": ("文字コード", "charset", "encoding"),
    # Written by our export, read back without effect: a file never changes a status.
    "status": ("状態", "status"),
}
READ_ONLY = frozenset({"status"})

KINDS = ("都", "特別区", "市", "町", "村")
FORMATS = {"html": "html", "html形式": "html", "text": "text", "テキスト": "text",
           "テキスト形式": "text", "plain": "text"}
# Keys as header_key() leaves them (no "-"): "UTF-8" -> "utf8".
CHARSETS = {"utf8": "utf-8", "iso2022jp": "iso-2022-jp", "jis": "iso-2022-jp"}
#: How the export writes format and charset (what admins see in Excel).
FORMAT_LABELS = {"html": "HTML", "text": "テキスト"}
CHARSET_LABELS = {"utf-8": "UTF-8", "iso-2022-jp": "ISO-2022-JP"}

#: First characters a spreadsheet may read as a formula (OWASP CSV injection),
#: with their full-width forms as a precaution for Japanese input methods.
FORMULA_TRIGGERS = frozenset("=+-@\t\r＝＋－＠")

# Full-width ASCII (U+FF01-U+FF5E) and the ideographic space map to ASCII:
# exactly what NFKC does to them, without touching anything else in an address.
_FULL_WIDTH_ASCII = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


class SubscriberFileError(ValueError):
    """A subscriber file could not be read at all; the message names the file."""


def header_key(text: str) -> str:
    """Return the matching key of a header cell: NFKC, no spaces, _ or -, lower case."""
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFKC", text)).lower()


HEADER_MAP: dict[str, str] = {
    header_key(alias): name for name, aliases in _ALIASES.items() for alias in aliases
}


@dataclass(frozen=True)
class SubscriberRow:
    """One valid row: the address and the fields the file gave (None: absent or blank)."""

    line: int
    email: str
    name: str | None = None
    honorific: str | None = None
    organisation: str | None = None
    organisation_kind: str | None = None
    job_title: str | None = None
    roles: str | None = None
    format: str | None = None
    charset: str | None = None

    @property
    def key(self) -> str:
        """The address compared case-insensitively (local parts are kept as given)."""
        return self.email.lower()

    def values(self) -> dict[str, str]:
        """Return the fields to set, email first; blank cells are left out."""
        return {f.name: v for f in fields(self)
                if f.name != "line" and isinstance(v := getattr(self, f.name), str)}


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str


@dataclass
class ParsedFile:
    """What a file holds: rows to upsert, rows rejected, and warnings."""

    name: str
    encoding: str
    columns: dict[str, str] = field(default_factory=dict)  # field -> header as written
    rows: list[SubscriberRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_subscriber_file(path: Path) -> ParsedFile:
    """Read and validate a subscriber CSV.

    Raises SubscriberFileError (naming the file) when it cannot be read at all:
    missing, larger than 50 MB, empty, binary, in neither UTF-8 nor CP932, with
    no header row or no email column. Bad rows are not errors: they are listed
    in `rejected`.
    """
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise SubscriberFileError(f"{path}: not a regular file")
        if size > MAX_FILE_BYTES:
            raise SubscriberFileError(
                f"{path}: {size / 1024 / 1024:.1f} MB is larger than the 50 MB limit; "
                "split the file")
        data = path.read_bytes()
    except OSError as exc:
        raise SubscriberFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_subscriber_bytes(data, name=str(path))


def decode(data: bytes, *, name: str) -> tuple[str, str]:
    """Return (text, encoding label); raise SubscriberFileError if it is neither
    UTF-8 nor CP932, or is not text at all."""
    if not data.removeprefix(UTF8_BOM).strip():
        raise SubscriberFileError(f"{name}: the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SubscriberFileError(
            f"{name}: UTF-16 text (Excel \"Unicode text\"); save it as "
            "\"CSV UTF-8\" or \"CSV (comma delimited)\"")
    if b"\x00" in data:
        raise SubscriberFileError(f"{name}: binary data (NUL bytes), not a CSV file")
    if data.startswith(UTF8_BOM):
        try:
            return data[3:].decode("utf-8"), "UTF-8 (BOM)"
        except UnicodeDecodeError as exc:
            raise SubscriberFileError(
                f"{name}: starts with a UTF-8 BOM but byte {exc.start + 3} is not UTF-8"
            ) from None
    try:
        text, label = data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError as utf8_error:
        try:
            text, label = data.decode("cp932"), "Shift_JIS (CP932)"
        except UnicodeDecodeError as sjis_error:
            raise SubscriberFileError(
                f"{name}: neither UTF-8 (bad byte at offset {utf8_error.start}) nor "
                f"Shift_JIS/CP932 (bad byte at offset {sjis_error.start}); save it as "
                "\"CSV UTF-8\"") from None
    if "\x1b$B" in text or "\x1b$@" in text:
        raise SubscriberFileError(f"{name}: ISO-2022-JP (JIS) text; save it as UTF-8 or "
                                  "Shift_JIS")
    sample = text[:65536]
    controls = sum(1 for ch in sample if ch < " " and ch not in "\t\r\n")
    if controls > len(sample) // 100:
        raise SubscriberFileError(f"{name}: binary data (control characters), not a CSV file")
    return text, label


def parse_subscriber_bytes(data: bytes, *, name: str) -> ParsedFile:
    """Parse the bytes of a subscriber CSV; see read_subscriber_file."""
    text, encoding = decode(data, name=name)
    parsed = ParsedFile(name=name, encoding=encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
        positions = _map_header(header, parsed, name=name)
        width = len(header)
        seen: dict[str, int] = {}
        end = reader.line_num
        for cells in reader:
            # The row's number is the line it starts on (a quoted cell may span lines).
            line, end = end + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue  # blank lines and Excel's trailing ",,,," rows
            row, reasons = _validate(cells, positions, parsed.columns, width, line)
            if row is not None:
                first = seen.setdefault(row.key, line)
                if first != line:
                    reasons.append(f"duplicate of line {first} ({row.email})")
            if reasons or row is None:
                parsed.rejected.append(Rejection(line, "; ".join(reasons)))
            else:
                parsed.rows.append(row)
    except csv.Error as exc:
        raise SubscriberFileError(f"{name}:{reader.line_num}: not readable as CSV: {exc}") from None
    return parsed


def _map_header(header: list[str], parsed: ParsedFile, *, name: str) -> dict[str, int]:
    """Return field -> column index; record unknown columns as warnings."""
    if not any(c.strip() for c in header):
        raise SubscriberFileError(f"{name}:1: no header row (line 1 is empty)")
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        label = cell.strip()
        if not label:
            continue
        known = HEADER_MAP.get(header_key(label))
        if known is None:
            parsed.warnings.append(f"line 1: unknown column {label!r} (column {index + 1}) "
                                   "ignored")
        elif known in positions:
            raise SubscriberFileError(
                f"{name}:1: columns {parsed.columns[known]!r} and {label!r} both mean {known}")
        else:
            positions[known] = index
            parsed.columns[known] = label
    if "email" not in positions:
        if any("@" in c for c in header):
            raise SubscriberFileError(
                f"{name}:1: no header row: line 1 looks like data; add a first line such as "
                "メールアドレス,氏名,団体名")
        hint = " (tab-separated? save it as CSV)" if len(header) == 1 and "\t" in header[0] else ""
        raise SubscriberFileError(
            f"{name}:1: no email column (メールアドレス or email){hint}; columns are: "
            + ", ".join(repr(c) for c in header))
    return positions


def _cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    value = cells[index]
    # Undo our export's formula neutralisation so that export → import round-trips.
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_TRIGGERS:
        value = value[1:]
    return value.strip()


def normalise_email(raw: str) -> str:
    """Return the address to store: full-width ASCII made half-width, domain in
    lower case, local part as given. Raises ValueError with the reason."""
    text = raw.translate(_FULL_WIDTH_ASCII).strip()
    if not text:
        raise ValueError("empty")
    try:
        # Syntax only: municipal domains often resolve only from inside LGWAN.
        # No SMTPUTF8: relays and gateways on the way cannot be assumed to carry it.
        info = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{raw!r}: {exc}") from None
    return info.ascii_email or info.normalized


def normalise_roles(raw: str) -> str:
    """Return ";"-joined role tags (NFKC; "；", "、" and "," also separate)."""
    tags: list[str] = []
    for tag in re.split(r"[;、,]", unicodedata.normalize("NFKC", raw)):
        tag = tag.strip()
        if tag and tag not in tags:
            tags.append(tag)
    return ";".join(tags)


def _validate(
    cells: list[str], positions: dict[str, int], columns: dict[str, str], width: int, line: int
) -> tuple[SubscriberRow | None, list[str]]:
    reasons: list[str] = []
    extra = [c for c in cells[width:] if c.strip()]
    if extra:
        reasons.append(f"{len(cells)} cells but the header has {width} columns")
    values: dict[str, str] = {}
    for name, index in positions.items():
        if name in READ_ONLY:
            continue
        value = _cell(cells, index)
        label = columns[name]
        bad = next((ch for ch in value if unicodedata.category(ch) in ("Cc", "Co")), None)
        if bad is not None:
            if unicodedata.category(bad) == "Co":
                # Windows 外字 (user-defined kanji) decode to private-use code points
                # that no other computer shows as intended.
                what = "private-use character (外字?)"
            elif bad in "\r\n":
                what = "line break inside a cell (Alt+Enter in Excel?)"
            else:
                what = "control character"
            reasons.append(f"{label}: {what} U+{ord(bad):04X}")
            continue
        if not value:
            if name == "email":
                reasons.append(f"{label}: empty")
            continue
        try:
            values[name] = _normalise_field(name, value)
        except ValueError as exc:
            reasons.append(f"{label}: {exc}")
    if "email" not in values:
        return None, reasons
    return SubscriberRow(line=line, **values), reasons


def _normalise_field(name: str, value: str) -> str:
    """Return the stored form of one cell; raise ValueError with the reason."""
    if name == "email":
        return normalise_email(value)
    if name == "organisation_kind":
        kind = unicodedata.normalize("NFKC", value)
        if kind not in KINDS:
            raise ValueError(f"{value!r} is not one of {', '.join(KINDS)}")
        return kind
    if name == "format":
        fmt = FORMATS.get(header_key(value))
        if fmt is None:
            raise ValueError(f"{value!r} is not HTML or テキスト")
        return fmt
    if name == "charset":
        charset = CHARSETS.get(header_key(value))
        if charset is None:
            raise ValueError(f"{value!r} is not UTF-8 or ISO-2022-JP")
        return charset
    if name == "roles":
        return normalise_roles(value)
    # Names, organisations and titles are kept exactly (髙, 﨑, full-width brackets).
    return value
