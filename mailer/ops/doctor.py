"""`mailer doctor`: is this installation ready to send?

Each `check_*` function takes Settings (and the I/O it needs, passed in) and
returns a list of `Check`; `run_doctor` runs them all in order. The CLI only
prints the lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mailer.delivery.dkim import DkimKey, DkimKeyError, dns_txt_record, load_dkim_key
from mailer.i18n import _
from mailer.ops.checks import Check, Status, error, ok, warn
from mailer.ops.dns import (
    FALLBACK_SUFFIXES,
    DnsRecord,
    aligned,
    dns_records,
    load_public_suffixes,
    organisational_domain,
)
from mailer.ops.probes import check_database, check_redis, check_relays
from mailer.secrets_check import KEY_RECIPE, key_weakness
from mailer.settings import Environment, Settings, SettingsError

#: relay host names that only ever mean "a development mail catcher"
CATCHER_HOSTS = frozenset({"mailcatcher", "mailpit", "mailhog"})


def check_load(load: Callable[[], Settings]) -> tuple[Settings | None, list[Check]]:
    """Return (settings, [ok]) or (None, one error per bad MAILER_* variable)."""
    try:
        settings = load()
    except SettingsError as exc:
        checks = []
        for line in str(exc).splitlines():
            var, _sep, what = line.partition(": ")
            checks.append(
                error(
                    "secret key" if var == "MAILER_SECRET_KEY" else "configuration",
                    line if not what else f"{var}: {what}",
                    _("環境変数か .env の {var} を直してください（README の Configuration を参照）"
                      ).format(var=var),
                )
            )
        return None, checks
    return settings, [ok("configuration", _("読み込めます（MAILER_ENV={env}）").format(
        env=settings.env.value))]


def check_config(
    settings: Settings,
    *,
    suffixes: Iterable[str] = FALLBACK_SUFFIXES,
    templates_dir: Path | None = None,
) -> list[Check]:
    """Return warnings about values that load but will hurt in production."""
    checks: list[Check] = []
    production = settings.env is Environment.PRODUCTION
    if production and urlsplit(settings.base_url).scheme != "https":
        checks.append(
            warn(
                "base url",
                _("MAILER_ENV=production で {url}").format(url=settings.base_url),
                _("配信停止のリンクは https でなければなりません: MAILER_BASE_URL=https://… "
                  "にしてください"),
            )
        )
    else:
        checks.append(ok("base url", settings.base_url))
    checks += check_secret_keys(settings)
    rules = frozenset(suffixes)
    from_domain = settings.from_address.rsplit("@", 1)[1]
    bounce_domain = settings.return_path_domain
    if aligned(from_domain, bounce_domain, rules):
        checks.append(
            ok("alignment", _("From の {from_domain} とバウンス用ドメイン {bounce_domain} "
                              "は揃っています"
                              "（DMARC）").format(
                from_domain=from_domain, bounce_domain=bounce_domain))
        )
    else:
        org = organisational_domain(from_domain, rules)
        checks.append(
            warn(
                "alignment",
                _("From のドメイン {from_domain} とバウンス用ドメイン {bounce_domain} は組"
                  "織ドメインが"
                  "異なります: SPF は DMARC の整合を満たせません").format(
                    from_domain=from_domain, bounce_domain=bounce_domain),
                _("MAILER_BOUNCE_DOMAIN を {org} のサブドメインにしてください（例: bounce.{org}）"
                  ).format(org=org),
            )
        )
    if not settings.smtp_url:
        make = error if settings.env is not Environment.LOCAL else warn
        checks.append(
            make(
                "smtp",
                _("MAILER_SMTP_URL が設定されていません: 中継サーバーがありません"
                  "（自前の受け口を持つのは `mailer demo` だけです）"),
                _("`mailer demo` 以外では必須です: "
                  "MAILER_SMTP_URL=smtp+starttls://user:pass@relay:587 を設定してください"),
            )
        )
    elif production and any(r.host in CATCHER_HOSTS for r in settings.relays()):
        checks.append(
            warn(
                "smtp",
                _("MAILER_ENV=production なのに開発用のメール受け口へ送ります"),
                _("MAILER_SMTP_URL を本物のリレーに向けてください"),
            )
        )
    if templates_dir is not None:
        if (templates_dir / "email" / "part.html.j2").is_file():
            checks.append(ok("templates", str(templates_dir)))
        else:
            checks.append(
                error(
                    "templates",
                    _("{path} にテンプレートがありません").format(path=templates_dir),
                    _("templates/ フォルダごと mailer を導入してください（docs/operations.md "
                      "を参照）"),
                )
            )
    return checks


def check_secret_keys(settings: Settings) -> list[Check]:
    """Return the 'secret key' check: an error for the built-in or a weak key in
    any environment (`mailer web --host 0.0.0.0` and the worker refuse it
    outside loopback), and a warning for a weak retired key (it still verifies
    unsubscribe and preference links)."""
    checks: list[Check] = []
    if settings.env is Environment.LOCAL:
        checks.append(
            warn(
                "environment",
                _("MAILER_ENV=local: 弱い秘密鍵で起動できるのは、すべてがループバック上のと"
                  "きだけです"),
                _("サーバーでは MAILER_ENV=production と本物の MAILER_SECRET_KEY を設定して"
                  "ください"),
            )
        )
    reason = key_weakness(settings.secret_key)
    if reason is not None:
        checks.append(
            error("secret key", f"MAILER_SECRET_KEY: {reason}",
                  _("{recipe} で鍵を作り、MAILER_SECRET_KEY に設定してください").format(
                      recipe=KEY_RECIPE))
        )
    else:
        checks.append(ok("secret key", _("MAILER_SECRET_KEY は十分に強い鍵です（セッション"
                                         "とリンクに署名します）")))
    old = settings.secret_keys[:-1]
    weak_old = [i for i, key in enumerate(old, start=1) if key_weakness(key) is not None]
    if weak_old:
        checks.append(
            warn(
                "old secret keys",
                _("MAILER_OLD_SECRET_KEYS: {count} 本のうち {keys} 番目の鍵が弱い鍵です。"
                  "配信停止と配信設定のリンクの確認にはまだ使われます").format(
                    keys=", ".join(map(str, weak_old)), count=len(old)),
                _("その鍵を載せたメールが古くなったら、MAILER_OLD_SECRET_KEYS から外してください"),
            )
        )
    elif old:
        checks.append(
            ok("old secret keys",
               _("引退した鍵 {count} 本: 配信停止と配信設定のリンクの確認だけに使い、"
                 "セッションや CSRF トークンには使いません").format(count=len(old)))
        )
    return checks


@dataclass
class DkimResult:
    checks: list[Check]
    key: DkimKey | None = None


def check_dkim(settings: Settings) -> DkimResult:
    """Load the DKIM key if one is configured; it must be RSA with 2048+ bits."""
    domain = settings.from_address.rsplit("@", 1)[1]
    if settings.dkim_key_file is None:
        if settings.env is Environment.LOCAL:
            return DkimResult([ok("dkim", _("設定されていません（MAILER_ENV=local）"))])
        return DkimResult(
            [
                warn(
                    "dkim",
                    _("MAILER_DKIM_KEY_FILE が設定されていません: メールは署名なしで出ます"),
                    _("大量に送る送信者は署名が必要です: openssl genrsa -out dkim.pem 2048 の後、"
                      "MAILER_DKIM_KEY_FILE を設定してください"),
                )
            ]
        )
    try:
        key = load_dkim_key(settings.dkim_key_file, selector=settings.dkim_selector, domain=domain)
    except (DkimKeyError, ValueError) as exc:
        return DkimResult(
            [
                error(
                    "dkim",
                    str(exc),
                    _("新しい鍵を作ってください: openssl genrsa -out dkim.pem 2048"
                      "（その TXT レコードも公開してください）"),
                )
            ]
        )
    return DkimResult(
        [ok("dkim", _("鍵 {path} を読み込めます。セレクタ {selector}、d={domain}").format(
            path=settings.dkim_key_file, selector=key.selector, domain=domain))],
        key,
    )


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)
    records: list[DnsRecord] = field(default_factory=list)
    domain: str = ""


@dataclass
class Probes:
    """The I/O `run_doctor` performs; tests replace single members."""

    database: Callable[[Settings], list[Check]]
    redis: Callable[[Settings], list[Check]]
    relays: Callable[[Settings], list[Check]]
    activity: Callable[[Settings], list[Check]] = lambda _settings: []


def default_probes() -> Probes:
    from mailer import db

    def database(settings: Settings) -> list[Check]:
        def engine_for(url: str):  # type: ignore[no-untyped-def]
            if url.startswith("sqlite"):
                return db.make_engine(url)
            return db.make_engine(url, connect_args={"connect_timeout": 10})

        return check_database(
            settings.effective_database_url,
            make_engine=engine_for,
            current_revision=db.current_revision,
            head_revision=db.head_revision,
            known_revision=_known_revision,
        )

    def activity(settings: Settings) -> list[Check]:
        from datetime import UTC, datetime

        import redis

        from mailer.delivery.liveness import WorkerRegistry
        from mailer.ops.probes import check_activity

        engine = db.make_engine(settings.effective_database_url)
        client = (redis.Redis.from_url(settings.redis_url, socket_timeout=5)
                  if settings.redis_url else None)
        try:
            return check_activity(
                engine, (lambda: WorkerRegistry(client).seen()) if client else (lambda: []),
                now=datetime.now(UTC))
        except Exception:  # no database or no schema: the database line says so
            return []
        finally:
            engine.dispose()
            if client is not None:
                client.close()

    return Probes(
        activity=activity,
        database=database,
        redis=lambda s: check_redis(s.redis_url, timeout=min(s.smtp_timeout, 10.0)),
        relays=lambda s: check_relays(s.relays(), timeout=s.smtp_timeout, ca_file=s.smtp_ca_file),
    )


def _known_revision(rev: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from mailer.db import alembic_config

    try:
        return (
            ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(rev) is not None
        )
    except CommandError:
        return False


def run_doctor(
    load: Callable[[], Settings],
    *,
    probes: Probes | None = None,
    suffixes: Iterable[str] | None = None,
    templates_dir: Path | None = None,
) -> DoctorReport:
    """Run every check; stop after the configuration if it does not load.

    `suffixes` defaults to the system's public suffix list (or a built-in
    fallback); `templates_dir`, when given, must hold the e-mail templates.
    """
    settings, checks = check_load(load)
    report = DoctorReport(checks)
    if settings is None:
        return report
    probes = probes or default_probes()
    rules = frozenset(suffixes) if suffixes is not None else load_public_suffixes()
    report.checks += check_config(settings, suffixes=rules, templates_dir=templates_dir)
    database_checks = probes.database(settings)
    report.checks += database_checks
    report.checks += probes.redis(settings)
    report.checks += probes.relays(settings)
    if all(c.status is not Status.ERROR for c in database_checks):  # never creates a file
        report.checks += probes.activity(settings)
    dkim = check_dkim(settings)
    report.checks += dkim.checks
    report.domain = settings.from_address.rsplit("@", 1)[1]
    report.records = dns_records(
        from_domain=report.domain,
        bounce_domain=settings.return_path_domain,
        relays=settings.relays(),
        dkim_record=dns_txt_record(dkim.key) if dkim.key else None,
        suffixes=rules,
    )
    return report
