"""No delivery fails because a reader asked for ISO-2022-JP.

End to end (Celery worker and beat, real Redis, the aiosmtpd sink): after a
list admin fixes the name the preflight named, the send has 0 failures and
the reader gets ISO-2022-JP. In-process: a send that got past the preflight
(scheduled without the gate) reaches the reader in UTF-8 instead of failing.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path

import redis
from sqlalchemy import Engine, select

from mailer.compose.load import load_issue
from mailer.db import session_scope
from mailer.delivery.dispatch import dispatch
from mailer.delivery.engine import deliver_send
from mailer.embedded.smtp_sink import SmtpSink
from mailer.models import DeliveryStatus, Part, SendStatus
from mailer.runtime import Runtime, render_config
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services import listings
from mailer.services.actors import Actor
from mailer.services.errors import ServiceError
from mailer.services.send_progress import send_progress
from mailer.services.sends import create_send, schedule_send
from mailer.services.subscriber_edit import SubscriberInput, update_subscriber
from mailer.services.subscriber_files import import_file
from mailer.services.subscribers import create_list
from mailer.settings import load_settings
from mailer.testing.stack import TEST_SECRET, Stack

ACTOR = Actor(name="editor@example.jp", user_id=None, door="cli")
LIST = "cio-forum"
CSV = ("メールアドレス,氏名,文字コード\r\n"
       "cio@minato.example.jp,髙橋 健太,ISO-2022-JP\r\n"
       "cio@chiyoda.example.jp,佐藤 一郎,UTF-8\r\n"
       "cio@ome.example.jp,中村 誠,ISO-2022-JP\r\n")


def _load(engine: Engine, folder: Path, *, clean: bool) -> int:
    """Load the sample issue (with 高/崎 for 髙/﨑 when `clean`); return part 1's id."""
    import shutil

    target = folder / "vol04"
    shutil.copytree(SAMPLE_ISSUE_DIR, target)
    if clean:
        for md in target.glob("*.md"):
            md.write_text(md.read_text(encoding="utf-8").replace("髙", "高").replace("﨑", "崎"),
                          encoding="utf-8")
    with session_scope(engine) as session:
        issue_id = load_issue(session=session, path=target).issue_id
        return int(session.execute(select(Part.id).where(Part.issue_id == issue_id)  # type: ignore[call-overload]
                                   .order_by(Part.position)).scalars().first())


def _readers(engine: Engine) -> None:
    with session_scope(engine) as session:
        create_list(session=session, name=LIST)
    report = import_file(engine=engine, actor=ACTOR, data=CSV.encode("cp932"),
                         filename="meibo.csv", list_name=LIST, resubscribe=False, dry_run=False)
    assert any(w.startswith("行 2: cio@minato.example.jp") for w in report.warnings)


def _messages(sink: SmtpSink) -> dict[str, email.message.EmailMessage]:
    out = {}
    for a in sink.accepted:
        msg = email.message_from_bytes(a.data, policy=email.policy.default)
        out[a.recipients[0]] = msg  # type: ignore[assignment]
    return out


def _text_charset(msg: email.message.EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content_charset())


def test_after_the_fix_a_real_send_has_no_failures(
    stack: Stack, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    part_id = _load(engine, tmp_path, clean=True)
    _readers(engine)
    sink = stack.add_sink()
    config = render_config(load_settings(**{k.removeprefix("MAILER_").lower(): v
                                            for k, v in stack.env().items()
                                            if k in ("MAILER_DATABASE_URL", "MAILER_SECRET_KEY",
                                                     "MAILER_BASE_URL")}))
    try:
        schedule_send(engine=engine, actor=ACTOR, part_id=part_id, list_names=[LIST], at=None,
                      config=config)
        raise AssertionError("the preflight should refuse 髙橋 in ISO-2022-JP")
    except ServiceError as exc:
        assert "髙橋 健太 <cio@minato.example.jp>" in exc.message
    reader = listings.subscribers(engine, listings.SubscriberFilter(problem="iso2022jp"))[0][0]
    update_subscriber(engine=engine, actor=ACTOR, subscriber_id=reader.id,
                      data=SubscriberInput(values={"name": "高橋 健太"}))
    send_id = schedule_send(engine=engine, actor=ACTOR, part_id=part_id, list_names=[LIST],
                            at=datetime.now(UTC), config=config).send_id
    stack.start_worker()
    stack.start_beat()
    p = stack.wait_for(send_id, lambda p: p.status is SendStatus.DONE)
    assert p.counts[DeliveryStatus.FAILED] == 0
    assert p.counts[DeliveryStatus.SENT] == 3
    got = _messages(sink)
    assert _text_charset(got["cio@minato.example.jp"]) == "iso-2022-jp"
    assert got["cio@minato.example.jp"]["To"].addresses[0].display_name == "高橋 健太 様"
    assert _text_charset(got["cio@chiyoda.example.jp"]) == "utf-8"


def test_a_send_past_the_preflight_falls_back_to_utf8_instead_of_failing(
    engine: Engine, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """The gate is bypassed (create_send, a dispatcher without preflight): 髙橋's
    name, and a part with 髙 and 﨑 in it, reach ISO-2022-JP readers in UTF-8."""
    redis.Redis.from_url(redis_url).flushdb()
    part_id = _load(engine, tmp_path, clean=False)
    _readers(engine)
    with SmtpSink(tmp_path / "outbox") as sink:
        rt = Runtime(load_settings(database_url=database_url, redis_url=redis_url,
                                   smtp_url=sink.url, secret_key=TEST_SECRET,
                                   base_url="https://mailer.example.com", rate_limit="1000/s"))
        with session_scope(engine) as session:
            send_id = int(create_send(session=session, part_id=part_id,  # type: ignore[arg-type]
                                      list_names=[LIST]).id)
        dispatch(engine, rt.coordinator, lambda _: None, parallelism=1, interval=1)
        deliver_send(rt.delivery_context(), send_id, time_budget=30)
        rt.dispose()
        got = _messages(sink)
    p = send_progress(engine=engine, send_id=send_id)
    assert p.counts[DeliveryStatus.FAILED] == 0 and p.counts[DeliveryStatus.SENT] == 3
    minato = got["cio@minato.example.jp"]
    assert _text_charset(minato) == "utf-8"
    assert minato["To"].addresses[0].display_name == "髙橋 健太 様"  # never replaced
    # 中村 has a clean name, but this part has 髙 and 﨑: UTF-8 too
    assert _text_charset(got["cio@ome.example.jp"]) == "utf-8"
