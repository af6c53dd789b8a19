"""Organisational domains (for DMARC alignment) and the DNS records to publish.

DMARC passes when the From domain *aligns* with the domain SPF checked (the
envelope sender, here the VERP bounce domain) or with the DKIM d= domain.
Relaxed alignment compares organisational domains: the registrable domain
under a public suffix (`news.city.example.lg.jp` → `example.lg.jp`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mailer.delivery.relay import RelayConfig
from mailer.i18n import _

#: Debian/Ubuntu's `publicsuffix` package; read when present.
SYSTEM_PSL = Path("/usr/share/publicsuffix/public_suffix_list.dat")

#: Used when no public suffix list is installed (e.g. the slim Docker image):
#: the second-level suffixes our senders and recipients actually use.
FALLBACK_SUFFIXES = frozenset(
    {
        "jp", "co.jp", "ne.jp", "or.jp", "go.jp", "ac.jp", "ad.jp", "ed.jp", "gr.jp",
        "lg.jp", "tokyo.jp", "uk", "co.uk", "org.uk", "ac.uk", "gov.uk", "au", "com.au",
        "net.au", "org.au", "gov.au", "nz", "co.nz", "kr", "co.kr", "cn", "com.cn",
        "tw", "com.tw", "com", "net", "org", "edu", "gov", "io", "example", "test",
        "invalid", "localhost",
    }
)  # fmt: skip


def load_public_suffixes(path: Path = SYSTEM_PSL) -> frozenset[str]:
    """Return the rules of a public suffix list file (`*.x` and `!x` kept as written),
    or FALLBACK_SUFFIXES when the file cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return FALLBACK_SUFFIXES
    rules = {
        line.split()[0].lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("//")
    }
    return frozenset(rules) or FALLBACK_SUFFIXES


def _ascii(domain: str) -> str:
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def organisational_domain(domain: str, suffixes: Iterable[str] = FALLBACK_SUFFIXES) -> str:
    """Return the registrable domain of `domain` (public suffix + one label).

    Follows the public suffix list algorithm (longest rule wins, `*.` wildcards,
    `!` exceptions); an unknown top-level label counts as a suffix.
    """
    rules = frozenset(suffixes)
    labels = _ascii(domain).split(".")
    suffix_len = 1
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        wildcard = ".".join(["*", *labels[i + 1 :]])
        if f"!{candidate}" in rules:
            suffix_len = len(labels) - i - 1
            break
        if candidate in rules or (i + 1 < len(labels) and wildcard in rules):
            suffix_len = len(labels) - i
            break
    keep = min(len(labels), suffix_len + 1)
    return ".".join(labels[-keep:])


def aligned(a: str, b: str, suffixes: Iterable[str] = FALLBACK_SUFFIXES) -> bool:
    """True when two domains share an organisational domain (DMARC relaxed alignment)."""
    rules = frozenset(suffixes)
    return organisational_domain(a, rules) == organisational_domain(b, rules)


@dataclass(frozen=True)
class DnsRecord:
    """A zone line to publish and why."""

    record: str
    note: str


def spf_mechanisms(relays: list[RelayConfig]) -> list[str]:
    """Return `ip4:`/`ip6:`/`a:` mechanisms naming the relays (deduplicated, in order)."""
    mechanisms: list[str] = []
    for relay in relays:
        try:
            ip = ipaddress.ip_address(relay.host)
        except ValueError:
            mech = f"a:{_ascii(relay.host)}"
        else:
            mech = f"ip{ip.version}:{ip}"
        if mech not in mechanisms:
            mechanisms.append(mech)
    return mechanisms


def dns_records(
    *,
    from_domain: str,
    bounce_domain: str,
    relays: list[RelayConfig],
    dkim_record: str | None,
    suffixes: Iterable[str] = FALLBACK_SUFFIXES,
) -> list[DnsRecord]:
    """Return the records to publish for sending as `from_domain` with VERP
    return paths at `bounce_domain` through `relays`."""
    rules = frozenset(suffixes)
    from_ascii, bounce_ascii = _ascii(from_domain), _ascii(bounce_domain)
    org = organisational_domain(from_ascii, rules)
    records: list[DnsRecord] = []
    if dkim_record:
        records.append(DnsRecord(dkim_record, _("DKIM の公開鍵（d= は From のドメイン）")))
    mechanisms = spf_mechanisms(relays) or ["a:YOUR-RELAY.example"]
    records.append(
        DnsRecord(
            f'{bounce_ascii} TXT "v=spf1 {" ".join(mechanisms)} -all"',
            _("エンベロープの送信者（VERP のバウンス用ドメイン）の SPF: 代わりに送るホストを"
              "挙げてください。リレーが事業者のものなら、a: の代わりにその事業者が案内する "
              "include:（例: include:_spf.provider.example）を使ってください"),
        )
    )
    records.append(
        DnsRecord(
            f'_dmarc.{org} TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@{org}"',
            _("組織ドメインの DMARC。そのドメインがすでに他のメールを送っているなら、"
              "p=none で始めて報告を見てください"),
        )
    )
    records.append(
        DnsRecord(
            f"{bounce_ascii} MX 10 <" + _("バウンスの受け口を動かすホスト") + ">.",
            _("バウンスは bounces+TOKEN@{domain} に戻ります（VERP）。その MX はバウンスの受け口に"
              "届かなければならず、ドメインは DMARC のために {org} と揃っていなければなりません"
              ).format(domain=bounce_ascii, org=org),
        )
    )
    return records
