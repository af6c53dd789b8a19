"""Plain-text wrapping for Japanese mail bodies.

Pure functions: `display_width` counts terminal/mail-reader columns the way a
Japanese reader sees them, `wrap` breaks text into lines of at most `width`
columns with kinsoku (禁則) and whole URLs.

Why hand-written rather than a library:

- `textwrap` counts code points (a kanji is 1, not 2) and only breaks at
  whitespace, so Japanese runs either overflow or never wrap.
- uniseg implements UAX #14, the generic Unicode line-breaking algorithm. It
  is not installed here and we do not need it: UAX #14 leaves East Asian
  Ambiguous width and small-kana (class CJ) handling to tailoring, has no
  notion of "a URL is one unit on its own line", and still needs a width
  function plugged in. The rules we need are a short, testable list.
- budoux finds phrase (文節) boundaries but does not wrap. Its own `parse`
  scores every position (≈30 ms for 20 KB), so we score only the few positions
  near each line end, using the model it exposes (`Parser.model`), to prefer a
  phrase boundary when one lies close to the widest legal break. If budoux or
  its model format changes, this silently degrades to plain greedy breaking.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate
from typing import Any

__all__ = ["NO_END", "NO_START", "URL_RE", "display_width", "url_spans", "wrap"]

# Kinsoku: characters that may not start a line (closing brackets, sentence
# punctuation, prolonged sound mark, small kana, iteration marks, ...).
NO_START = frozenset(
    "、。，．）」』】〕！？ー"
    "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ"
    "・々ゝゞ：；〉》］｝〙〗〟’”"
    ")]},.!?:;"
)
# Characters that may not end a line (opening brackets).
NO_END = frozenset("「『（【〔〈《［｛〘〖〝‘“([{")

# A URL runs to the next whitespace or the next wide (2-column) character;
# the regex finds the candidate, `url_spans` trims it at the first wide char.
URL_RE = re.compile(r"https?://\S+")

_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
_ZWJ = "\u200d"
# Emoji skin-tone modifiers attach to the previous emoji: never break before one.
_NO_BREAK_BEFORE = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))

_WIDTH_CACHE: dict[str, int] = {}


def _char_width(c: str) -> int:
    if c in _ZERO_WIDTH or unicodedata.category(c) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F", "A") else 1


def _widths(text: str) -> list[int]:
    cache = _WIDTH_CACHE
    try:
        return [cache[c] for c in text]
    except KeyError:
        for c in set(text):
            if c not in cache:
                cache[c] = _char_width(c)
        return [cache[c] for c in text]


def display_width(text: str) -> int:
    """Return the number of display columns `text` takes in a Japanese mail reader.

    East Asian Width W, F and A (ambiguous: ※ ① ○ …) count 2, combining marks
    (Mn, Me) and zero-width characters (ZWSP, ZWNJ, ZWJ, WJ, BOM) count 0,
    everything else 1 (tabs and control characters too: expand tabs first).
    """
    return sum(_widths(text))


def url_spans(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) indices of each http(s) URL in one line of `text`.

    A URL is ``http://`` or ``https://`` followed by at least one character, up
    to the next whitespace or wide (2-column) character.
    """
    spans = []
    pos = 0
    while m := URL_RE.search(text, pos):
        start, end = m.start(), m.end()
        body = start + m.group().index("//") + 2
        for i in range(body, end):
            if _char_width(text[i]) == 2:
                end = i  # a second URL may follow the wide char: search on from here
                break
        if end > body:
            spans.append((start, end))
        pos = max(end, body)
    return spans


# --- optional phrase boundaries ------------------------------------------


@lru_cache(maxsize=1)
def _budoux_model() -> dict[str, dict[str, int]] | None:
    try:
        import budoux

        parser: Any = budoux.load_default_japanese_parser()
        model: dict[str, dict[str, int]] = parser.model
    except Exception:  # budoux missing or changed: wrapping still works
        return None
    return model


