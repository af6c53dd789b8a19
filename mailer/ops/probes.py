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
from mailer.i18n import _
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
                _("{url}: SQLite のファイルがありません").format(url=shown),
                _("`mailer db upgrade` を実行してください（または MAILER_DATABASE_URL を設定）"),
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
                _("{url}: 接続できません（{reason}）").format(url=shown, reason=_first_line(exc)),
                _("MAILER_DATABASE_URL と、サーバーが動いていてこのユーザーを受け付けるかを"
                  "確かめてください"),
            )
        ]
    checks = [ok("database", _("{url}: 接続できます").format(url=shown))]
    head = head_revision()
    if current == head:
        checks.append(ok("migrations", _("スキーマは最新のリビジョンです（{head}）").format(
            head=head)))
    elif current is None:
        checks.append(
            error(
                "migrations",
                _("未適用のマイグレーション: データベースにスキーマがありません"),
                _("`mailer db upgrade` を実行してください"),
            )
        )
    elif not known_revision(current):
        checks.append(
            error(
                "migrations",
                _("データベースはリビジョン {current} で、この版は知"
                  "りません").format(current=current),
                _("新しい mailer が移行しました: その版を配備してください（マイグレーション"
                  "は前進のみ）"),
            )
        )
    else:
        checks.append(
            error(
                "migrations",
                _("未適用のマイグレーション: データベースは {current}、コードは {head} を必"
                  "要とします"
                  ).format(current=current, head=head),
                _("`mailer db upgrade` を実行してください"),
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
                _("MAILER_REDIS_URL が設定されていません（組み込みの Redis を使うのは `mailer "
                  "demo` "
                  "だけです）"),
                _("`mailer demo` 以外では必須です: MAILER_REDIS_URL=redis://host:6379/0 を"
                  "設定してください"),
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
                    _("{url}: 認証に失敗しました（{reason}）").format(url=shown, reason=exc),
                    _("MAILER_REDIS_URL のパスワードを確かめてください"),
                )
            ]
        except redis.RedisError as exc:
            return [
                error(
                    "redis",
                    _("{url}: 接続できません（{reason}）").format(url=shown, reason=exc),
                    _("MAILER_REDIS_URL と、redis-server が動いているかを確かめてください"),
                )
            ]
        checks = [ok("redis", _("{url}: 接続できます").format(url=shown))]
        try:
            policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
            appendonly = client.config_get("appendonly").get("appendonly")
            save = client.config_get("save").get("save")
        except redis.RedisError as exc:
            checks.append(
                warn(
                    "redis config",
                    _("設定を読めません（{reason}）").format(reason=exc),
                    _("ここでは CONFIG が使えません: maxmemory-policy が noeviction で、"
                      "永続化が有効であることを確かめてください"),
                )
            )
            return checks
        if policy == "noeviction":
            checks.append(ok("redis eviction", "maxmemory-policy noeviction"))
        else:
            checks.append(
                error(
                    "redis eviction",
                    _("maxmemory-policy が {policy} です").format(policy=policy),
                    _("Redis がキューのタスクを追い出すかもしれません: maxmemory-policy noe"
                      "viction に"
                      "してください"),
                )
            )
        if appendonly == "yes":
            checks.append(ok("redis persistence", _("追記専用ファイル（AOF）が有効です")))
        elif save:
            checks.append(ok("redis persistence", _(
                "RDB スナップショット（{save}）。追記専用ファイルはありません").format(save=save)))
        else:
            checks.append(
                warn(
                    "redis persistence",
                    _("無効（appendonly no、保存点なし）: 再起動でキューのタスクが失われます"),
                    _("redis-server を --appendonly yes で起動してください（配信係は実行中の送信を"
                      "キューに戻しますが、再起動で止まることに変わりはありません）"),
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
            done.append(_("{user} として AUTH").format(user=relay.username))
        stage = "QUIT"
        conn.quit()
        conn = None
    except smtplib.SMTPAuthenticationError as exc:
        return error(
            name,
            _("認証に失敗しました（{reason}）").format(reason=_reply(exc)),
            _("MAILER_SMTP_URL のユーザー名とパスワードを確かめてください"),
        )
    except smtplib.SMTPNotSupportedError as exc:
        if stage == "STARTTLS":
            return error(
                name,
                _("リレーが STARTTLS に対応していません"),
                _("最初から TLS で話すなら smtps:// を使うか、STARTTLS への対応を頼んでください"),
            )
        return error(
            name,
            _("リレーが AUTH に対応していません（{reason}）").format(reason=exc),
            _("多くのリレーは STARTTLS の後でだけ AUTH に対応します: smtp+starttls:// を使"
              "ってください"),
        )
    except ssl.SSLCertVerificationError as exc:
        return error(
            name,
            _("TLS の証明書を信頼できません（{reason}）").format(reason=exc.verify_message or exc),
            _("署名した CA の証明書を MAILER_SMTP_CA_FILE に設定するか、リレーの証明書を"
              "直してください"),
        )
    except ssl.SSLError as exc:
        return error(
            name,
            _("{stage} で TLS のハンドシェイクに失敗しました（{reason}）").format(
                stage=stage, reason=exc.reason or exc),
            _("スキームを確かめてください: ポート 465 は smtps://、587 は smtp+starttls://"),
        )
    except socket.gaierror as exc:
        return error(
            name,
            _("{host} を名前解決できません（{reason}）").format(
                host=relay.host, reason=exc.strerror),
            _("MAILER_SMTP_URL のホストと DNS を確かめてください"),
        )
    except smtplib.SMTPServerDisconnected as exc:
        if stage == "AUTH":
            # Some servers (aiosmtpd among them) hang up instead of answering 535.
            return error(
                name,
                _("認証に失敗しました（リレーが AUTH で接続を切りました）"),
                _("MAILER_SMTP_URL のユーザー名とパスワードを確かめてください"),
            )
        return error(
            name,
            _("リレーが {stage} で接続を切りました（{reason}）").format(stage=stage, reason=exc),
            _("MAILER_SMTP_URL のスキームとポートを確かめてください"),
        )
    except smtplib.SMTPResponseException as exc:
        return error(
            name,
            _("{stage} で断られました: {reason}").format(stage=stage, reason=_reply(exc)),
            _("リレーのログと、このホストを受け付けるかを確かめてください"),
        )
    except TimeoutError as exc:
        return error(
            name,
            _("リレーが止まっています: {stage} で {seconds} 秒以内に応答がありません"
              "（{reason}）").format(
                stage=stage, seconds=f"{timeout:g}", reason=exc),
            _("ホスト、ポート、ファイアウォールを確かめてください。リレーが遅いなら "
              "MAILER_SMTP_TIMEOUT を増やしてください"),
        )
    except smtplib.SMTPException as exc:
        return error(name, _("{stage} で SMTP のエラー（{reason}）").format(
            stage=stage, reason=exc),
                     _("リレーのログを確かめてください"))
    except OSError as exc:
        what = (_("接続できません") if stage == "connect"
                else _("{stage} で接続が切れました").format(stage=stage))
        return error(
            name,
            _("リレーが止まっています: {what}（{reason}）").format(
                what=what, reason=exc.strerror or exc),
            _("MAILER_SMTP_URL のホストとポート、リレーが動いているかを確かめてください"),
        )
    finally:
        if conn is not None:
            conn.close()
    if relay.username and not (relay.starttls or relay.implicit_tls):
        return warn(
            name,
            _("接続しました。TLS なしで {user} として AUTH: パスワードが平文でネットワークを"
              "流れます").format(user=relay.username),
            _("smtp+starttls:// か smtps:// を使ってください"),
        )
    return ok(name, _("接続しました{done}（メールは送っていません）").format(
        done="".join(_("、{step}").format(step=d) for d in done)))


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
        checks.append(warn("workers", _("ワーカーの登録簿を読めません（{reason}）").format(
            reason=_first_line(exc)), _("redis の行を見てください")))
    if seen is not None:
        alive = [w for w in seen if w.alive]
        dead = [w for w in seen if not w.alive]
        if alive:
            names = ", ".join(w.hostname for w in alive[:5])
            checks.append(ok("workers", _("{count} 台が動いています（{names}）").format(
                count=len(alive), names=names)))
        elif sending:
            checks.append(error(
                "workers", _("動いているワーカーがないのに、{count} 件の送信が実行中か予約済みです"
                             ).format(count=sending),
                _("`mailer worker`（と `mailer beat`）を起動してください")))
        else:
            checks.append(ok("workers", _("動いているものはありません（送信中のものもあり"
                                          "ません）")))
        for w in dead:
            checks.append(warn(
                "workers",
                _("{host} は {seconds} 秒前を最後に、終了の知らせなく見えなくなりました"
                  "（強制終了か停止）").format(host=w.hostname, seconds=f"{w.seconds_ago:.0f}"),
                _("その行は貸し出し期限が切れるとキューに戻ります。再起動してください")))
    if stuck:
        checks.append(error(
            "deliveries",
            _("{count} 件が `sending` のまま、貸し出し期限を {seconds} 秒以上過ぎています"
              "（最も古い期限 {oldest}）").format(
                count=stuck, seconds=f"{STUCK_GRACE_SECONDS:.0f}", oldest=oldest),
            _("配信係の掃除役が動いていません: `mailer beat` とワーカーを起動してください")))
    else:
        checks.append(ok("deliveries", _("`sending` のまま止まっているものはありません")))
    return checks
