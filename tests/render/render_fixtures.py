"""Builders for rendering tests: a hand-built issue (independent of the
sample folder), a render config, slot values and recipient personas."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from mailer.compose.document import (
    BackNumber,
    Credit,
    Credits,
    EventDate,
    Figure,
    Heading,
    IssueDocument,
    Lead,
    NextPart,
    Note,
    Paragraph,
    PartDocument,
    Participant,
    Participants,
    Prompt,
    Publisher,
    Span,
    Turn,
)
from mailer.render.message import Recipient, RenderConfig, Slots

JST = timezone(timedelta(hours=9))
DEPT = "東京都 デジタルサービス局 戦略部"
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "mailer" / "samples" / "issues" / "vol04"


def build_issue(*, variant_kanji: bool = False) -> IssueDocument:
    """Return a two-part issue. With `variant_kanji`, names use 髙/﨑 and the
    text has ① and ～, which ISO-2022-JP cannot carry."""
    taka = "髙橋" if variant_kanji else "高橋"
    saki = "山﨑" if variant_kanji else "山崎"
    one = "①" if variant_kanji else "(1)"
    tilde = "～" if variant_kanji else "〜"
    people = [
        Participant(name=f"{taka} 誠", organisation="○○市",
                    titles="総務部長兼情報システム担当部長(CIO補佐、CDO、CISO補佐)", short=taka),
        Participant(name=f"{saki} 由美", organisation="東京都",
                    titles="デジタルサービス局 戦略部 区市町村DX推進担当課長", short=saki),
    ]
    part1 = PartDocument(
        label="part1",
        title="○○市×都CIO座談会（前編）",
        subject="CIOフォーラム通信 第4回 ○○市×都CIO座談会（前編）",
        preheader="○○市の総務部長と都の担当課長が、庁内DXの進め方を語りました。",
        scheduled_at=datetime(2026, 11, 26, 10, 0, tzinfo=JST),
        header_image=Figure(src="header.png", alt="CIOフォーラム通信 第4回", width=600),
        blocks=[
            Lead(paragraphs=[
                [Span(text="CIOフォーラム通信は、都と区市町村のCIOが取組を共有するメールマガジンです。"
                      "今回は二回に分けてお届けします。")],
                [Span(text="バックナンバーは"),
                 Span(text="フォーラムのサイト", href="https://www.example.lg.jp/cio-forum/"),
                 Span(text="でご覧いただけます。")],
            ]),
            Note(spans=[Span(text="CIO：Chief Information Officer（最高情報責任者）の略。")]),
            Note(spans=[Span(text="フォーラム：都と62区市町村のCIOで構成する「東京都区市町村CIOフォーラム」。")]),
            EventDate(date=date(2021, 10, 15)),
            Participants(people=people),
            Heading(text="庁内DXの進め方"),
            Prompt(spans=[Span(text="まず、○○市でのDX推進体制についてお聞かせください。")]),
            Turn(speaker=taka, first=True,
                 label=f"○○市 {people[0].titles}:{taka} 誠(以下「{taka}」)",
                 paragraphs=[
                     [Span(text=f"はい。当市では令和2年度にDX推進本部を立ち上げ、{one}業務改革、"
                                "(2)人材育成、(3)基盤整備の三本柱で取り組んでいます。"
                                "特に職員の意識改革には時間がかかりましたが、"
                                "小さな成功体験を積み重ねることが大切だと感じています。")],
                     [Span(text="詳しくは"), Span(text="市の推進計画",
                                                  href="http://www.example-city.lg.jp/dx/plan.html"),
                      Span(text="をご覧ください。")],
                 ]),
            Heading(text="人材育成の工夫", level=3),
            Turn(speaker=saki, first=True,
                 label=f"東京都 {people[1].titles}:{saki} 由美(以下「{saki}」)",
                 paragraphs=[[Span(text=f"都では研修メニューを{tilde}30種類用意し、"
                                        "区市町村の職員も受講できるようにしています。")]]),
            Turn(speaker=taka, label=taka,
                 paragraphs=[[Span(text="当市からも毎年20名ほどが受講しています。"),
                              Span(text="受講者の声", strong=True),
                              Span(text="を庁内報で紹介すると、翌年の希望者が増えました。")]]),
            Figure(src="slide6.png", alt="DX推進体制の図。本部長の下に三つの部会がある。",
                   label="スライド6", caption="○○市のDX推進体制", width=800, height=450),
            Figure(src="photo3.jpg", alt="座談会の様子", label="画像3"),
            Paragraph(spans=[Span(text="後編では、基盤整備とセキュリティ対策についてお伝えします。")]),
            NextPart(spans=[Span(text="次回（後編）は12月3日に配信予定です。どうぞお楽しみに。")]),
            Credits(entries=[
                Credit(role="執筆者", name="佐藤 健", department=DEPT),
                Credit(role="編集", name="鈴木 花子", department="(同上)"),
            ]),
        ],
    )
    part2 = PartDocument(
        label="part2",
        title="○○市×都CIO座談会（後編）",
        subject="CIOフォーラム通信 第4回 ○○市×都CIO座談会（後編）",
        blocks=[
            Heading(text="基盤整備とセキュリティ"),
            Turn(speaker=taka, label=taka,
                 paragraphs=[[Span(text="三層分離の見直しは慎重に進めています。")]]),
            Credits(entries=[Credit(role="編集", name="鈴木 花子",
                                    department="東京都 デジタルサービス局 戦略部")]),
        ],
    )
    return IssueDocument(
        slug="vol04", number=4, title="○○市×都CIO座談会", series="CIOフォーラム通信",
        publisher=Publisher(
            name="東京都 デジタルサービス局 戦略部",
            address="〒163-8001 東京都新宿区西新宿二丁目8番1号",
            contact_email="cio-forum@example.lg.jp", contact_phone="03-0000-0000",
            url="https://www.example.lg.jp/"),
        back_numbers=[
            BackNumber(number="第3回", title="△△区×都CIO座談会",
                       url="https://mailer.example.com/archive/vol03/part1"),
            BackNumber(number="第2回", title="生成AIの業務活用",
                       url="https://mailer.example.com/archive/vol02/part1"),
        ],
        parts=[part1, part2],
    )


def issue() -> IssueDocument:
    return build_issue()


def variant_issue() -> IssueDocument:
    return build_issue(variant_kanji=True)


def config() -> RenderConfig:
    return make_config()


def make_config() -> RenderConfig:
    return RenderConfig(
        base_url="https://mailer.example.com",
        from_name="東京都区市町村CIOフォーラム事務局",
        from_address="cio-forum@mailer.example.com",
        list_id="cio-forum.mailer.example.com",
        list_name="東京都区市町村CIOフォーラム",
    )


def make_slots(n: int = 1) -> Slots:
    return Slots(
        message_id=f"<vol04.part1.{n}@mailer.example.com>",
        unsubscribe_url=f"https://mailer.example.com/u/tok{n:06d}?list=cio&x=1",
        unsubscribe_mailto=f"mailto:unsubscribe+tok{n:06d}@mailer.example.com",
        preferences_url=f"https://mailer.example.com/p/tok{n:06d}",
        date=datetime(2026, 11, 26, 10, 0, 5, tzinfo=JST),
    )


def slots() -> Slots:
    return make_slots()


PERSONAS = {
    "html_utf8": Recipient(email="takahashi@city.example.lg.jp", name="高橋 誠"),
    "html_utf8_variant_name": Recipient(email="t@city.example.lg.jp", name="髙橋 誠"),
    "text_utf8_noname": Recipient(email="info@town.example.lg.jp", format="text"),
    "text_iso": Recipient(email="old@village.example.lg.jp", name="山田 太郎", format="text",
                          charset="iso-2022-jp"),
    "html_iso": Recipient(email="legacy@city.example.lg.jp", name="佐藤 一郎",
                          charset="iso-2022-jp"),
}
