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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mailer.i18n import _
from mailer.services.subscriber_fields import (
    BY_NAME,
    CHARSET_LABELS,
    CHARSETS,
    FORMAT_LABELS,
    FORMATS,
    IMPORTED,
    KINDS,
    BadValue,
    header_key,
    normalise_email,
    normalise_roles,
)
from mailer.services.subscriber_fields import (
    FIELDS as DECLARED,
)

__all__ = [
    "CHARSETS", "CHARSET_LABELS", "FIELDS", "FORMATS", "FORMAT_LABELS", "FORMULA_TRIGGERS",
    "HEADER_MAP", "JA_HEADERS", "KINDS", "MAX_FILE_BYTES", "READ_ONLY", "UTF8_BOM",
    "ImportedSubscriber", "ParsedFile", "Rejection", "SubscriberFileError", "decode",
    "header_key", "normalise_email", "normalise_roles", "parse_subscriber_bytes",
    "read_subscriber_file",
]

MAX_FILE_BYTES = 50 * 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"

#: Subscriber fields a file may set, in export column order (from the declaration).
FIELDS = IMPORTED
#: Japanese column names, used by the export and in messages.
JA_HEADERS = {f.name: f.label for f in DECLARED}
#: Columns read back without effect (the export writes them; a file never sets them).
READ_ONLY = frozenset(f.name for f in DECLARED if not f.imported)

#: First characters a spreadsheet may read as a formula (OWASP CSV injection),
#: with their full-width forms as a precaution for Japanese input methods.
FORMULA_TRIGGERS = frozenset("=+-@\t\r＝＋－＠")


class SubscriberFileError(ValueError):
    """A subscriber file could not be read at all; the message names the file."""


HEADER_MAP: dict[str, str] = {
    header_key(header): f.name for f in DECLARED for header in f.headers
}


@dataclass(frozen=True)
class ImportedSubscriber:
    """One valid row: the address and the other fields the file gave, in their
    stored form (blank cells left out). `row.name` reads a field (None: not given)."""

    line: int
    email: str
    given: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, values: Mapping[str, str], *, line: int = 0) -> ImportedSubscriber:
        """Return the row of `values` (which holds "email"; other keys: field names)."""
        return cls(line=line, email=values["email"],
                   given={k: v for k, v in values.items() if k != "email"})

    def __getattr__(self, name: str) -> str | None:
        # Only declared fields: anything else (copy's __deepcopy__ probes) is absent.
        if name in BY_NAME and name != "email":
            given: Mapping[str, str] = self.__dict__.get("given", {})
            return given.get(name)
        raise AttributeError(name)

    @property
    def key(self) -> str:
        """The address compared case-insensitively (local parts are kept as given)."""
        return self.email.lower()

    def values(self) -> dict[str, str]:
        """Return the fields to set, email first; blank cells are left out."""
        return {"email": self.email, **{n: self.given[n] for n in FIELDS if n in self.given}}


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
    rows: list[ImportedSubscriber] = field(default_factory=list)
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
            raise SubscriberFileError(_("{file}: 通常のファイルではありません").format(file=path))
        if size > MAX_FILE_BYTES:
            raise SubscriberFileError(
                _("{file}: {size} MB あり、上限の 50 MB を超えています。ファイルを分けてください")
                .format(file=path, size=f"{size / 1024 / 1024:.1f}"))
        data = path.read_bytes()
    except OSError as exc:
        raise SubscriberFileError(_("{file}: 読めません：{error}").format(
            file=path, error=exc.strerror or exc)) from exc
    return parse_subscriber_bytes(data, name=str(path))