def _budoux_score(model: dict[str, dict[str, int]], base: float, t: str, i: int) -> float:
    """budoux.Parser.parse's score for a phrase starting at index i (> 0 means yes).

    The same features as `parse`, computed for one position instead of all.
    """
    n = len(t)
    g = model.get
    score = base
    score += g("UW3", {}).get(t[i - 1], 0) + g("UW4", {}).get(t[i], 0)
    score += g("BW2", {}).get(t[i - 1 : i + 1], 0)
    if i > 1:
        score += g("UW2", {}).get(t[i - 2], 0) + g("BW1", {}).get(t[i - 2 : i], 0)
        score += g("TW2", {}).get(t[i - 2 : i + 1], 0)
    if i > 2:
        score += g("UW1", {}).get(t[i - 3], 0) + g("TW1", {}).get(t[i - 3 : i], 0)
    if i + 1 < n:
        score += g("UW5", {}).get(t[i + 1], 0) + g("BW3", {}).get(t[i : i + 2], 0)
        score += g("TW3", {}).get(t[i - 1 : i + 2], 0)
    if i + 2 < n:
        score += g("UW6", {}).get(t[i + 2], 0) + g("TW4", {}).get(t[i : i + 3], 0)
    return score


@lru_cache(maxsize=1)
def _budoux_base() -> float:
    model = _budoux_model() or {}
    return -sum(sum(g.values()) for g in model.values()) * 0.5


# --- wrapping -------------------------------------------------------------

# Break tiers, best first. A line is broken at the widest-fitting break of the
# best tier available; worse tiers are only fallbacks for runs that cannot fit.
_NORMAL = 1  # at a space, or next to a wide character, kinsoku respected
_IN_WORD = 2  # inside an ASCII word/number that is wider than the line
_KINSOKU = 3  # kinsoku broken: only for a no-break run wider than the line
_NEVER = 9  # inside a URL or a combining sequence

# After these a phrase has clearly ended: good places to break early.
_PHRASE_END = frozenset("、。，．！？）」』】〕〉》")

# How many columns a line may be shortened to end at a phrase boundary.
_PHRASE_SLACK = 8


class _Para:
    """One input line, with what the greedy breaker needs to know about it."""

    __slots__ = ("blocked", "cum", "mandatory", "n", "t", "w")

    def __init__(self, t: str) -> None:
        self.t = t
        self.n = n = len(t)
        self.w = _widths(t)
        self.cum = [0, *accumulate(self.w)]
        self.blocked = bytearray(n + 1)
        # (end, next_start) breaks that must be taken: around each URL unit.
        self.mandatory: list[tuple[int, int]] = []
        for us, ue in url_spans(t):
            # The URL unit also holds the opening brackets before it and the
            # closing punctuation after it (with spaces between), so the
            # forced breaks around it never violate kinsoku.
            while us > 0 and (t[us - 1] in NO_END or t[us - 1] == " "):
                us -= 1
            while t[us] == " ":
                us += 1
            while ue < n and (t[ue] in NO_START or t[ue] == " "):
                ue += 1
            while t[ue - 1] == " ":
                ue -= 1
            # Only spaces before or after it: they stay on the URL's line.
            if not t[:us].strip(" "):
                us = 0
            if not t[ue:].strip(" "):
                ue = n
            for p in range(us + 1, ue):
                self.blocked[p] = 1
            if us > 0:
                self.mandatory.append((us - 1, us) if t[us - 1] == " " else (us, us))
            if ue < n:
                self.mandatory.append((ue, ue + 1) if t[ue] == " " else (ue, ue))
        self.mandatory.sort()

    def _base(self, p: int) -> str:
        """The character before index p, skipping combining marks (kinsoku looks at it)."""
        q = p - 1
        while q > 0 and self.w[q] == 0:
            q -= 1
        return self.t[q]

    def tier(self, p: int) -> int:
        """The tier of breaking before index p (0 < p < n).

        At a space the break consumes it: the line ends at p, the next one
        starts at p + 1. Elsewhere nothing is consumed.
        """
        t, w = self.t, self.w
        if self.blocked[p]:
            return _NEVER
        b = t[p]
        if b == " ":
            after = t[p + 1] if p + 1 < self.n else ""
            if self._base(p) in NO_END or after in NO_START:
                return _KINSOKU
            return _NORMAL
        if w[p] == 0:
            return _NEVER  # before a combining mark: it adds no width anyway
        a = self._base(p)
        if a in NO_END or b in NO_START or t[p - 1] in (" ", _ZWJ) or b in _NO_BREAK_BEFORE:
            # Last resorts: after a space that cannot be consumed (the line
            # would be empty), and inside emoji sequences, which count as
            # several wide characters and so may be wider than a line.
            return _KINSOKU
        if w[p] == 2 or _WIDTH_CACHE[a] == 2:
            return _NORMAL
        return _IN_WORD

    def good_end(self, p: int) -> bool:
        """True if a _NORMAL break before p also ends a phrase."""
        t = self.t
        if t[p] == " " or t[p - 1] in _PHRASE_END:
            return True
        model = _budoux_model()
        if not model:
            return False
        return _budoux_score(model, _budoux_base(), t, p) > 0

    def cut(self, p: int) -> tuple[int, int]:
        """(end, next_start) of a break before p.

        A space is consumed, except the last character: a consumed space must
        have a line after it, or it would be lost.
        """
        return (p, p + 1) if self.t[p] == " " and p + 1 < self.n else (p, p)


