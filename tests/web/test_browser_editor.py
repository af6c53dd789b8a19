"""The issue editor in a real browser (Playwright + Debian's Chromium): an
editor writes a two-part issue from nothing (participants, three speaker
turns, a slide with alt text), sees the three previews follow the typing,
saves, reloads, edits, compares two revisions, publishes the draft and
schedules part 1; the stored part renders exactly as the same issue written
by hand as a folder, and part 1 delivered (dispatcher and engine in this
process, to a real SMTP server) is the same .eml, but for its Date and
Message-ID, as the folder loaded into a second database and delivered to the
same readers. axe-core finds nothing serious on the editor page, and
the screenshots of docs/authoring.md are taken here.

Skipped when /usr/bin/chromium is missing; never downloads a browser.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from admin_support import PASSWORD, make_user
from sqlalchemy import Engine, select
from web_support import LIST, make_settings, serve

from mailer.compose.load import load_issue
from mailer.compose.parse import parse_issue_folder
from mailer.compose.stored import load_documents
from mailer.db import make_engine, session_scope, upgrade
from mailer.delivery.dispatch import dispatch
from mailer.delivery.engine import deliver_send
from mailer.embedded.smtp_sink import SmtpSink
from mailer.models import Part, Send, UserRole
from mailer.render.message import personalize, prepare_part
from mailer.render.preview import PREVIEW_RECIPIENT, preview_slots
from mailer.render.types import RenderConfig
from mailer.runtime import Runtime
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services.actors import Actor
from mailer.services.sends import schedule_send
from mailer.services.subscribers import upsert_subscribers
from mailer.testing.stack import TEST_SECRET

CHROMIUM = Path("/usr/bin/chromium")
#: the screenshots of docs/authoring.md are refreshed with MAILER_DOC_SCREENSHOTS=1;
#: otherwise they go to var/screenshots and the work tree stays clean
ROOT = Path(__file__).resolve().parents[2]
DOC_IMAGES = ROOT / ("docs/images" if os.environ.get("MAILER_DOC_SCREENSHOTS") else
                     "var/screenshots")
EDITOR = "editor@metro.example.jp"
SLIDE = SAMPLE_ISSUE_DIR / "images" / "slide01.png"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's Chromium is not installed at /usr/bin/chromium "
                              "(apt-get install chromium); no browser is downloaded"),
]

#: the same issue written by hand as a folder (docs/authoring.md), as the
#: editor's final revision should be
ISSUE_YAML = """\
number: 9
title: 府中市×都CIO座談会
series: 都区市町村CIOフォーラム通信
publisher:
  name: 東京都 デジタルサービス局 戦略部
  address: 〒163-8001 東京都新宿区西新宿二丁目8番1号
  contact_email: cio-forum@metro.example.jp
"""
PART1 = """\
---
label: part1
title: 府中市×都CIO座談会(前編)
subject: 【CIOフォーラム通信】第9回(前編)
scheduled_at: "2026-12-01 09:00"
---

::: 参加者(敬称略)
- 髙橋 健一
  - 所属:府中市
  - 役職:総務部長(CIO補佐)
- 中村 誠(中村)
  - 所属:東京都
  - 役職:デジタルサービス局 戦略部長
:::

【髙橋】
府中市では、推進本部を立ち上げました。

兼務には理由があります。

【中村】
都でも同じ難しさを感じています。

【髙橋】
各課に推進リーダーを置いています。

![推進体制の概念図。市長を本部長とする推進本部の下に各課が並ぶ。](images/slide01.png)
スライド1:府中市のデジタル推進体制
"""
PART2 = """\
---
label: part2
title: 府中市×都CIO座談会(後編)
subject: 【CIOフォーラム通信】第9回(後編)
---

::: 参加者(敬称略)
- 髙橋 健一
  - 所属:府中市
  - 役職:総務部長(CIO補佐)
:::