def decode(data: bytes, *, name: str) -> tuple[str, str]:
    """Return (text, encoding label); raise SubscriberFileError if it is neither
    UTF-8 nor CP932, or is not text at all."""
    if not data.removeprefix(UTF8_BOM).strip():
        raise SubscriberFileError(_("{file}: ファイルが空です").format(file=name))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SubscriberFileError(_(
            "{file}: UTF-16 のテキスト（Excel の「Unicode テキスト」）です。"
            "「CSV UTF-8」か「CSV（コンマ区切り）」で保存してください").format(file=name))
    if b"\x00" in data:
        raise SubscriberFileError(
            _("{file}: バイナリデータ（NUL バイト）で、CSV ファイルではありません")
            .format(file=name))
    if data.startswith(UTF8_BOM):
        try:
            return data[3:].decode("utf-8"), "UTF-8 (BOM)"
        except UnicodeDecodeError as exc:
            raise SubscriberFileError(
                _("{file}: UTF-8 の BOM で始まりますが、{offset} バイト目が UTF-8 ではありません")
                .format(file=name, offset=exc.start + 3)) from None
    try:
        text, label = data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError as utf8_error:
        try:
            text, label = data.decode("cp932"), "Shift_JIS (CP932)"
        except UnicodeDecodeError as sjis_error:
            raise SubscriberFileError(_(
                "{file}: UTF-8 でも（{utf8} バイト目が不正）Shift_JIS/CP932 でも（{sjis} バイト目が"
                "不正）ありません。「CSV UTF-8」で保存してください").format(
                    file=name, utf8=utf8_error.start, sjis=sjis_error.start)) from None
    if "\x1b$B" in text or "\x1b$@" in text:
        raise SubscriberFileError(_(
            "{file}: ISO-2022-JP（JIS）のテキストです。UTF-8 か Shift_JIS で保存してください")
            .format(file=name))
    sample = text[:65536]
    controls = sum(1 for ch in sample if ch < " " and ch not in "\t\r\n")
    if controls > len(sample) // 100:
        raise SubscriberFileError(
            _("{file}: バイナリデータ（制御文字）で、CSV ファイルではありません").format(file=name))
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
                    reasons.append(_("{first} 行目と重複しています（{email}）").format(
                        first=first, email=row.email))
            if reasons or row is None:
                parsed.rejected.append(Rejection(line, "; ".join(reasons)))
            else:
                parsed.rows.append(row)
    except csv.Error as exc:
        raise SubscriberFileError(_("{file}:{line}: CSV として読めません（{error}）").format(
            file=name, line=reader.line_num, error=exc)) from None
    return parsed


def _map_header(header: list[str], parsed: ParsedFile, *, name: str) -> dict[str, int]:
    """Return field -> column index; record unknown columns as warnings."""
    if not any(c.strip() for c in header):
        raise SubscriberFileError(_("{file}:1: 見出しの行がありません（1 行目が空です）").format(
            file=name))
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        label = cell.strip()
        if not label:
            continue
        known = HEADER_MAP.get(header_key(label))
        if known is None:
            parsed.warnings.append(
                _("1 行目: 知らない列「{label}」（{column} 列目）は読み飛ばしました").format(
                    label=label, column=index + 1))
        elif known in positions:
            raise SubscriberFileError(
                _("{file}:1: 列「{first}」と「{second}」はどちらも {field} です").format(
                    file=name, first=parsed.columns[known], second=label, field=known))
        else:
            positions[known] = index
            parsed.columns[known] = label
    if "email" not in positions:
        if any("@" in c for c in header):
            raise SubscriberFileError(_(
                "{file}:1: 見出しの行がありません：1 行目がデータのようです。"
                "「メールアドレス,氏名,団体名」のような 1 行目を加えてください").format(file=name))
        hint = (_("（タブ区切り？ CSV で保存してください）")
                if len(header) == 1 and "\t" in header[0] else "")
        raise SubscriberFileError(_(
            "{file}:1: メールアドレスの列（メールアドレス または email）がありません{hint}。"
            "列：{columns}").format(
                file=name, hint=hint, columns="、".join(f"「{c}」" for c in header)))
    return positions


def _cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    value = cells[index]
    # Undo our export's formula neutralisation so that export → import round-trips.
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_TRIGGERS:
        value = value[1:]
    return value.strip()


def _validate(
    cells: list[str], positions: dict[str, int], columns: dict[str, str], width: int, line: int
) -> tuple[ImportedSubscriber | None, list[str]]:
    reasons: list[str] = []
    extra = [c for c in cells[width:] if c.strip()]
    if extra:
        reasons.append(_("セルが {cells} 個ありますが、見出しは {width} 列です").format(
            cells=len(cells), width=width))
    values: dict[str, str] = {}
    for name, index in positions.items():
        declared = BY_NAME[name]
        if not declared.imported:
            continue
        value = _cell(cells, index)
        label = columns[name]
        if not value:
            # A blank cell leaves the stored value as it is; the address cannot be blank.
            if declared.required:
                reasons.append(_("{column}: 空です").format(column=label))
            continue
        try:
            values[name] = declared.check(value)
        except BadValue as exc:
            reasons.append(f"{label}: {exc}")
    if "email" not in values:
        return None, reasons
    return ImportedSubscriber.of(values, line=line), reasons
