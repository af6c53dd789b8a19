"""Time `personalize` per recipient for a part of about 20 KB of text.

Run: .venv/bin/python benchmarks/bench_personalize.py [recipients]
Prints microseconds per recipient for each format/charset combination.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone

from mailer.compose.document import (
    Heading,
    IssueDocument,
    Paragraph,
    PartDocument,
    Publisher,
    Span,
    Turn,
)
from mailer.render.message import Recipient, RenderConfig, Slots, personalize, prepare_part

JST = timezone(timedelta(hours=9))
SENTENCE = "当市では令和2年度にDX推進本部を立ち上げ、業務改革と人材育成に取り組んでいます。"


def build() -> tuple[IssueDocument, PartDocument]:
    blocks: list = []  # type: ignore[type-arg]
    for i in range(21):
        blocks.append(Heading(text=f"第{i + 1}節 庁内DXの進め方"))
        for speaker in ("高橋", "山崎"):
            blocks.append(Turn(speaker=speaker, label=speaker,
                               paragraphs=[[Span(text=SENTENCE * 3)]]))
        blocks.append(Paragraph(spans=[Span(text="詳しくは"),
                                       Span(text="計画", href=f"https://example.lg.jp/{i}"),
                                       Span(text="をご覧ください。")]))
    part = PartDocument(label="part1", title="○○市×都CIO座談会（前編）",
                        subject="CIOフォーラム通信 第4回 ○○市×都CIO座談会（前編）", blocks=blocks)
    issue = IssueDocument(
        slug="vol04", number=4, title="○○市×都CIO座談会", series="CIOフォーラム通信",
        publisher=Publisher(name="東京都 デジタルサービス局 戦略部",
                            address="〒163-8001 東京都新宿区西新宿二丁目8番1号",
                            contact_email="cio-forum@example.lg.jp"),
        parts=[part])
    return issue, part


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    issue, part = build()
    config = RenderConfig(base_url="https://mailer.example.com", from_name="CIOフォーラム事務局",
                          from_address="cio@mailer.example.com", list_id="cio.mailer.example.com",
                          list_name="東京都区市町村CIOフォーラム")
    t0 = time.perf_counter()
    prepared = prepare_part(issue=issue, part=part, config=config)
    prep_ms = (time.perf_counter() - t0) * 1000
    print(f"text body {len(prepared.text.encode()) / 1024:.1f} KB, "
          f"html body {len(prepared.html.encode()) / 1024:.1f} KB, "
          f"prepare_part {prep_ms:.0f} ms")
    date = datetime(2026, 11, 26, 10, 0, tzinfo=JST)
    slots = [Slots(message_id=f"<vol04.part1.{i}@mailer.example.com>",
                   unsubscribe_url=f"https://mailer.example.com/u/{i:08d}.abcdefghijklmnop",
                   unsubscribe_mailto=f"mailto:u+{i:08d}@mailer.example.com",
                   preferences_url=f"https://mailer.example.com/p/{i:08d}.abcdefghijklmnop",
                   date=date) for i in range(n)]
    for fmt, charset in (("html", "utf-8"), ("text", "utf-8"), ("text", "iso-2022-jp"),
                         ("html", "iso-2022-jp")):
        people = [Recipient(email=f"user{i}@city.example.lg.jp", name=f"高橋 {i}", format=fmt,
                            charset=charset) for i in range(n)]
        size = len(personalize(prepared, people[0], slots[0]))
        t0 = time.perf_counter()
        for who, s in zip(people, slots, strict=True):
            personalize(prepared, who, s)
        us = (time.perf_counter() - t0) / n * 1e6
        print(f"{fmt:4} {charset:11} message {size / 1024:5.1f} KB  {us:6.1f} µs/recipient")


if __name__ == "__main__":
    main()
