"""Readers who asked for ISO-2022-JP but are named 髙橋 (or 山﨑, or have ①):
the import warns per line, the preflight refuses the send naming them, the
admin lists them, and after the fix the part may be scheduled. On SQLite and
PostgreSQL; the CLI runs in-process against the same database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from subscribers_support import Cli, csv_text, write

from mailer.cli import app as mailer_app
from mailer.compose.load import load_issue
from mailer.db import session_scope
from mailer.models import Part, Subscriber
from mailer.runtime import render_config
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services import listings
from mailer.services.actors import Actor
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.parts import preflight
from mailer.services.sends import schedule_send
from mailer.services.subscriber_edit import SubscriberInput, update_subscriber
from mailer.services.subscriber_files import import_file
from mailer.settings import load_settings
from mailer.testing.stack import TEST_SECRET

ACTOR = Actor(name="editor@example.jp", user_id=None, door="cli")
TAKAHASHI = "cio@minato.example.jp"
ROWS = [
    "cio@chiyoda.example.jp,佐藤 一郎,様,千代田区,特別区,副区長(CIO),CIO,HTML,UTF-8",
    f"{TAKAHASHI},髙橋 健太,様,港区,特別区,政策経営部長,CIO補佐,テキスト,ISO-2022-JP",
    "cio@hachioji.example.jp,山﨑 直子,様,八王子市,市,副市長(CIO),CIO,HTML,UTF-8",
    "cio@ome.example.jp,中村 誠,様,青梅市,市,総務部長,CIO補佐,HTML,ISO-2022-JP",
]


def clean_issue(folder: Path) -> Path:
    """The sample issue with its variant kanji replaced, so that the part itself
    can be carried in ISO-2022-JP and only a reader's name can be the problem."""
    target = folder / "vol04"
    shutil.copytree(SAMPLE_ISSUE_DIR, target)
    for md in target.glob("*.md"):
        md.write_text(md.read_text(encoding="utf-8").replace("髙", "高").replace("﨑", "崎"),
                      encoding="utf-8")
    return target


def load_clean_part(engine: Engine, folder: Path) -> int:
    with session_scope(engine) as session:
        issue_id = load_issue(session=session, path=clean_issue(folder)).issue_id
        return int(session.execute(select(Part.id).where(Part.issue_id == issue_id)  # type: ignore[call-overload]
                                   .order_by(Part.position)).scalars().first())


@pytest.fixture
def mailer(database_url: str, monkeypatch: pytest.MonkeyPatch, cli: Cli) -> Iterator[Cli]:
    """The whole `mailer` command line on the test's database (lists created)."""
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MAILER_BASE_URL", "https://mailer.example.com")
    cli.app = mailer_app
    yield cli


def config(database_url: str):  # type: ignore[no-untyped-def]
    return render_config(load_settings(database_url=database_url, secret_key=TEST_SECRET,
                                       base_url="https://mailer.example.com"))


def test_import_of_a_cp932_file_warns_in_japanese_per_line(
    engine: Engine, cli: Cli, tmp_path: Path
) -> None:
    data = csv_text(*ROWS).encode("cp932")
    report = import_file(engine=engine, actor=ACTOR, data=data, filename="名簿.csv",
                         list_name="cio-forum", resubscribe=False, dry_run=True)
    assert report.encoding == "Shift_JIS (CP932)"
    mine = [w for w in report.warnings if "ISO-2022-JP" in w]
    assert mine == [
        "行 3: cio@minato.example.jp の氏名「髙橋 健太」の「髙」は ISO-2022-JP で送れません。"
        "この行は取り込みましたが、直すまで配信できません。文字コードを UTF-8 にするか、"
        "購読者の編集で氏名を直してください（例：髙 → 高。人名の字は本人に確認してください）"]
    # 山﨑 reads UTF-8 and 中村 is in JIS X 0208: no warning for them

    # the CLI prints the same warning, and the row is imported (a warning, not an error)
    path = write(tmp_path / "meibo.csv", csv_text(*ROWS), "cp932")
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum")
    assert code == 0, out
    assert ("行 3: cio@minato.example.jp の氏名「髙橋 健太」の「髙」は ISO-2022-JP で送れません"
            in out)
    with engine.connect() as conn:
        stored = conn.execute(select(Subscriber.name, Subscriber.charset)  # type: ignore[call-overload]
                              .where(Subscriber.email == TAKAHASHI)).one()
    assert tuple(stored) == ("髙橋 健太", "iso-2022-jp")


