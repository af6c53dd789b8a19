"""ISO-2022-JP support: preflight check, 7bit body encoding, RFC 2047 headers.

ISO-2022-JP here is exactly what Python's ``iso-2022-jp`` codec accepts
(ASCII, JIS X 0201 Roman, JIS X 0208). It cannot carry 髙 﨑 ① Ⅲ ㈱ ㎡
～(U+FF5E) －(U+FF0D) —(U+2014), NBSP, half-width katakana or emoji.

Why not `EmailMessage.set_content(charset="iso-2022-jp")`: CPython switches
the body to quoted-printable when a line is long, which legacy readers
mishandle. `encode_iso2022jp_body` produces the RFC 1468 bytes itself.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from dataclasses import dataclass

from mailer.i18n import _

__all__ = [
    "CharProblem",
    "UnencodableError",
    "encode_header_value",
    "encode_iso2022jp_body",
    "iso2022jp_problems",
]

CODEC = "iso-2022-jp"
MAX_LINE_BYTES = 998  # RFC 5322 2.1.1, excluding CRLF; we stay strictly below
MAX_ENCODED_WORD = 75  # RFC 2047 section 2
MAX_HEADER_LINE = 78  # RFC 5322 2.1.1 "SHOULD"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Control characters that a 7bit ISO-2022-JP text must not carry: ESC, SO
# and SI would be read as charset shifts, NUL and the rest are not text.
_BAD_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")

# Display-only suggestions. Applied by an editor, never automatically:
# a person's name keeps its kanji (send such readers UTF-8 instead).
_SUGGEST = {
    "～": "〜",  # FULLWIDTH TILDE (Windows) → WAVE DASH (JIS)
    "－": "−",  # FULLWIDTH HYPHEN-MINUS → MINUS SIGN
    "—": "―",  # EM DASH → HORIZONTAL BAR (JIS 1-29)
    "∥": "‖",  # PARALLEL TO → DOUBLE VERTICAL LINE
    "￠": "¢",
    "￡": "£",
    "￢": "¬",
    "\u00a0": " ",
    "髙": "高",
    "﨑": "崎",
    "德": "徳",
    "栁": "柳",
}
_SUGGEST.update({chr(0x2460 + i): f"({i + 1})" for i in range(20)})  # ①..⑳


@dataclass(frozen=True)
class CharProblem:
    """A character ISO-2022-JP cannot carry, and where it is."""

    char: str
    codepoint: str  # "U+9AD9"
    name: str  # unicodedata name, or "<control>" for control characters
    line: int  # 1-based
    column: int  # 1-based, counted in characters (code points), not columns
    suggestion: str | None  # e.g. "～ → 〜", for display only


class UnencodableError(ValueError):
    """Raised when text holds characters ISO-2022-JP cannot carry."""

    def __init__(self, problems: list[CharProblem]) -> None:
        self.problems = problems
        listed = ", ".join(f"{p.codepoint} at {p.line}:{p.column}" for p in problems[:10])
        more = f" and {len(problems) - 10} more" if len(problems) > 10 else ""
        super().__init__(f"{len(problems)} characters not in ISO-2022-JP: {listed}{more}")


_ENCODABLE: dict[str, bool] = {}


def _encodable(c: str) -> bool:
    ok = _ENCODABLE.get(c)
    if ok is None:
        try:
            c.encode(CODEC)
            ok = _BAD_CONTROL.match(c) is None
        except UnicodeEncodeError:
            ok = False
        _ENCODABLE[c] = ok
    return ok


def _suggestion(c: str) -> str | None:
    repl = _SUGGEST.get(c)
    if repl is None:
        folded = unicodedata.normalize("NFKC", c)
        if folded != c and all(_encodable(x) for x in folded):
            repl = folded
    return f"{c} → {repl}" if repl is not None else None


def iso2022jp_problems(text: str) -> list[CharProblem]:
    """Return every character of `text` that ISO-2022-JP cannot carry, in order.

    Lines are split at CRLF, CR or LF. Control characters other than TAB and
    line breaks are problems too (ESC, SO, SI would corrupt the shift state).
    An empty list means `encode_iso2022jp_body` will accept the text.
    """
    try:
        text.encode(CODEC)
        if not _BAD_CONTROL.search(text):
            return []
    except UnicodeEncodeError:
        pass
    problems = []
    for lineno, line in enumerate(_LINE_BREAK.split(text), start=1):
        for col, c in enumerate(line, start=1):
            if not _encodable(c):
                problems.append(
                    CharProblem(
                        char=c,
                        codepoint=f"U+{ord(c):04X}",
                        name=unicodedata.name(c, "<control>" if ord(c) < 0xA0 else "<unnamed>"),
                        line=lineno,
                        column=col,
                        suggestion=_suggestion(c),
                    )
                )
    return problems


def encode_iso2022jp_body(text: str) -> bytes:
    """Return `text` as RFC 1468 ISO-2022-JP bytes for a 7bit body.

    Line breaks become CRLF (no final CRLF is added); every line that shifts
    to JIS X 0208 (or JIS X 0201 Roman) shifts back to ASCII before its CRLF,
    and every byte is below 0x80.

    Raises UnencodableError listing all problem characters, or ValueError
    naming the first line that would be 998 bytes or longer (wrap to 70
    columns first; this is a guard, not a folding step).
    """
    problems = iso2022jp_problems(text)
    if problems:
        raise UnencodableError(problems)
    out = []
    for lineno, line in enumerate(_LINE_BREAK.split(text), start=1):
        # str.encode resets the codec per call: each line ends in ASCII mode.
        raw = line.encode(CODEC)
        if len(raw) >= MAX_LINE_BYTES:
            raise ValueError(
                _("{line} 行目が ISO-2022-JP で {size} バイトあります（上限 {limit} バイト）: "
                  "「{start}…」").format(line=lineno, size=len(raw), limit=MAX_LINE_BYTES - 1,
                                        start=line[:20])
            )
        out.append(raw)
    return b"\r\n".join(out)


def _word_text_len(charset_label: str, payload_len: int) -> int:
    """Length of =?label?B?...?= whose payload has payload_len bytes."""
    return len(charset_label) + 7 + 4 * ((payload_len + 2) // 3)


def encode_header_value(value: str, charset: str, *, header_name_len: int = 9) -> str:
    """Return `value` as RFC 2047 B-encoded words, folded with CRLF + space.

    `charset` is "utf-8" or "iso-2022-jp". Pure ASCII values are returned
    unchanged. Each encoded word holds whole characters (never part of a
    UTF-8 sequence, an escape sequence or a JIS 2-byte pair), an ISO-2022-JP
    word ends in ASCII mode so it decodes on its own, every word is at most
    75 characters, and every line is at most 78 characters, the first one
    counting `header_name_len` (``len("Subject: ")``) before the value.

    Raises ValueError for CR or LF in `value` (header injection), an unknown
    charset, a `header_name_len` too long to leave room for one word, or a
    character the charset cannot encode (UnencodableError for ISO-2022-JP).
    """
    if "\r" in value or "\n" in value:
        raise ValueError(_("ヘッダーの値に改行（CR か LF）があります"))
    cs = charset.lower().replace("_", "-")
    if cs in ("utf-8", "utf8"):
        label, codec = "UTF-8", "utf-8"
    elif cs == CODEC:
        label, codec = "ISO-2022-JP", CODEC
        problems = iso2022jp_problems(value)
        if problems:
            raise UnencodableError(problems)
    else:
        raise ValueError(_("ヘッダーの文字コード「{charset}」には対応していません（utf-8 か "
                           "iso-2022-jp）").format(charset=charset))
    if value.isascii():
        return value
    try:
        value.encode(codec)
    except UnicodeEncodeError as exc:  # lone surrogates in UTF-8
        raise ValueError(_("ヘッダーの値を {charset} で表せません: {reason}").format(
            charset=label, reason=exc)) from exc

    budget_first = min(MAX_ENCODED_WORD, MAX_HEADER_LINE - header_name_len)
    budget_rest = MAX_ENCODED_WORD  # " " + 75 <= 78
    # Room for the widest single character: 4 UTF-8 bytes, or ESC$B + 2 + ESC(B.
    if budget_first < _word_text_len(label, 8):
        raise ValueError(f"header_name_len {header_name_len} leaves no room for an encoded word")

    words: list[str] = []
    chunk = ""
    for c in value:
        budget = budget_rest if words else budget_first
        trial = chunk + c
        if chunk and _word_text_len(label, len(trial.encode(codec))) > budget:
            words.append(_encoded_word(label, chunk.encode(codec)))
            trial = c
        chunk = trial
    words.append(_encoded_word(label, chunk.encode(codec)))
    return "\r\n ".join(words)


def _encoded_word(label: str, payload: bytes) -> str:
    return f"=?{label}?B?{base64.b64encode(payload).decode('ascii')}?="
