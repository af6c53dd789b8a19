"""Is a staff password good enough to store? One rule, in Japanese.

NIST SP 800-63B (5.1.1.2) asks for a minimum length and a check against
passwords that are commonly used, expected or compromised, rather than
composition rules. zxcvbn does the second: it knows the common-password
lists, dictionary words, names, keyboard rows, sequences, repeats and dates,
and estimates how many guesses a password takes. We accept score 3 or more
(about 10^8 guesses: "safely unguessable" for an online attack, which the
login lock-out further slows) and say why not in Japanese, from the pattern
zxcvbn found (its own feedback is English).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MIN_PASSWORD_LENGTH = 12
MIN_SCORE = 3
#: zxcvbn's work grows with the length; the first 100 characters decide
_CHECKED_LENGTH = 100

_ADVICE = ("関係のない単語を 3〜4 個つなげる（例: 「さくら-電卓-港-ひまわり」）など、"
           "長くて推測しにくいものにしてください。")


def password_problem(password: str, *, user_inputs: Iterable[str] = ()) -> str | None:
    """Return why `password` must not be a staff password (Japanese, ending in
    advice), or None if it is acceptable: MIN_PASSWORD_LENGTH characters and a
    zxcvbn score of MIN_SCORE or more. `user_inputs` (the address, the name)
    count as known words."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return (f"パスワードは {MIN_PASSWORD_LENGTH} 文字以上にしてください"
                f"（いまは {len(password)} 文字）。")
    from zxcvbn import zxcvbn

    inputs = [w for value in user_inputs for w in _words(value)]
    result = zxcvbn(password[:_CHECKED_LENGTH], user_inputs=inputs)
    if int(result["score"]) >= MIN_SCORE:
        return None
    return f"このパスワードは推測されやすいため使えません: {_why(result)}{_ADVICE}"


def _words(value: str) -> list[str]:
    """The address and its parts (kanri@metro.example.jp → kanri, metro, …)."""
    parts = value.lower().replace("@", " ").replace(".", " ").split()
    return [value.lower(), *parts]


def _why(result: Mapping[str, Any]) -> str:
    """One Japanese sentence for the weakest pattern zxcvbn matched."""
    warning = str(result["feedback"].get("warning") or "").lower()
    patterns = {str(m.get("pattern")) for m in result["sequence"]}
    dictionaries = {str(m.get("dictionary_name")) for m in result["sequence"]
                    if m.get("pattern") == "dictionary"}
    if "common" in warning or "top-" in warning or "passwords" in dictionaries:
        return "よく使われるパスワード（またはそれに少し手を加えただけのもの）です。"
    if "user_inputs" in dictionaries:
        return "メールアドレスや名前を含んでいます。"
    if "repeat" in patterns:
        return "同じ文字や並びの繰り返しです。"
    if "sequence" in patterns:
        return "「abc」「123」のような単純な連続です。"
    if "spatial" in patterns:
        return "キーボードの並び（qwerty など）です。"
    if "date" in patterns or "regex" in patterns:
        return "日付や年号は推測されやすい要素です。"
    if "dictionary" in patterns:
        return "辞書にある単語や名前だけでできています。"
    return "単純なパターンです。"
