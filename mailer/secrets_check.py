"""Is a signing key strong enough, and is this process exposed to others?

`key_weakness` is one pure function: the reason (Japanese, for the operator)
a MAILER_SECRET_KEY must not sign sessions and links, or None. `exposure`
lists what makes a process reachable from other machines; a weak key is
accepted only when that list is empty and MAILER_ENV=local (the rule is in
docs/operations.md, "The secret key").
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from mailer.settings import Settings

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
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


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


def is_loopback(host: str | None) -> bool:
    """True for a loopback address or name, and for a local socket (no host)."""
    if not host:
        return True
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure(settings: Settings, *, listen_host: str | None = None) -> list[str]:
    """Return what reaches beyond this machine (Japanese, one item each): the
    address a server listens on, the database, the broker, the SMTP relays.

    An empty list means every part is on loopback (or a local file / socket).
    """
    found = []
    if listen_host is not None and not is_loopback(listen_host):
        found.append(f"待ち受けアドレス {listen_host}")
    url = settings.effective_database_url
    if not url.startswith("sqlite") and not is_loopback(urlsplit(url).hostname):
        found.append(f"データベース {urlsplit(url).hostname}")
    if settings.redis_url and not is_loopback(urlsplit(settings.redis_url).hostname):
        found.append(f"Redis {urlsplit(settings.redis_url).hostname}")
    found += [f"SMTP リレー {r.host}" for r in settings.relays() if not is_loopback(r.host)]
    return found


def weak_key_refusal(settings: Settings, *, listen_host: str | None = None) -> str | None:
    """Return the one-line Japanese refusal for starting a process with a weak
    MAILER_SECRET_KEY, or None when it may start (a strong key; or MAILER_ENV=local
    with everything on loopback)."""
    from mailer.settings import Environment

    reason = key_weakness(settings.secret_key)
    if reason is None:
        return None
    exposed = exposure(settings, listen_host=listen_host)
    if settings.env is Environment.LOCAL and not exposed:
        return None
    why = (f"{'、'.join(exposed)} がループバック外にあるため" if exposed
           else f"MAILER_ENV={settings.env.value} のため")
    return (f"MAILER_SECRET_KEY が{reason}。{why}、この鍵では起動しません"
            "（この鍵を知る人は管理画面のセッションを偽造できます）。"
            f"新しい鍵を {KEY_RECIPE} で作り、MAILER_SECRET_KEY に設定してください。")
