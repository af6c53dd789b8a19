"""Control characters in values that become one line (a mail header, a setting).

A CR or LF in a header value starts a header of its own (`Bcc:`); other
control characters are not text; a bidirectional control (U+202E, …)
reverses the text after it, so a subject or a name shows as something else.
Settings, front matter, subscriber fields and the header builder use these
definitions.
"""

from __future__ import annotations

import unicodedata

_NAMES = {"\r": "CR", "\n": "LF", "\t": "TAB", "\x00": "NUL"}
#: invisible characters that reorder the text around them (Trojan Source, CVE-2021-42574)
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                          "\u2066\u2067\u2068\u2069")


def control_char(text: str) -> str | None:
    """Return the first control character of `text` (C0, DEL, C1, a Unicode line
    or paragraph separator, or a bidirectional control), or None if it has none."""
    return next((c for c in text
                 if unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in BIDI_CONTROLS), None)


def describe_char(char: str) -> str:
    """Return e.g. "CR (U+000D)", "U+2028" or "U+202E（文字の向きを変える制御文字）"."""
    code = f"U+{ord(char):04X}"
    if char in BIDI_CONTROLS:
        return f"{code}（文字の向きを変える制御文字）"
    return f"{_NAMES[char]} ({code})" if char in _NAMES else code
