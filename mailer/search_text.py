"""Search the way names are written: one folding for stored keys and queries.

Staff type 山崎 for 山﨑 由美, 高橋 for 髙橋, ﾀｶﾊｼ or たかはし for the reading
タカハシ. `fold` maps every such spelling to one form; each subscriber
stores `search_key(...)` of its name, reading, address and organisation
(`subscriber.search_key`, kept by mailer.models like `email_hash`), and a
search folds the query the same way and looks for it in the key. Stored
names are never changed: the folding exists only in the key.

The steps, in order:

1. NFKC (unicodedata): full-width ASCII and half-width katakana to their
   usual width (ＡＢＣ → ABC, ﾀｶﾊｼ → タカハシ), and the CJK compatibility
   ideographs that have a canonical twin (神 U+FA19 → 神).
2. Variation selectors (IVS, U+E0100–E01EF; U+FE00–FE0F) removed: 葛󠄀 and 葛
   are one name.
3. The variant kanji of `ITAIJI`, each to the form most people type.
4. Katakana to hiragana (jaconv.kata2hira), so a reading matches in either.
5. Lower case (casefold) for addresses; spaces removed, so 山﨑由美 finds
   "山﨑 由美" and the other way round.
"""

from __future__ import annotations

import re
import unicodedata

import jaconv

#: Variant kanji -> the form typed on an ordinary keyboard. Hand-written: the
#: one packaged table (ja-itaiji) is a planning-stage release whose families
#: take in simplified Chinese forms and hundreds of pairs nobody confuses in
#: a Japanese name, and NFKC leaves these alone (﨑 U+FA11 is one of the twelve
#: compatibility ideographs with no canonical twin).
#: Chosen for names, and each pair is one people treat as "the same name,
#: written formally":
#: - 髙 → 高, 﨑 嵜 → 崎, 邉 邊 → 辺, 濵 濱 → 浜, 嶋 嶌 → 島, 澤 → 沢, 櫻 → 桜,
#:   國 → 国, 廣 → 広, 德 → 徳, 眞 → 真, 𠮷 → 吉, 槇 → 槙, 曾 → 曽, 惠 → 恵,
#:   榮 → 栄, 實 → 実, 瀨 → 瀬, 兒 → 児, 龜 → 亀.
#: - 斉 齊 齋 → 斎: 斉 (セイ) and 斎 (サイ) are distinct characters, but さいとう
#:   is written 斎藤, 斉藤, 齋藤 and 齊藤, and staff cannot be expected to know
#:   which one a person uses; a search that also shows the other spelling is
#:   the lesser harm. It only widens search results.
#: Left out on purpose: pairs that are usually different surnames rather than
#: spellings of one (冨/富, 龍/竜, 嶽/岳), and 碕 (a character of its own,
#: "cape"). Changing this table changes every stored key: ship a migration
#: that fills `subscriber.search_key` again (as 0007 does).
ITAIJI: dict[str, str] = {
    "髙": "高",
    "﨑": "崎", "嵜": "崎",
    "邉": "辺", "邊": "辺",
    "斉": "斎", "齊": "斎", "齋": "斎",
    "濵": "浜", "濱": "浜",
    "嶋": "島", "嶌": "島",
    "澤": "沢",
    "櫻": "桜",
    "國": "国",
    "廣": "広",
    "德": "徳",
    "眞": "真",
    "𠮷": "吉",
    "槇": "槙",
    "曾": "曽",
    "惠": "恵",
    "榮": "栄",
    "實": "実",
    "瀨": "瀬",
    "兒": "児",
    "龜": "亀",
}
_ITAIJI = str.maketrans(ITAIJI)
_VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_SPACES = re.compile(r"\s+")
#: between the fields of a key: a query has no whitespace once folded, so a
#: match never runs from one field into the next
SEPARATOR = "\n"


def fold(text: str) -> str:
    """Return the search form of `text` (the steps in the module docstring)."""
    text = unicodedata.normalize("NFKC", text)
    text = _VARIATION_SELECTORS.sub("", text).translate(_ITAIJI)
    text = jaconv.kata2hira(text).casefold()
    return _SPACES.sub("", text)


def search_key(*, name: str, reading: str, email: str, organisation: str) -> str:
    """Return a subscriber's stored search key: its folded fields, one per line."""
    return SEPARATOR.join(fold(v or "") for v in (name, reading, email, organisation))
