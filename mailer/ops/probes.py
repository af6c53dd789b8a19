"""Doctor checks that talk to the services: database, Redis, SMTP relays.

Each check takes what it needs as arguments and turns every way the service
can fail into one `Check` naming the problem and its fix. Nothing here sends
mail or writes data.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from mailer.delivery.relay import RelayConfig
from mailer.ops.checks import Check, error, ok, warn
from mailer.settings import redact_url

# -- database -----------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return redact_url(lines[0]) if lines else type(orig).__name__


def check_database(
    url: str,
    *,
    make_engine: Callable[[str], Engine],
    current_revision: Callable[[Engine], str | None],
    head_revision: Callable[[], str | None],
    known_revision: Callable[[str], bool],
) -> list[Check]:
    """Return the database checks: reachable, and migrated to the newest revision.

    A SQLite file that does not exist is reported rather than created.
    """
    shown = redact_url(url)
    parsed = make_url(url)
    sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None,
        "",
        ":memory:",
    )
    if sqlite_file and not Path(str(parsed.database)).exists():
        return [
            error(
                "database",
                f"{shown}: the SQLite file does not exist",
                "run `mailer db upgrade` (or set MAILER_DATABASE_URL)",
            )
        ]
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = current_revision(engine)
    except Exception as exc:
        return [
            error(
                "database",
                f"{shown}: cannot connect ({_first_line(exc)})",
                "check MAILER_DATABASE_URL, that the server runs and accepts this user",
            )
        ]
    checks = [ok("database", f"{shown}: reachable")]
    head = head_revision()
    if current == head:
        checks.append(ok("migrations", f"schema at the newest revision ({head})"))
    elif current is None:
        checks.append(
            error(
                "migrations",
                "missing migration: the database has no schema",
                "run `mailer db upgrade`",
            )
        )
    elif not known_revision(current):
        checks.append(
            error(
                "migrations",
                f"the database is at revision {current}, unknown to this version",
                "a newer mailer migrated it: deploy that version (migrations are forward only)",
            )
        )
    else:
        checks.append(
            error(
                "migrations",
                f"missing migration: the database is at {current}, the code needs {head}",
                "run `mailer db upgrade`",
            )
        )
    return checks


# -- Redis --------------------------------------------------------------------


def connect_redis(url: str, timeout: float) -> Any:
    """Return a redis-py client for `url` with short socket timeouts."""
    import redis

    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
    )


def check_redis(
    url: str | None, *, connect: Callable[[str, float], Any] = connect_redis, timeout: float = 5.0
) -> list[Check]:
    """Return the Redis checks: reachable, `noeviction`, persistence on."""
    if not url:
        return [
            error(
                "redis",
                "MAILER_REDIS_URL is not set (an embedded Redis is used only by `mailer demo`)",
                "required outside `mailer demo`: set MAILER_REDIS_URL=redis://host:6379/0",
            )
        ]
    import redis

    shown = redact_url(url)
    client = connect(url, timeout)
    try:
        try:
            client.ping()
        except redis.AuthenticationError as exc:
            return [
                error(
                    "redis",
                    f"{shown}: authentication failed ({exc})",
                    "check the password in MAILER_REDIS_URL",
                )
            ]
        except redis.RedisError as exc:
            return [
                error(
                    "redis",
                    f"{shown}: cannot connect ({exc})",
                    "check MAILER_REDIS_URL and that redis-server runs",
                )
            ]
        checks = [ok("redis", f"{shown}: reachable")]
        try:
            policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
            appendonly = client.config_get("appendonly").get("appendonly")
            save = client.config_get("save").get("save")
        except redis.RedisError as exc:
            checks.append(
                warn(
                    "redis config",
                    f"cannot read the configuration ({exc})",
                    "CONFIG is disabled here: make sure maxmemory-policy is noeviction "
                    "and persistence is on",
                )
            )
            return checks
        if policy == "noeviction":
            checks.append(ok("redis eviction", "maxmemory-policy noeviction"))
        else:
            checks.append(
                error(
                    "redis eviction",
                    f"maxmemory-policy is {policy}",
                    "Redis may evict queued tasks: set maxmemory-policy noeviction",
                )
            )
        if appendonly == "yes":
            checks.append(ok("redis persistence", "append-only file on"))
        elif save:
            checks.append(ok("redis persistence", f"RDB snapshots ({save}); no append-only file"))
        else:
            checks.append(
                warn(
                    "redis persistence",
                    "off (appendonly no, no save points): a restart loses queued tasks",
                    "start redis-server with --appendonly yes (the dispatcher re-queues "
                    "running sends, but a restart still stalls them)",
                )
            )
        return checks
    finally:
        client.close()


# -- SMTP relays --------------------------------------------------------------


def _reply(exc: smtplib.SMTPResponseException) -> str:
    err = exc.smtp_error
    msg = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
    return f"{exc.smtp_code} {' '.join(msg.split())}"[:200]


def probe_relay(
    relay: RelayConfig,
    *,
    timeout: float,
    ca_file: str | None = None,
    local_hostname: str | None = None,
) -> Check:
    """Connect to `relay`, EHLO, STARTTLS and AUTH as configured, then QUIT.

    Sends no mail. Returns one Check whose message names the stage that failed:
    connect, TLS, STARTTLS, AUTH, or the greeting.
    """
    name = f"smtp {relay.name}"
    stage = "connect"
    conn: smtplib.SMTP | None = None
    done: list[str] = []
    try:
        ctx = ssl.create_default_context(cafile=ca_file)
        if relay.implicit_tls:
            stage = "TLS"
            conn = smtplib.SMTP_SSL(
                relay.host, relay.port, timeout=timeout, local_hostname=local_hostname, context=ctx
            )
            done.append("TLS")
        else:
            conn = smtplib.SMTP(
                relay.host, relay.port, timeout=timeout, local_hostname=local_hostname
            )
        stage = "EHLO"
        conn.ehlo()
        if relay.starttls:
            stage = "STARTTLS"
            conn.starttls(context=ctx)
            conn.ehlo()
            done.append("STARTTLS")
        if relay.username:
            stage = "AUTH"
            conn.login(relay.username, relay.password or "")
            done.append(f"AUTH as {relay.username}")
        stage = "QUIT"
        conn.quit()
        conn = None
    except smtplib.SMTPAuthenticationError as exc:
        return error(
            name,
            f"authentication failed ({_reply(exc)})",
            "check the user and password in MAILER_SMTP_URL",
        )
    except smtplib.SMTPNotSupportedError as exc:
        if stage == "STARTTLS":
            return error(
                name,
                "the relay does not offer STARTTLS",
                "use smtps:// if it speaks TLS from the start, or ask for STARTTLS",
            )
        return error(
            name,
            f"the relay does not offer AUTH ({exc})",
            "many relays offer AUTH only after STARTTLS: use smtp+starttls://",
        )
    except ssl.SSLCertVerificationError as exc:
        return error(
            name,
            f"TLS certificate not trusted ({exc.verify_message or exc})",
            "set MAILER_SMTP_CA_FILE to the CA bundle that signed it, "
            "or fix the relay's certificate",
        )
    except ssl.SSLError as exc:
        return error(
            name,
            f"TLS handshake failed at {stage} ({exc.reason or exc})",
            "check the scheme: smtps:// for port 465, smtp+starttls:// for 587",
        )
    except socket.gaierror as exc:
        return error(
            name,
            f"cannot resolve {relay.host} ({exc.strerror})",
            "check the host in MAILER_SMTP_URL and DNS",
        )
    except smtplib.SMTPServerDisconnected as exc:
        if stage == "AUTH":
            # Some servers (aiosmtpd among them) hang up instead of answering 535.
            return error(
                name,
                "authentication failed (the relay closed the connection at AUTH)",
                "check the user and password in MAILER_SMTP_URL",
            )
        return error(
            name,
            f"the relay closed the connection at {stage} ({exc})",
            "check the scheme and port in MAILER_SMTP_URL",
        )
    except smtplib.SMTPResponseException as exc:
        return error(
            name,
            f"refused at {stage}: {_reply(exc)}",
            "check the relay's logs and that it accepts this host",
        )
    except TimeoutError as exc:
        return error(
            name,
            f"relay down: no answer within {timeout:g} s at {stage} ({exc})",
            "check host, port and firewall; raise MAILER_SMTP_TIMEOUT if the relay is slow",
        )
    except smtplib.SMTPException as exc:
        return error(name, f"SMTP error at {stage} ({exc})", "check the relay's logs")
    except OSError as exc:
        what = "cannot connect" if stage == "connect" else f"connection lost at {stage}"
        return error(
            name,
            f"relay down: {what} ({exc.strerror or exc})",
            "check the host and port in MAILER_SMTP_URL and that the relay runs",
        )
    finally:
        if conn is not None:
            conn.close()
    if relay.username and not (relay.starttls or relay.implicit_tls):
        return warn(
            name,
            f"connected, AUTH as {relay.username} without TLS: "
            "the password crosses the network in clear",
            "use smtp+starttls:// or smtps://",
        )
    return ok(name, "connected" + "".join(f", {d}" for d in done) + " (no mail sent)")


def check_relays(
    relays: list[RelayConfig],
    *,
    timeout: float,
    ca_file: str | None,
    probe: Callable[..., Check] = probe_relay,
) -> list[Check]:
    """Return one Check per relay, in failover order."""
    return [probe(r, timeout=timeout, ca_file=ca_file) for r in relays]


# -- workers and stuck rows ---------------------------------------------------

#: a row in `sending` this long past its lease means the sweeper is not running
STUCK_GRACE_SECONDS = 60.0


def check_activity(
    engine: Engine,
    workers: Callable[[], list[Any]],
    *,
    now: Any,
) -> list[Check]:
    """Return the checks of what is running: live and dead workers
    (`mailer.delivery.liveness`), and deliveries stuck in `sending` past their
    lease (the dispatcher's sweeper, run by beat and a worker, is not running).

    `workers()` returns the registry's `WorkerSeen` entries; `now` is an aware
    UTC datetime.
    """
    from datetime import timedelta

    from sqlalchemy import func, select

    from mailer.models import Delivery, DeliveryStatus, Send, SendStatus

    D = Delivery.__table__  # type: ignore[attr-defined]
    S = Send.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        sending = conn.execute(select(func.count()).where(
            S.c.status.in_([SendStatus.RUNNING.value, SendStatus.SCHEDULED.value]))).scalar_one()
        stuck, oldest = conn.execute(
            select(func.count(), func.min(D.c.lease_until)).where(
                D.c.status == DeliveryStatus.SENDING.value,
                D.c.lease_until < now - timedelta(seconds=STUCK_GRACE_SECONDS))).one()
    checks: list[Check] = []
    try:
        seen = workers()
    except Exception as exc:  # Redis down: the redis check says so already
        seen = None
        checks.append(warn("workers", f"cannot read the worker registry ({_first_line(exc)})",
                           "see the redis line"))
    if seen is not None:
        alive = [w for w in seen if w.alive]
        dead = [w for w in seen if not w.alive]
        if alive:
            names = ", ".join(w.hostname for w in alive[:5])
            checks.append(ok("workers", f"{len(alive)} alive ({names})"))
        elif sending:
            checks.append(error(
                "workers", f"no live worker, and {sending} send(s) are running or scheduled",
                "start `mailer worker` (and `mailer beat`)"))
        else:
            checks.append(ok("workers", "none alive (nothing is being sent)"))
        for w in dead:
            checks.append(warn(
                "workers",
                f"{w.hostname} last seen {w.seconds_ago:.0f} s ago without shutting down "
                "(killed or frozen)",
                "its rows return to the queue when their lease ends; restart it"))
    if stuck:
        checks.append(error(
            "deliveries",
            f"{stuck} stuck in `sending` more than {STUCK_GRACE_SECONDS:.0f} s past their lease "
            f"(oldest lease ended {oldest})",
            "the dispatcher's sweeper is not running: start `mailer beat` and a worker"))
    else:
        checks.append(ok("deliveries", "none stuck in `sending`"))
    return checks
