"""Control characters in values that become one line (a mail header, a setting).

A CR or LF in a header value starts a header of its own (`Bcc:`); other
control characters are not text. Settings, front matter and the header
builder use this one definition.
"""

from __future__ import annotations

import unicodedata

_NAMES = {"\r": "CR", "\n": "LF", "\t": "TAB", "\x00": "NUL"}


def control_char(text: str) -> str | None:
    """Return the first control character of `text` (C0, DEL, C1, or a Unicode
    line or paragraph separator), or None if it has none."""
    return next((c for c in text if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)


def describe_char(char: str) -> str:
    """Return e.g. "CR (U+000D)" or "U+2028" for a message."""
    code = f"U+{ord(char):04X}"
    return f"{_NAMES[char]} ({code})" if char in _NAMES else code
