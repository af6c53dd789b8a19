"""Issue #14's editorial journey in a real browser (Playwright + Debian's
Chromium) with a real Celery worker, beat and SMTP sink: upload an issue →
part 2 is 404 in the archive and absent from the feed → scheduling part 1 in
the past is refused → send now shows the count and needs a confirm → part 1
appears in the archive when its send starts → scheduling it again to the same
list warns → the report is one table in code order with no error on sent rows
→ everything on these pages is Japanese.

Skipped when /usr/bin/chromium is missing; never downloads a browser.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from admin_support import PASSWORD, make_user
from sqlalchemy import Engine, select
from test_admin_helpers import zip_folder
from web_support import BASE_URL, LIST, make_settings, serve

from mailer.db import session_scope
from mailer.models import Send, UserRole
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services.subscribers import upsert_subscribers
from mailer.testing.stack import TEST_SECRET, Stack

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
EDITOR = "editor@metro.example.jp"
SLUG = "vol04"
NS = {"a": "http://www.w3.org/2005/Atom"}
# (email, name, organisation), deliberately not in code order
READERS = [("hinohara@vil-hinohara.example.jp", "檜原 一郎", "檜原村"),
           ("musashino@city-musashino.example.jp", "武蔵 花子", "武蔵野市"),
           ("chiyoda@city-chiyoda.example.jp", "千代田 次郎", "千代田区"),
           ("mizuho@town-mizuho.example.jp", "瑞穂 三郎", "瑞穂町"),
           ("metro@metro-tokyo.example.jp", "都庁 四郎", "東京都"),
           ("hachioji@city-hachioji.example.jp", "八王子 五郎", "八王子市"),
           ("shinjuku@city-shinjuku.example.jp", "新宿 六子", "新宿区")]
# 都, 特別区, 市, 町, 村 by local-government code
# (130001, 131016, 131041, 132012, 132039, 133035, 133078)
CODE_ORDER = ["東京都", "千代田区", "新宿区", "八王子市", "武蔵野市", "瑞穂町", "檜原村"]

# ASCII words allowed on a Japanese page: names, formats and identifiers, not
# English prose. Keep this short; anything else found fails the test.
ALLOWED_ASCII = {
    "part",  # part labels (part1, part2)
    "CSV", "HTML", "ISO", "UTF", "Excel", "zip", "Atom",  # formats and encodings
    "URL", "API", "CLI", "SMTP",  # acronyms Japanese technical writing uses as they are
    "Word",  # the word processor's name (「Word の原稿から下書きを作る」)
    "CIO",  # in the sample issue's titles (武蔵野市×都CIO座談会)
    "cio", "forum",  # the test list's name (cio-forum), shown next to its title
    "vol",  # the issue's slug (vol04)
}
ASCII_WORD = re.compile(r"[A-Za-z]{3,}")
FIELD_NAME = re.compile(r"^\s*([a-z_]+):", re.MULTILINE)  # a service field name ("at: …")
# e-mail addresses, URLs and file names (issue.yaml, .eml) are identifiers
IDENTIFIER = re.compile(r"https?://\S+|[\w.+-]+@[\w-]+(\.[\w-]+)+|[\w-]*\.(yaml|eml|md|zip|csv)\b")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's Chromium is not installed at /usr/bin/chromium "
                              "(apt-get install chromium); no browser is downloaded"),
]


@pytest.fixture
def stack(database_url: str, redis_url: str, engine: Engine, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(database_url=database_url, redis_url=redis_url, workdir=tmp_path, engine=engine,
              extra_env={"MAILER_REQUIRE_APPROVAL": "false"})
    s.flush_redis()
    try:
        yield s
    finally:
        s.stop()
        s.flush_redis()


def english_words(text: str) -> set[str]:
    """Return the runs of 3+ ASCII letters in `text` outside e-mail addresses,
    URLs, file names and ALLOWED_ASCII, and field names opening a line ("at: …")."""
    text = IDENTIFIER.sub(" ", text)
    words = set(ASCII_WORD.findall(text)) | set(FIELD_NAME.findall(text))
    return words - ALLOWED_ASCII


def test_english_words_finds_english_and_spares_names_formats_and_addresses() -> None:
    assert english_words("Send scheduled：part1 を CSV で a@b.example.jp https://x.example/y "
                         "issue.yaml (.eml)\nat: 過去") == {"Send", "scheduled", "at"}


def _feed_ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    r = page.request.get("/archive/feed.atom")
    assert r.status == 200
    return [e.findtext("a:id", namespaces=NS) or ""
            for e in ET.fromstring(r.body()).findall("a:entry", NS)]


def _sends(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [(r.id, r.status) for r in conn.execute(
            select(Send.id, Send.status).order_by(Send.id))]  # type: ignore[call-overload, arg-type]


def test_issue_14_editorial_journey(stack: Stack, engine: Engine, database_url: str,
                                    tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    sink = stack.add_sink()
    make_user(engine, email=EDITOR, roles=[UserRole.EDITOR], name="編集 太郎")
    with session_scope(engine) as session:
        upsert_subscribers(session=session, list_name=LIST, rows=[
            {"email": e, "name": n, "organisation": o} for e, n, o in READERS])
    archive = tmp_path / f"{SLUG}.zip"
    archive.write_bytes(zip_folder(SAMPLE_ISSUE_DIR, prefix=f"{SLUG}/"))
    settings = make_settings(database_url, secret_key=TEST_SECRET, smtp_url=sink.url,
                             require_approval=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stack.start_worker()
    stack.start_beat()
    seen: dict[str, str] = {}  # page → its visible text

    with serve(settings) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        staff = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
        reader = browser.new_context(base_url=base, locale="ja-JP").new_page()

        def look(page, name: str) -> None:  # type: ignore[no-untyped-def]
            """Keep the page's visible text, less the issue's own article (authors'
            content may name things in English: CDO, ChatGPT)."""
            page.wait_for_load_state()
            text = page.inner_text("body")
            for article in page.locator("article").all_inner_texts():
                text = text.replace(article, "")
            seen[name] = text

        try:
            staff.goto(f"{base}/admin/login")
            look(staff, "ログイン")
            staff.get_by_label("メールアドレス").fill(EDITOR)
            staff.get_by_label("パスワード").fill(PASSWORD)
            staff.locator("form button[type=submit]").first.click()
            staff.wait_for_url(re.compile(r".*/admin$"))
            look(staff, "ダッシュボード")

            # upload the issue through the form
            staff.get_by_role("link", name="号と配信回").click()
            look(staff, "号と配信回")
            staff.get_by_label("号のフォルダ（issue.yaml・本文・画像）を zip にしたファイル") \
                .set_input_files(str(archive))
            staff.get_by_role("button", name="アップロードして読み込む").click()
            expect(staff.locator("p.notice")).to_contain_text(f"号「{SLUG}」を読み込みました：新規登録")
            look(staff, "アップロード後")
            staff.screenshot(path=str(SCREENSHOTS / "journey-uploaded.png"), full_page=True)

            # nothing is public yet: both parts 404, the feed is empty
            for label in ("part1", "part2"):
                r = reader.goto(f"/archive/{SLUG}/{label}")
                assert r is not None and r.status == 404, label
                look(reader, f"アーカイブ {label}（未公開）")
            assert _feed_ids(reader) == []

            # scheduling part 1 in the past is refused, and nothing is created
            staff.get_by_role("link", name=re.compile(r"^part1：")).click()
            look(staff, "part1")
            part_url = staff.url
            staff.get_by_label("配信日時（東京時間）").fill("2020-01-01T09:00")
            staff.get_by_label(re.compile(r"配信中 7 名")).first.check()
            staff.get_by_role("button", name="予約する", exact=True).click()
            # the same form comes back, as entered, with the reason beside the time
            expect(staff.locator("#schedule-error")).to_have_text(
                re.compile("^過去の日時には予約できません"))
            expect(staff.get_by_label("配信日時（東京時間）")).to_have_value("2020-01-01T09:00")
            expect(staff.get_by_label(re.compile(r"配信中 7 名")).first).to_be_checked()
            look(staff, "過去の予約（拒否）")
            assert _sends(engine) == []

            # send now: the count first, nothing sent until confirmed
            staff.goto(part_url)
            staff.get_by_label(re.compile(r"配信中 7 名")).first.check()
            staff.get_by_role("button", name="今すぐ送る…").click()
            expect(staff.get_by_role("heading", level=1)).to_have_text("今すぐ送る前の確認")
            expect(staff.locator("#confirm-count")).to_have_text("7 名")
            look(staff, "今すぐ送る前の確認")
            staff.screenshot(path=str(SCREENSHOTS / "journey-send-now-confirm.png"), full_page=True)
            assert _sends(engine) == []
            staff.get_by_role("button", name="送信を始める").click()
            expect(staff.locator("p.notice")).to_contain_text("送信を始めました")
            send_id = int(re.search(r"/admin/sends/(\d+)", staff.url).group(1))  # type: ignore[union-attr]
            look(staff, "配信（予約直後）")

            # part 1 is public once its send starts; part 2 still is not
            stack.wait_for(send_id, lambda p: p.status.value in ("running", "done"), timeout=60)
            r = reader.goto(f"/archive/{SLUG}/part1")
            assert r is not None and r.status == 200
            expect(reader.locator("body")).to_contain_text("座談会")
            look(reader, "アーカイブ part1（公開）")
            r = reader.goto(f"/archive/{SLUG}/part2")
            assert r is not None and r.status == 404
            assert _feed_ids(reader) == [f"{BASE_URL}/archive/{SLUG}/part1"]
            reader.goto("/archive")
            look(reader, "アーカイブの一覧")
            expect(reader.locator(f'a[href="/archive/{SLUG}/part1"]')).to_have_count(1)
            expect(reader.locator(f'a[href="/archive/{SLUG}/part2"]')).to_have_count(0)

            # the send finishes: everyone got exactly one mail
            staff.goto(f"{base}/admin/sends/{send_id}")
            expect(staff.locator("#progress")).to_contain_text("完了", timeout=90_000)
            expect(staff.locator("#progress")).to_contain_text("7 / 7 件処理済み")
            got = sorted(a.recipients[0] for a in sink.accepted)
            assert got == sorted(e for e, _, _ in READERS)

            # the report: one table, code order, no error on the sent rows
            staff.reload()
            section = staff.locator("#by-municipality")
            expect(section.locator("table")).to_have_count(1)
            expect(section.locator("tbody tr td:first-child")).to_have_text(CODE_ORDER)
            expect(section.locator("tbody tr td:nth-child(5)")).to_have_text(["送信済み"] * 7)
            expect(section.locator("tbody tr td:nth-child(7)")).to_have_text([""] * 7)
            look(staff, "配信の結果")
            staff.screenshot(path=str(SCREENSHOTS / "journey-report.png"), full_page=True)

            # scheduling it again to the same list warns before anything is created
            staff.goto(part_url)
            staff.get_by_label("配信日時（東京時間）").fill("2030-01-01T09:00")
            staff.get_by_label(re.compile(r"配信中 7 名")).first.check()
            staff.get_by_role("button", name="予約する", exact=True).click()
            expect(staff.get_by_role("heading", level=1)).to_have_text("予約の前の確認")
            expect(staff.locator("#confirm-overlap")).to_contain_text("7 名")
            look(staff, "予約の前の確認（重複）")
            staff.screenshot(path=str(SCREENSHOTS / "journey-overlap-warning.png"), full_page=True)
            staff.get_by_role("link", name="やめる（何もしない）").click()
            look(staff, "part1（配信後）")
            assert _sends(engine) == [(send_id, "done")]
        finally:
            browser.close()

    english = {name: sorted(words) for name, text in seen.items() if (words := english_words(text))}
    assert english == {}, "English on these pages:\n" + "\n".join(
        f"{name}: {', '.join(words)}" for name, words in english.items())
