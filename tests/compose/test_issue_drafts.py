"""Drafts written in the browser editor (services/issue_drafts.py) on a real
database: revisions, the per-part merge and its refusal, restore, the diff,
the previews and publishing through `load_issue`."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from mailer.compose.document import IssueDocument, PartDocument
from mailer.compose.draft import DraftBlock, DraftIssue, DraftPart, DraftPerson
from mailer.compose.load import load_issue
from mailer.compose.stored import load_documents
from mailer.models import Part, User
from mailer.render.message import RenderConfig
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services.actors import Actor
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.issue_drafts import (
    add_image,
    diff_part,
    get_revision,
    preview_draft,
    publish_draft,
    restore_revision,
    revisions,
    save_draft,
)

CONFIG = RenderConfig(base_url="https://mailer.example.com", from_name="事務局",
                      from_address="cio-forum@mailer.example.com",
                      list_id="cio-forum.mailer.example.com", list_name="CIOフォーラム")
PNG = (SAMPLE_ISSUE_DIR / "images" / "slide01.png").read_bytes()


def _people(engine: Engine) -> tuple[Actor, Actor]:
    with Session(engine) as session:
        a, b = User(email="a@metro.example.jp", name="青木"), User(email="b@metro.example.jp",
                                                                 name="馬場")
        session.add_all([a, b])
        session.commit()
        assert a.id is not None and b.id is not None
        return Actor(a.email, a.id), Actor(b.email, b.id)


def _part(n: int, *, figure: bool = False) -> DraftPart:
    blocks = [
        DraftBlock(kind="lead", text="リードの文。"),
        DraftBlock(kind="participants", people=[
            DraftPerson(name="髙橋 健一", organisation="府中市", titles="総務部長"),
            DraftPerson(name="中村 誠", organisation="東京都", titles="戦略部長")]),
        DraftBlock(kind="turn", speaker="髙橋", text="一つ目の発言。"),
        DraftBlock(kind="turn", speaker="中村", text="都では。"),
        DraftBlock(kind="turn", speaker="髙橋", text="二回目の発言。"),
    ]
    if figure:
        blocks.append(DraftBlock(kind="figure", src="images/slide1.png", alt="体制図",
                                 caption="スライド1:推進体制"))
    return DraftPart(label=f"part{n}", title=f"第{n}部の題", subject=f"【通信】第9回 その{n}",
                     scheduled_at="2026-12-01 09:00", blocks=blocks)


def _draft() -> DraftIssue:
    return DraftIssue(slug="vol09", number="9", title="府中市×都CIO座談会",
                      series="都区市町村CIOフォーラム通信",
                      publisher_name="東京都 デジタルサービス局 戦略部",
                      publisher_address="〒163-8001 東京都新宿区西新宿二丁目8番1号",
                      contact_email="cio-forum@metro.example.jp", parts=[_part(1), _part(2)])


def test_saves_merge_per_part_and_refuse_the_same_part(engine: Engine) -> None:
    aoki, baba = _people(engine)
    first = save_draft(engine=engine, actor=aoki, draft=_draft(), base=0)
    assert (first.number, first.author) == (1, "青木")

    theirs = _draft()
    theirs.parts[1].title = "馬場の題"
    assert save_draft(engine=engine, actor=baba, draft=theirs, base=1).number == 2

    mine = _draft()  # started from 1 too, changed only part 1: both changes kept
    mine.parts[0].title = "青木の題"
    merged = save_draft(engine=engine, actor=aoki, draft=mine, base=1)
    assert merged.number == 3
    assert [p.title for p in merged.draft.parts] == ["青木の題", "馬場の題"]

    clash = _draft()  # from 1 again, part 2 changed by both: refused, nothing written
    clash.parts[1].title = "青木の別の題"
    with pytest.raises(ServiceError) as caught:
        save_draft(engine=engine, actor=aoki, draft=clash, base=1)
    assert caught.value.kind is ErrorKind.CONFLICT
    assert "馬場さんが" in caught.value.message and "第2部(part2)" in caught.value.message
    assert "再読み込み" in caught.value.message
    assert [r.number for r in revisions(engine=engine, slug="vol09")] == [3, 2, 1]

    with pytest.raises(ServiceError) as again:
        save_draft(engine=engine, actor=baba, draft=_draft(), base=0)
    assert again.value.kind is ErrorKind.CONFLICT


def test_restore_is_a_new_revision_and_the_diff_shows_the_change(engine: Engine) -> None:
    aoki, _ = _people(engine)
    save_draft(engine=engine, actor=aoki, draft=_draft(), base=0)
    changed = _draft()
    changed.parts[0].blocks[2].text = "書き直した発言。"
    save_draft(engine=engine, actor=aoki, draft=changed, base=1)

    diff = diff_part(engine=engine, slug="vol09", old=1, new=2, part_index=0)
    assert "-一つ目の発言。" in diff and "+書き直した発言。" in diff
    assert diff_part(engine=engine, slug="vol09", old=1, new=2, part_index=1) == ""

    restored = restore_revision(engine=engine, actor=aoki, slug="vol09", number=1)
    assert (restored.number, restored.note) == (3, "第1版を復元")
    assert restored.draft == get_revision(engine=engine, slug="vol09", number=1).draft


def test_preview_uses_the_parser_rule_and_names_part_and_block(engine: Engine) -> None:
    shown = preview_draft(engine=engine, draft=_draft(), part_index=0, config=CONFIG)
    assert shown.problems == []
    assert "府中市 総務部長:髙橋 健一(以下「髙橋」)" in shown.text
    assert "(以下「髙橋」)" in shown.sanitized and "<html" in shown.html.lower()

    bad = _draft()
    bad.parts[1] = _part(2, figure=True)
    bad.parts[1].blocks[-1].alt = ""
    bad.parts[1].blocks[3].speaker = "森本"
    problems = preview_draft(engine=engine, draft=bad, part_index=0, config=CONFIG).problems
    assert "第2部(part2) 6番目のブロック(画像・スライド): 代替テキストは必須です。" \
           "何が写っているかを文章で書いてください。" in problems
    assert "第2部(part2) 4番目のブロック(発言): 「森本」はこの部の参加者にいません。" in problems

    odd = _draft()  # a paragraph that would turn into another block; notes one a line
    odd.parts[0].blocks[2].text = "一つ目。\n\n※これは注記になってしまう。"
    odd.parts[0].blocks.insert(0, DraftBlock(kind="note", text="※CIO:説明。\n都区市町村:説明。"))
    odd.parts[0].blocks.append(DraftBlock(kind="heading"))
    assert preview_draft(engine=engine, draft=odd, part_index=0, config=CONFIG).problems == [
        "第1部(part1) 4番目のブロック(発言): 「※」で始まる段落は※注記になります。"
        "※注記のブロックを使ってください。",
        "第1部(part1) 7番目のブロック(見出し): 本文を書いてください。"]
    odd.parts[0].blocks[3].text = "一つ目。"
    del odd.parts[0].blocks[-1]
    shown = preview_draft(engine=engine, draft=odd, part_index=0, config=CONFIG)
    assert shown.problems == []
    assert "※CIO:説明。" in shown.text and "※都区市町村:説明。" in shown.text

    parser = _draft()  # a date the parser refuses: its message, placed by block
    parser.parts[0].blocks.insert(1, DraftBlock(kind="event_date", text="令和3年2月30日"))
    (problem,) = preview_draft(engine=engine, draft=parser, part_index=0, config=CONFIG).problems
    assert problem.startswith(
        "第1部(part1) 2番目のブロック(開催日): 開催日: 日付「令和3年2月30日」が正しくありません")


def test_publish_stores_what_load_issue_stores(engine: Engine) -> None:
    aoki, _ = _people(engine)
    with pytest.raises(ServiceError):
        add_image(engine=engine, actor=aoki, slug="vol09", filename="slide1.png", data=b"GIF89a")
    assert add_image(engine=engine, actor=aoki, slug="vol09", filename="Slide1.PNG",
                     data=PNG) == "images/slide1.png"
    draft = _draft()
    draft.parts[0] = _part(1, figure=True)
    save_draft(engine=engine, actor=aoki, draft=draft, base=0)
    result = publish_draft(engine=engine, actor=aoki, slug="vol09", number=1)
    assert result.status == "created" and list(result.parts) == ["part1", "part2"]

    with Session(engine) as session:
        part_id = session.execute(select(Part.id).where(Part.label == "part1")).scalar_one()  # type: ignore[arg-type]
    issue, part = load_documents(engine, part_id)
    assert isinstance(issue, IssueDocument) and isinstance(part, PartDocument)
    figure = part.blocks[-1]
    assert figure.kind == "figure" and figure.width and figure.alt == "体制図"
    turns = [b for b in part.blocks if b.kind == "turn"]
    assert [t.first for t in turns] == [True, True, False]
    # publishing the same revision again changes nothing
    assert publish_draft(engine=engine, actor=aoki, slug="vol09", number=1).status == "unchanged"


def test_a_new_draft_may_not_take_the_slug_of_a_folder_issue(engine: Engine) -> None:
    aoki, _ = _people(engine)
    with Session(engine) as session:
        load_issue(session=session, path=SAMPLE_ISSUE_DIR)
    taken = _draft()
    taken.slug = "vol04"
    with pytest.raises(ServiceError) as caught:
        save_draft(engine=engine, actor=aoki, draft=taken, base=0)
    assert caught.value.kind is ErrorKind.CONFLICT and caught.value.field == "slug"
    assert "フォルダから登録済み" in caught.value.message
    assert revisions(engine=engine, slug="vol04") == []
