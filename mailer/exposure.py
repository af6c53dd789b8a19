"""Is this process reachable from other machines, and may it start with its key?

A weak or built-in MAILER_SECRET_KEY lets anyone who knows it forge an admin
session. It is accepted only for a process that is purely local:
MAILER_ENV=local and the address it listens on, the database, the broker and
the SMTP relays all on loopback (or a local file or socket). Every other
setup needs a strong key (`mailer.secrets_check.key_weakness`); the rule is
documented in docs/operations.md, "The secret key".
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from mailer.secrets_check import KEY_RECIPE, key_weakness
from mailer.settings import Environment, Settings

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


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
