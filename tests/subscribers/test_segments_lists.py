"""Lists (create, show) and segments (stored filters, the query they build)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import Session
from subscribers_support import ROWS, Cli, csv_text, write

from mailer.models import Segment, Subscriber, SubscriberStatus
from mailer.services.segments import (
    SegmentError,
    SegmentFilter,
    parse_where,
    segment_subscriber_ids,
)

SUB = Subscriber.__table__  # type: ignore[attr-defined]
EXTRA = [
    "cio@setagaya.example.jp,佐々木 学,様,世田谷区,特別区,副区長(CIO補佐),CIO補佐,HTML,UTF-8",
    "cdo@hinohara.example.jp,原 花子,様,檜原村,村,総務課長(CDO),CDO;cio,テキスト,UTF-8",
]


def emails(engine: Engine, flt: SegmentFilter) -> set[str]:
    ids = segment_subscriber_ids(engine=engine, segment=flt)
    with engine.connect() as conn:
        wanted = set(conn.execute(ids).scalars())
        return {e for i, e in conn.execute(select(SUB.c.id, SUB.c.email)) if i in wanted}


@pytest.fixture
def loaded(cli: Cli, engine: Engine, tmp_path: Path) -> Engine:
    cli("lists", "create", "other")
    cli("subscribers", "import", str(write(tmp_path / "a.csv", csv_text(*ROWS, *EXTRA))),
        "--list", "cio-forum")
    cli("subscribers", "import", str(write(tmp_path / "b.csv", csv_text(EXTRA[1]))),
        "--list", "other")
    return engine


def test_segment_filters(loaded: Engine) -> None:
    e = loaded
    assert emails(e, parse_where(["kind=特別区", "role=CIO"])) == {"cio@chiyoda.example.jp"}
    # A role matches whole tags only (CIO is not CIO補佐), case-insensitively.
    assert emails(e, parse_where(["role=CIO"])) == {
        "cio@chiyoda.example.jp", "cio@hachioji.example.jp", "cdo@hinohara.example.jp"}
    assert emails(e, parse_where(["role=CIO補佐"])) == {
        "cio@minato.example.jp", "cio@okutama.example.jp", "cio@setagaya.example.jp"}
    assert emails(e, parse_where(["kind=町", "kind=村"])) == {
        "cio@okutama.example.jp", "cdo@hinohara.example.jp"}
    assert emails(e, parse_where(["format=テキスト", "charset=UTF-8"])) == {
        "cdo@hinohara.example.jp"}
    assert emails(e, parse_where(["organisation=港区"])) == {"cio@minato.example.jp"}
    assert emails(e, parse_where(["list=other"])) == {"cdo@hinohara.example.jp"}
    with loaded.begin() as conn:
        conn.execute(update(SUB).where(SUB.c.email == "cio@chiyoda.example.jp")
                     .values(status=SubscriberStatus.UNSUBSCRIBED))
    assert emails(e, parse_where(["status=active", "role=CIO", "kind=特別区"])) == set()
    assert len(emails(e, SegmentFilter())) == 6


@pytest.mark.parametrize(("where", "message"), [
    (["kind=県"], "都、特別区、市、町、村 のいずれかです"),
    (["colour=red"], "知らない項目「colour」です"),
    (["format=pdf"], "html か text です"),
    (["status=gone"], "active、unsubscribed"),
    (["role"], "項目=値 の形で書いてください"),
])
def test_bad_where(where: list[str], message: str) -> None:
    with pytest.raises(SegmentError, match=message):
        parse_where(where)


def test_segments_cli_stores_json_and_shows_members(cli: Cli, loaded: Engine) -> None:
    code, out = cli("segments", "create", "ku-cio", "--where", "kind=特別区",
                    "--where", "role=CIO", "--title", "特別区のCIO")
    assert code == 0, out
    assert "現在 1 名" in out
    with Session(loaded) as session:
        seg = session.execute(select(Segment)).scalars().one()
    assert json.loads(seg.filter_json) == {"organisation_kind": ["特別区"], "role": ["CIO"]}
    assert SegmentFilter.from_json(seg.filter_json) == parse_where(["kind=特別区", "role=CIO"])
    code, out = cli("segments", "show", "ku-cio")
    assert code == 0 and "cio@chiyoda.example.jp\t佐藤 一郎\t千代田区\tCIO\t配信中" in out
    code, out = cli("segments", "show")
    assert code == 0 and "ku-cio" in out
    assert cli("segments", "create", "ku-cio", "--where", "kind=市")[0] == 1
    code, out = cli("segments", "create", "x", "--where", "list=nope")
    assert code == 1 and "そのリストはありません" in out
    assert cli("segments", "show", "missing")[0] == 1


def test_lists_cli(cli: Cli, loaded: Engine) -> None:
    code, out = cli("lists", "create", "cio-forum")
    assert code == 1 and "はもうあります" in out
    with loaded.begin() as conn:
        conn.execute(update(SUB).where(SUB.c.email == "cio@minato.example.jp")
                     .values(status=SubscriberStatus.BOUNCED))
    code, out = cli("lists", "show")
    assert code == 0, out
    row = next(line for line in out.splitlines() if "cio-fo" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells[2:] == ["内部", "5", "0", "1", "0", "0", "6"]  # visibility, active … total
