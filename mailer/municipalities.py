"""Tokyo's municipalities in the national local-government code order.

The 全国地方公共団体コード (総務省) gives every prefecture and municipality
six digits: two for the prefecture, three for the municipality, one check
digit. Sorted by code, Tokyo reads 東京都 (130001), the 23 特別区
(131016 千代田区 … 131237 江戸川区), the 26 市 (132012 八王子市 …), then the
町 and 村 of Nishitama and the islands (133035 瑞穂町 … 134210 小笠原村):
the order the metropolitan government itself lists them in, and the one
staff expect in a report. The list ships as `mailer/data/municipalities_tokyo.csv`
(code,name,kind); a subscriber's `organisation` is matched against it by name.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

DATA_FILE = "municipalities_tokyo.csv"
PREFECTURE = "東京都"


@dataclass(frozen=True)
class Municipality:
    code: str  # six digits, the last a check digit
    name: str  # 千代田区
    kind: str  # 都, 特別区, 市, 町, 村 (as subscriber_fields.KINDS)


def check_digit(five: str) -> int:
    """Return the check digit of a five-digit local-government code (weights
    6,5,4,3,2; 11 minus the remainder by 11, its last digit)."""
    total = sum(int(d) * w for d, w in zip(five, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


@cache
def tokyo() -> tuple[Municipality, ...]:
    """Return Tokyo and its 62 municipalities, in code order (read once).

    Raises ValueError naming the line if the shipped file is damaged (a code
    whose check digit is wrong, a duplicate, or an unknown kind).
    """
    text = resources.files("mailer").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    found: list[Municipality] = []
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        code, name, kind = row["code"], row["name"], row["kind"]
        if len(code) != 6 or not code.isdigit() or check_digit(code[:5]) != int(code[5]):
            raise ValueError(f"{DATA_FILE}:{line}: {code!r} is not a local-government code")
        if kind not in ("都", "特別区", "市", "町", "村"):
            raise ValueError(f"{DATA_FILE}:{line}: unknown kind {kind!r}")
        found.append(Municipality(code, name, kind))
    if len({m.code for m in found}) != len(found) or len({m.name for m in found}) != len(found):
        raise ValueError(f"{DATA_FILE}: a code or a name is listed twice")
    return tuple(sorted(found, key=lambda m: m.code))


def _key(name: str) -> str:
    # The small ヶ is also written ケ or ヵ (青ケ島村); widths and spaces vary.
    text = "".join(unicodedata.normalize("NFKC", name).split())
    return text.replace("ケ", "ヶ").replace("ヵ", "ヶ")


@cache
def _by_key() -> dict[str, Municipality]:
    return {_key(m.name): m for m in tokyo()}


def find(organisation: str) -> Municipality | None:
    """Return the municipality an organisation name means, or None.

    Matches the name as listed, ignoring width, spaces and ケ/ヶ, with or
    without a leading 東京都 ("東京都三鷹市" is 三鷹市); "東京都" alone is the
    metropolitan government.
    """
    key = _key(organisation)
    found = _by_key().get(key)
    if found is None and key.startswith(PREFECTURE) and len(key) > len(PREFECTURE):
        found = _by_key().get(key[len(PREFECTURE):])
    return found


def code_order(organisations: set[str] | list[str]) -> list[str]:
    """Return the organisation names in report order: known municipalities by
    code, then unknown names by name, then the empty name (no organisation)."""

    def key(name: str) -> tuple[int, str, str]:
        m = find(name)
        if m is not None:
            return (0, m.code, name)
        return (1, name, name) if name else (2, "", "")

    return sorted(set(organisations), key=key)