def _next_break(para: _Para, s: int, avail: int) -> tuple[int, int]:
    """Return (end, next_start) of the line that starts at index s."""
    n, cum = para.n, para.cum
    e = bisect_right(cum, cum[s] + avail, lo=s) - 1  # widest end that fits
    forced = next(((a, b) for a, b in para.mandatory if b > s), None)
    if forced is not None and forced[0] == s:
        # A space right before a URL at the start of this line: consuming it
        # would leave the line empty, so the line keeps the space instead.
        forced = (forced[1], forced[1])
    if forced is not None and forced[0] <= e:
        return forced
    if e >= n:
        return n, n
    for wanted in (_NORMAL, _IN_WORD, _KINSOKU):
        for p in range(e, s, -1):
            if para.tier(p) <= wanted:
                if wanted == _NORMAL:
                    p = _prefer_phrase(para, s, p, avail)
                return para.cut(p)
    # Nothing fits (a URL unit, or a character wider than the line): take the
    # first possible break after e.
    limit = forced[0] if forced is not None else n
    for p in range(max(e, s) + 1, limit):
        if para.tier(p) < _NEVER:
            return para.cut(p)
    return forced if forced is not None else (n, n)


def _prefer_phrase(para: _Para, s: int, best: int, avail: int) -> int:
    """Move a _NORMAL break back to a phrase end if one lies within the slack."""
    cum = para.cum
    if para.good_end(best):
        return best
    floor = cum[best] - min(_PHRASE_SLACK, avail // 4)
    p = best - 1
    while p > s and cum[p] >= floor:
        if para.tier(p) == _NORMAL and para.good_end(p):
            return p
        p -= 1
    return best


def wrap(
    text: str,
    width: int = 70,
    *,
    initial_indent: str = "",
    subsequent_indent: str = "",
) -> list[str]:
    """Return `text` broken into lines of at most `width` display columns.

    Every line includes its indent: `initial_indent` on the first line of the
    result, `subsequent_indent` on every other non-empty line. Each ``\\n`` in
    `text` (``\\r\\n`` and ``\\r`` count as ``\\n``) is a hard break; empty
    input lines stay empty (no indent) and ``""`` gives ``[""]``.

    Break opportunities: at an ASCII space (the space is consumed), and
    between two characters when either is wide (CJK) — never inside an ASCII
    word or number unless the word alone is wider than the line. Kinsoku: no
    line starts with a `NO_START` character or ends with a `NO_END` one; the
    offending character is carried to the next line, never squeezed past
    the width. Only a run of no-break characters wider than the whole line
    (e.g. a long row of ー) is broken against kinsoku.

    A URL (see `url_spans`), together with any opening brackets right before
    it and closing punctuation right after it, always stands on a line of its
    own and is never broken; that line is the only kind that may exceed
    `width`. When a break is close to the widest legal one, a phrase boundary
    (after 、。 or where budoux starts a phrase) is preferred.

    Nothing lost or reordered, precisely: strip the indent from each returned
    line to get L0 … Lk; then the input, with line breaks normalised to
    ``\\n``, equals L0 + s1 + L1 + … + sk + Lk where each separator s is
    ``"\\n"`` (a hard break of the input), ``" "`` (one space consumed by the
    break) or ``""``.

    Raises ValueError if an indent leaves fewer than 2 columns (one wide
    character) per line.
    """
    avail_first = width - display_width(initial_indent)
    avail_rest = width - display_width(subsequent_indent)
    if min(avail_first, avail_rest) < 2:
        raise ValueError(f"width {width} leaves less than 2 columns after the indent")
    out: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            out.append("")
            continue
        para = _Para(line)
        s = 0
        while s < para.n:
            first = not out
            end, nxt = _next_break(para, s, avail_first if first else avail_rest)
            out.append((initial_indent if first else subsequent_indent) + line[s:end])
            s = nxt
    return out