def test_a_later_file_that_only_switches_the_encoding_warns_too(
    engine: Engine, cli: Cli, tmp_path: Path
) -> None:
    first = write(tmp_path / "a.csv", csv_text(ROWS[1].replace("ISO-2022-JP", "UTF-8")))
    code, out = cli("subscribers", "import", str(first))
    assert code == 0 and "ISO-2022-JP で送れません" not in out, out
    # the name is stored; this file gives only the address and the encoding
    second = write(tmp_path / "b.csv", f"email,encoding\r\n{TAKAHASHI},jis\r\n")
    code, out = cli("subscribers", "import", str(second))
    assert code == 0
    assert "行 2: cio@minato.example.jp の氏名「髙橋 健太」の「髙」は" in out


def test_preflight_names_them_until_fixed_then_the_send_may_be_scheduled(
    engine: Engine, database_url: str, mailer: Cli, tmp_path: Path
) -> None:
    part_id = load_clean_part(engine, tmp_path)
    path = write(tmp_path / "meibo.csv", csv_text(*ROWS), "cp932")
    assert mailer("subscribers", "import", str(path), "--list", "cio-forum")[0] == 0

    code, out = mailer("part", "check", str(part_id))
    assert code == 1, out
    assert "iso2022jp_reader" in out and "髙橋 健太 <cio@minato.example.jp>（髙）" in out
    assert "文字コードを UTF-8 にするか" in out and "/admin/subscribers?problem=iso2022jp" in out
    assert "エラー 1 件" in out

    cfg = config(database_url)
    report = preflight(engine=engine, part_id=part_id, config=cfg)
    assert [r.email for r in report.unsendable_readers] == [TAKAHASHI]
    with pytest.raises(ServiceError) as refused:
        schedule_send(engine=engine, actor=ACTOR, part_id=part_id, list_names=["cio-forum"],
                      at=None, config=cfg)
    assert refused.value.kind is ErrorKind.CONFLICT
    assert "cio@minato.example.jp" in refused.value.message

    # the admin's filter lists exactly them
    rows, _ = listings.subscribers(engine, listings.SubscriberFilter(problem="iso2022jp"))
    assert [r.email for r in rows] == [TAKAHASHI]

    # a list admin corrects the name (after asking the person)
    sid = rows[0].id
    update_subscriber(engine=engine, actor=ACTOR, subscriber_id=sid,
                      data=SubscriberInput(values={"name": "高橋 健太"}))
    code, out = mailer("part", "check", str(part_id))
    assert code == 0, out
    assert "エラー 0 件" in out
    assert listings.subscribers(engine, listings.SubscriberFilter(problem="iso2022jp"))[0] == []
    scheduled = schedule_send(engine=engine, actor=ACTOR, part_id=part_id,
                              list_names=["cio-forum"], at=datetime.now(UTC), config=cfg)
    assert scheduled.send_id > 0


def test_switching_the_reader_to_utf8_also_clears_the_error(
    engine: Engine, database_url: str, cli: Cli, tmp_path: Path
) -> None:
    part_id = load_clean_part(engine, tmp_path)
    assert cli("subscribers", "import", str(write(tmp_path / "m.csv", csv_text(*ROWS))),
               "--list", "cio-forum")[0] == 0
    cfg = config(database_url)
    assert preflight(engine=engine, part_id=part_id, config=cfg).errors
    sid = listings.subscribers(engine, listings.SubscriberFilter(problem="iso2022jp"))[0][0].id
    update_subscriber(engine=engine, actor=ACTOR, subscriber_id=sid,
                      data=SubscriberInput(values={"charset": "utf-8"}))
    assert preflight(engine=engine, part_id=part_id, config=cfg).errors == []