【髙橋】
後編では手続のオンライン化を伺います。
"""


SUBSCRIBERS = [
    {"email": "alice@city-a.example.jp", "name": "青木 花子", "organisation": "府中市"},
    {"email": "bob@city-b.example.jp", "name": "馬場 次郎", "organisation": ""}]


def _add(page, part: int, label: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(f"#p{part}-newkind").select_option(label=label)
    page.get_by_role("button", name=f"第{part + 1}部にブロックを追加").click()


def _person(page, b: str, n: int, name: str, short: str, org: str, titles: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(f"#{b}n{n}-name").fill(name)
    page.locator(f"#{b}n{n}-short").fill(short)
    page.locator(f"#{b}n{n}-organisation").fill(org)
    page.locator(f"#{b}n{n}-titles").fill(titles)


def _rendered(issue, part, config: RenderConfig) -> bytes:  # type: ignore[no-untyped-def]
    return personalize(prepare_part(issue=issue, part=part, config=config), PREVIEW_RECIPIENT,
                       preview_slots(config, part))


def _deliver(database_url: str, redis_url: str, send_id: int,
             at: datetime) -> list[tuple[str, bytes]]:
    """Deliver the send through the sending code (dispatcher then engine, in
    this process) to a real SMTP server; the accepted (envelope sender, .eml),
    by recipient."""
    # both databases number their first send 1: the delivery journal in Redis
    # must not carry the first delivery's marks into the second
    redis.Redis.from_url(redis_url).flushdb()
    with SmtpSink() as sink:
        rt = Runtime(make_settings(database_url, secret_key=TEST_SECRET, redis_url=redis_url,
                                   smtp_url=sink.url, rate_limit="1000/s"))
        try:
            report = dispatch(rt.engine, rt.coordinator, lambda _: None, parallelism=1,
                              interval=1, now=at + timedelta(seconds=1), preflight=rt.preflight)
            assert report.started == [send_id]
            deliver_send(rt.delivery_context(), send_id, time_budget=60)
        finally:
            rt.dispose()
        return [(a.mail_from, a.data) for a in sorted(sink.accepted, key=lambda a: a.recipients)]


#: what differs between two deliveries of the same part by construction: the
#: Message-ID (unique per message) and the Date (the moment of sending). The
#: VERP sender and the unsubscribe URLs embed the send, list and subscriber
#: ids; both databases are fresh and fed in the same order, so those ids agree
#: and these stay compared as they are (a reader added in another order makes
#: the test fail)
_PER_DELIVERY = re.compile(rb"^(Message-ID|Date): .*(\r\n[ \t].*)*$", re.M | re.I)


def _normalised(raw: bytes) -> bytes:
    return _PER_DELIVERY.sub(rb"\1: <per delivery>", raw)


def test_write_preview_save_compare_publish_schedule(
        engine: Engine, database_url: str, redis_url: str, tmp_path: Path) -> None:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect, sync_playwright

    make_user(engine, email=EDITOR, roles=[UserRole.EDITOR], name="編集 花子")
    with session_scope(engine) as session:
        upsert_subscribers(session=session, list_name=LIST, rows=SUBSCRIBERS)
    settings = make_settings(database_url, secret_key=TEST_SECRET)

    # previews are rendered on the server after a pause in typing: allow for a
    # busy machine (the default 5 s, restored at the end)
    expect.set_options(timeout=15_000)
    with serve(settings) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="ja-JP")
        try:
            page.goto(f"{base}/admin/login")
            page.get_by_label("メールアドレス").fill(EDITOR)
            page.get_by_label("パスワード").fill(PASSWORD)
            page.locator("form button[type=submit]").first.click()
            page.wait_for_url(re.compile(r".*/admin$"))
            page.get_by_role("link", name="号と配信回").click()
            page.get_by_role("link", name="新しい号をブラウザで書く").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("新しい号を書く")

            # the issue's fields and part 1's front matter
            page.get_by_label("号の識別名（英数字、例：vol05）").fill("vol09")
            page.get_by_label("回（半角数字）").fill("9")
            page.get_by_label("号の題名").fill("府中市×都CIO座談会")
            page.get_by_label("誌名").fill("都区市町村CIOフォーラム通信")
            page.get_by_label("発行者", exact=True).fill("東京都 デジタルサービス局 戦略部")
            page.get_by_label("発行者の住所").fill("〒163-8001 東京都新宿区西新宿二丁目8番1号")
            page.get_by_label("問い合わせ先メールアドレス").fill("cio-forum@metro.example.jp")
            page.get_by_label("第1部の題名").fill("府中市×都CIO座談会(前編)")
            page.get_by_label("第1部のメールの件名").fill("【CIOフォーラム通信】第9回(前編)")
            page.get_by_label("第1部の配信予定（東京時間、省略可）").fill("2026-12-01T09:00")

            # participants (the focus lands in the new block: keyboard users go on typing)
            _add(page, 0, "参加者(敬称略)")
            expect(page.locator("#p0-b0-n0-name")).to_be_focused()
            page.keyboard.type("髙橋 健一")
            _person(page, "p0-b0-", 0, "髙橋 健一", "", "府中市", "総務部長(CIO補佐)")
            page.get_by_role("button", name="参加者を追加").click()
            _person(page, "p0-b0-", 1, "中村 誠", "中村", "東京都", "デジタルサービス局 戦略部長")

            # three speaker turns, the speaker picked from the participants
            for j, (who, words) in enumerate([
                    ("髙橋", "府中市では、推進本部を立ち上げました。\n\n兼務には理由があります。"),
                    ("中村", "都でも同じ難しさを感じています。"),
                    ("髙橋", "各課に推進リーダーを置いています。")], start=1):
                _add(page, 0, "発言")
                page.locator(f"#p0-b{j}-first").select_option(who)
                page.locator(f"#p0-b{j}-text").fill(words)

            # a slide: uploaded, alt text required
            _add(page, 0, "画像・スライド")
            page.locator("#p0-b4-first").set_input_files(str(SLIDE))
            page.locator("#p0-b4-caption").fill("スライド1:府中市のデジタル推進体制")
            problems = page.locator("#preview-problems")
            expect(problems).to_contain_text(
                "第1部(part1) 5番目のブロック(画像・スライド): 代替テキストは必須です。")
            page.locator("#p0-b4-alt").fill(
                "推進体制の概念図。市長を本部長とする推進本部の下に各課が並ぶ。")

            # move the slide up and back down with the keyboard (the image is uploaded
            # with the form)
            page.get_by_role("button", name="第1部 5番目のブロック（画像・スライド）を上へ").focus()
            page.keyboard.press("Enter")
            slide = "第1部 {}番目のブロック（画像・スライド）を上へ"
            expect(page.get_by_role("button", name=slide.format(4))).to_be_focused()
            page.keyboard.press("Tab")
            page.keyboard.press("Enter")
            expect(page.get_by_role("button", name=slide.format(5))).to_be_focused()
            expect(page.locator("#p0-b4-alt")).to_have_value(re.compile("^推進体制の概念図"))
            expect(page.get_by_text("いまの画像 images/slide01.png")).to_be_visible()

            # the three previews follow the typing, rendered by the sending code
            expect(problems).to_be_hidden()
            text = page.locator("#preview-text")
            expect(text).to_contain_text("府中市 総務部長(CIO補佐):髙橋 健一(以下「髙橋」)")
            expect(page.locator("#preview-sanitized")).to_contain_text("(以下「中村」)")
            frame = page.frame_locator("#preview-html")
            expect(frame.locator("body")).to_contain_text("推進リーダー")
            page.locator("#p0-b3-text").press("End")
            page.keyboard.type("研修もします。")
            expect(text).to_contain_text("研修もします。")
            expect(frame.locator("body")).to_contain_text("研修もします。")
            expect(page.locator("#preview-sanitized")).to_contain_text("研修もします。")
            expect(page.locator("#preview-findings")).not_to_contain_text("エラー")
            page.locator("#p0-b3-text").fill("各課に推進リーダーを置いています。")

            # part 2
            page.get_by_role("button", name="部を追加").click()
            page.get_by_label("第2部の題名").fill("府中市×都CIO座談会(後編)")
            page.get_by_label("第2部のメールの件名").fill("【CIOフォーラム通信】第9回(後編)")
            _add(page, 1, "参加者(敬称略)")
            _person(page, "p1-b0-", 0, "髙橋 健一", "", "府中市", "総務部長(CIO補佐)")
            _add(page, 1, "発言")
            page.locator("#p1-b1-first").select_option("髙橋")
            page.locator("#p1-b1-text").fill("後編ではオンライン化を伺います。")
            page.locator("#preview-part").select_option("1")
            expect(text).to_contain_text("後編ではオンライン化")

            DOC_IMAGES.mkdir(parents=True, exist_ok=True)
            page.locator("#preview-part").select_option("0")
            expect(text).to_contain_text("府中市では")
            page.evaluate("document.getElementById('p0').scrollIntoView()")
            page.screenshot(path=str(DOC_IMAGES / "editor.png"))

            # save, reload: everything is there
            page.get_by_role("button", name="保存").click()
            page.wait_for_url(re.compile(r".*/admin/issues/vol09/edit\?saved=1$"))
            expect(page.locator("p.notice")).to_have_text("第1版として保存しました。")
            page.reload()
            expect(page.locator("#p0-b1-text")).to_have_value(
                "府中市では、推進本部を立ち上げました。\n\n兼務には理由があります。")
            expect(page.locator("#p0-b2-first")).to_have_value("中村")
            expect(page.get_by_label("第2部の題名")).to_have_value("府中市×都CIO座談会(後編)")

            # accessibility of the editor page: nothing serious or critical
            results = Axe().run(page)
            serious = [v for v in results.response["violations"]
                       if v.get("impact") in ("serious", "critical")]
            assert serious == [], results.generate_report()

            # edit and save again
            page.locator("#p1-b1-text").fill("後編では手続のオンライン化を伺います。")
            page.get_by_role("button", name="保存").click()
            page.wait_for_url(re.compile(r".*/edit\?saved=2$"))

            # compare the two revisions of part 2
            page.get_by_role("link", name="この号の履歴（版の比較・復元）").click()
            expect(page.get_by_role("cell", name="編集 花子").first).to_be_visible()
            page.get_by_label("古い版").select_option("1")
            page.get_by_label("新しい版").select_option("2")
            page.get_by_label("比べる部").select_option("1")
            page.get_by_role("button", name="比べる").click()
            diff = page.locator("#diff")
            expect(diff).to_contain_text("-後編ではオンライン化を伺います。")
            expect(diff).to_contain_text("+後編では手続のオンライン化を伺います。")
            page.screenshot(path=str(DOC_IMAGES / "editor-history.png"), full_page=True)

            # publish the draft: stored as `mailer issue load` stores a folder
            page.get_by_role("link", name="編集に戻る").click()
            page.get_by_role("button", name="第2版を号として登録").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("号として登録しました")
            expect(page.locator("main")).to_contain_text("part1（新規登録）")

            # autosave: typing stops, a revision is saved and the next save starts from it
            page.goto(f"{base}/admin/issues/vol09/edit")
            page.locator("#editor-form").evaluate(
                "f => f.setAttribute('data-autosave-seconds', '1')")
            page.locator("#p1-b1-text").press("End")
            page.keyboard.type("(続きは次号)")
            expect(page.locator("#autosave-status")).to_have_text(
                re.compile(r"^自動保存しました（第3版、\d\d:\d\d）$"))
            expect(page.locator("#base")).to_have_value("3")
        finally:
            browser.close()
            expect.set_options(timeout=5_000)

    # schedule part 1 through the schedule service
    with engine.connect() as conn:
        part_id = conn.execute(select(Part.id).where(Part.label == "part1")).scalar_one()  # type: ignore[arg-type]
    config = RenderConfig(base_url=settings.base_url, from_name="事務局",
                          from_address="cio-forum@mailer.example.com",
                          list_id="cio-forum.mailer.example.com", list_name="CIOフォーラム")
    at = datetime.now(UTC) + timedelta(days=1)
    scheduled = schedule_send(engine=engine, actor=Actor(EDITOR, None), part_id=part_id,
                              list_names=[LIST], config=config, at=at)
    with engine.connect() as conn:
        status = conn.execute(select(Send.status).where(Send.id == scheduled.send_id)).scalar_one()  # type: ignore[arg-type]
    assert status == "scheduled"

    # the stored part renders exactly as the same issue written as a folder
    folder = tmp_path / "vol09"
    (folder / "images").mkdir(parents=True)
    shutil.copy(SLIDE, folder / "images" / "slide01.png")
    (folder / "issue.yaml").write_text(ISSUE_YAML, encoding="utf-8")
    (folder / "part1.md").write_text(PART1, encoding="utf-8")
    (folder / "part2.md").write_text(PART2, encoding="utf-8")
    by_hand = parse_issue_folder(folder)
    issue, part = load_documents(engine, part_id)
    assert issue.model_dump(exclude={"parts"}) == by_hand.model_dump(exclude={"parts"})
    assert part == by_hand.parts[0]
    assert _rendered(issue, part, config) == _rendered(by_hand, by_hand.parts[0], config)

    # part 1 delivered, and the same part of the folder loaded into a second
    # database (`mailer issue load`) delivered to the same readers: the .eml
    # are the same but for the per-delivery headers
    from_editor = _deliver(database_url, redis_url, scheduled.send_id, at)
    folder_url = f"sqlite:///{tmp_path / 'from-folder.db'}"
    other = make_engine(folder_url)
    try:
        upgrade(other)
        with session_scope(other) as session:
            load_issue(session=session, path=folder)
            upsert_subscribers(session=session, list_name=LIST, rows=SUBSCRIBERS)
        with other.connect() as conn:
            folder_part = conn.execute(select(Part.id).where(Part.label == "part1")).scalar_one()  # type: ignore[arg-type]
        folder_send = schedule_send(engine=other, actor=Actor(EDITOR, None), part_id=folder_part,
                                    list_names=[LIST], config=config, at=at)
    finally:
        other.dispose()
    from_folder = _deliver(folder_url, redis_url, folder_send.send_id, at)
    assert len(from_editor) == len(from_folder) == len(SUBSCRIBERS)
    for (sender, mine), (their_sender, theirs) in zip(from_editor, from_folder, strict=True):
        assert sender == their_sender
        assert len(_PER_DELIVERY.findall(mine)) == 2  # Date and Message-ID, nothing else
        kinds = [p.get_content_type() for p in
                 email.message_from_bytes(mine, policy=email.policy.default).walk()]
        assert "text/plain" in kinds and "text/html" in kinds
        assert _normalised(mine) == _normalised(theirs)  # both bodies byte for byte
