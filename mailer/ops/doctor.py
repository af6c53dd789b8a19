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
            var, _, what = line.partition(": ")
            checks.append(
                error(
                    "secret key" if var == "MAILER_SECRET_KEY" else "configuration",
                    line if not what else f"{var}: {what}",
                    f"fix {var} in the environment or .env (see README: Configuration)",
                )
            )
        return None, checks
    return settings, [ok("configuration", f"loads (MAILER_ENV={settings.env.value})")]


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
                f"MAILER_ENV=production with {settings.base_url}",
                "unsubscribe links must be https: set MAILER_BASE_URL=https://…",
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
            ok("alignment", f"From {from_domain} and bounce domain {bounce_domain} align (DMARC)")
        )
    else:
        org = organisational_domain(from_domain, rules)
        checks.append(
            warn(
                "alignment",
                f"From domain {from_domain} and bounce domain {bounce_domain} are different "
                "organisational domains: SPF cannot pass DMARC alignment",
                f"set MAILER_BOUNCE_DOMAIN to a subdomain of {org} (e.g. bounce.{org})",
            )
        )
    if not settings.smtp_url:
        make = error if settings.env is not Environment.LOCAL else warn
        checks.append(
            make(
                "smtp",
                "MAILER_SMTP_URL is not set: no relay (only `mailer demo` has its own sink)",
                "required outside `mailer demo`: "
                "set MAILER_SMTP_URL=smtp+starttls://user:pass@relay:587",
            )
        )
    elif production and any(r.host in CATCHER_HOSTS for r in settings.relays()):
        checks.append(
            warn(
                "smtp",
                "MAILER_ENV=production sends to a development mail catcher",
                "point MAILER_SMTP_URL at your real relay",
            )
        )
    if templates_dir is not None:
        if (templates_dir / "email" / "part.html.j2").is_file():
            checks.append(ok("templates", str(templates_dir)))
        else:
            checks.append(
                error(
                    "templates",
                    f"no templates found in {templates_dir}",
                    "install mailer with its templates/ folder (see docs/operations.md)",
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
                "MAILER_ENV=local: a weak secret key starts only when everything is on loopback",
                "set MAILER_ENV=production and a real MAILER_SECRET_KEY on a server",
            )
        )
    reason = key_weakness(settings.secret_key)
    if reason is not None:
        checks.append(
            error("secret key", f"MAILER_SECRET_KEY: {reason}",
                  f"make a key with {KEY_RECIPE} and set MAILER_SECRET_KEY")
        )
    else:
        checks.append(ok("secret key", "MAILER_SECRET_KEY is strong (signs sessions and links)"))
    old = settings.secret_keys[:-1]
    weak_old = [i for i, key in enumerate(old, start=1) if key_weakness(key) is not None]
    if weak_old:
        checks.append(
            warn(
                "old secret keys",
                f"MAILER_OLD_SECRET_KEYS: key(s) {', '.join(map(str, weak_old))} of {len(old)} "
                "are weak; they still verify unsubscribe and preference links",
                "drop them from MAILER_OLD_SECRET_KEYS once the mail that carries them is old",
            )
        )
    elif old:
        checks.append(
            ok("old secret keys",
               f"{len(old)} retired: they verify unsubscribe and preference links only, "
               "never sessions or CSRF tokens")
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
            return DkimResult([ok("dkim", "not configured (MAILER_ENV=local)")])
        return DkimResult(
            [
                warn(
                    "dkim",
                    "MAILER_DKIM_KEY_FILE is not set: messages go out unsigned",
                    "bulk senders must sign: openssl genrsa -out dkim.pem 2048, "
                    "then set MAILER_DKIM_KEY_FILE",
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
                    "generate a new key: openssl genrsa -out dkim.pem 2048 "
                    "(and publish its TXT record)",
                )
            ]
        )
    return DkimResult(
        [ok("dkim", f"key {settings.dkim_key_file} loads; selector {key.selector}, d={domain}")],
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
