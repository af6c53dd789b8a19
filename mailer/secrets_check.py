"""Is a signing key strong enough?

`key_weakness` is one pure function: the reason (Japanese, for the operator)
a MAILER_SECRET_KEY must not sign sessions and links, or None. Where a weak
key may still be used (MAILER_ENV=local, everything on loopback) is decided
in `mailer.exposure`; the rule is in docs/operations.md, "The secret key".
"""

from __future__ import annotations

from collections import Counter

#: the key written in the source, used when MAILER_SECRET_KEY is not set
BUILT_IN_KEY = "local-development-secret-not-for-production"
MIN_KEY_LENGTH = 32
#: fewer distinct characters than this and the key is not random
MIN_DISTINCT_CHARS = 10
#: zxcvbn's estimate (log10 of guesses) below which a key is a guessable phrase
MIN_KEY_GUESSES_LOG10 = 24
#: words that mark a value copied from an example rather than generated
PLACEHOLDER_WORDS = (
    "changeme", "change-me", "change_me", "replaceme", "replace-me", "secret", "password",
    "passwd", "example", "placeholder", "xxxx", "dummy", "insecure", "default",
)
#: how to make a good key (quoted in every refusal)
KEY_RECIPE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


def key_weakness(key: str) -> str | None:
    """Return why `key` must not sign sessions and links (Japanese), or None if it
    is strong: 32+ characters, not the built-in key, no placeholder word, not
    one character or a short pattern repeated, enough distinct characters and
    not a guessable phrase by zxcvbn's estimate."""
    if key == BUILT_IN_KEY:
        return "ソースコードに書かれた組み込みの開発用の鍵です"
    if len(key) < MIN_KEY_LENGTH:
        return f"短すぎます（{len(key)} 文字。{MIN_KEY_LENGTH} 文字以上が必要です）"
    lowered = key.lower()
    for word in PLACEHOLDER_WORDS:
        if word in lowered:
            return f"例や仮の値によくある「{word}」を含んでいます"
    if _period(key) is not None:
        return f"短い並び「{key[: _period(key)]}」の繰り返しです"
    char, count = Counter(key).most_common(1)[0]
    if count * 4 > len(key):
        return f"同じ文字「{char}」が多すぎます（{len(key)} 文字中 {count} 文字）"
    distinct = len(set(key))
    if distinct < MIN_DISTINCT_CHARS:
        return f"使われている文字の種類が少なすぎます（{distinct} 種類）"
    if _guesses_log10(key) < MIN_KEY_GUESSES_LOG10:
        return "辞書の単語・連番・キーボードの並びでできていて、推測されやすい鍵です"
    return None


def _period(key: str) -> int | None:
    """Return the length of the pattern `key` repeats (abcabcab… → 3), or None."""
    for p in range(1, len(key) // 2 + 1):
        if all(key[i] == key[i - p] for i in range(p, len(key))):
            return p
    return None


def _guesses_log10(key: str) -> float:
    from zxcvbn import zxcvbn

    # zxcvbn's matching grows with the length; a longer key is random or a
    # long phrase, and its first 100 characters tell which.
    return float(zxcvbn(key[:100])["guesses_log10"])
