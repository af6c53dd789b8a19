"""The whole job in a real browser (Playwright + Debian's Chromium): log in,
upload the sample issue, preview, test-send, schedule (editor) and approve
(approver), watch the send finish through a real Celery worker and beat, then
unsubscribe as a reader through the link in a received mail.

Skipped when /usr/bin/chromium is missing; never downloads a browser.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from admin_support import PASSWORD, make_user
from sqlalchemy import Engine, select
from test_admin_helpers import zip_folder
from web_support import LIST, make_settings, serve

from mailer.db import session_scope
from mailer.models import Send, Subscriber, UserRole
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services.subscribers import upsert_subscribers
from mailer.testing.stack import TEST_SECRET, Stack

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
EDITOR = "editor@metro.example.jp"
APPROVER = "approver@metro.example.jp"
READERS = [("alice@city-a.example.jp", "青木 花子", "武蔵野市"),
           ("bob@city-b.example.jp", "馬場 太郎", "三鷹市"),
           ("carol@city-c.example.jp", "倉田 恵", "府中市")]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's Chromium is not installed at /usr/bin/chromium "
                              "(apt-get install chromium); no browser is downloaded"),
]


@pytest.fixture
def stack(database_url: str, redis_url: str, engine: Engine, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(database_url=database_url, redis_url=redis_url, workdir=tmp_path, engine=engine,
              extra_env={"MAILER_REQUIRE_APPROVAL": "true"})
    s.flush_redis()
    try:
        yield s
    finally:
        s.stop()
        s.flush_redis()


def _login(page, base: str, who: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/admin/login")
    page.get_by_label("メールアドレス").fill(who)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r".*/admin$"))


def _logout(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_load_state()


def test_editor_and_approver_send_an_issue_and_a_reader_unsubscribes(
    stack: Stack, engine: Engine, database_url: str, tmp_path: Path,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    sink = stack.add_sink()
    make_user(engine, email=EDITOR, roles=[UserRole.EDITOR], name="編集 太郎")
    make_user(engine, email=APPROVER, roles=[UserRole.APPROVER], name="承認 花子")
    with session_scope(engine) as session:
        upsert_subscribers(session=session, list_name=LIST, rows=[
            {"email": e, "name": n, "organisation": o} for e, n, o in READERS])
    archive = tmp_path / "vol04.zip"
    archive.write_bytes(zip_folder(SAMPLE_ISSUE_DIR, prefix="vol04/"))
    settings = make_settings(database_url, secret_key=TEST_SECRET, smtp_url=sink.url,
                             require_approval=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stack.start_worker()
    stack.start_beat()

    with serve(settings) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
        try:
            # editor: upload, preview, test-send, schedule
            _login(page, base, EDITOR)
            page.get_by_role("link", name="号と配信回").click()
            page.get_by_label("号のフォルダ（issue.yaml・本文・画像）を zip にしたファイル") \
                .set_input_files(str(archive))
            page.get_by_role("button", name="アップロードして読み込む").click()
            expect(page.locator("p.notice")).to_contain_text("号「vol04」を読み込みました：新規登録")
            page.get_by_role("link", name=re.compile(r"^part1：")).click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("武蔵野市×都CIO座談会")
            frame = page.frame_locator("iframe.preview")
            expect(frame.locator("body")).to_contain_text("座談会")
            page.locator("#preview").scroll_into_view_if_needed()
            page.evaluate("document.getElementById('preview').scrollIntoView()")
            page.screenshot(path=str(SCREENSHOTS / "part-preview.png"), full_page=False)
            page.get_by_role("link", name="テキスト", exact=True).click()
            expect(page.locator("pre.preview")).to_contain_text("https://")
            page.get_by_role("button", name="自分宛てにテスト送信").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("テスト送信しました")
            assert [a.recipients for a in sink.accepted] == [(EDITOR,)]
            test_mail = email.message_from_bytes(sink.accepted[0].data, policy=email.policy.default)
            assert "テスト" in str(test_mail["Subject"])
            page.get_by_role("link", name="戻る").click()
            page.get_by_label(re.compile(r"cio-forum（cio-forum・配信中 3 名）|配信中 3 名")) \
                .first.check()
            page.get_by_role("button", name="今すぐ送る…").click()
            expect(page.locator("#confirm-count")).to_have_text("3 名")
            page.get_by_role("button", name="送信を始める").click()
            # approval is required here: registered, not yet started
            expect(page.locator("p.notice")).to_contain_text("配信を登録しました。承認されると")
            send_id = int(re.search(r"/admin/sends/(\d+)", page.url).group(1))  # type: ignore[union-attr]
            expect(page.get_by_role("button", name="承認する")).to_have_count(0)
            _logout(page)

            # approver: approve from the dashboard, watch it finish
            _login(page, base, APPROVER)
            upcoming = page.locator("table", has=page.locator(f'a[href="/admin/sends/{send_id}"]'))
            expect(upcoming).to_contain_text("承認待ち")
            page.get_by_role("button", name=f"配信 {send_id} を承認する").click()
            expect(page.locator("p.notice")).to_contain_text("配信を承認しました")
            stack.wait_for(send_id, lambda p: p.status.value in ("running", "done"), timeout=60)
            page.goto(f"{base}/admin")
            page.wait_for_timeout(500)
            running = page.locator("#running")
            expect(running).to_contain_text("件処理済み", timeout=20_000)
            page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
            page.goto(f"{base}/admin/sends/{send_id}")
            expect(page.locator("#progress")).to_contain_text("完了", timeout=90_000)
            expect(page.locator("#progress")).to_contain_text("3 / 3 件処理済み")
            page.goto(f"{base}/admin")
            page.screenshot(path=str(SCREENSHOTS / "dashboard-done.png"), full_page=True)
            _logout(page)

            # a reader unsubscribes through the link in the mail they got
            to_alice = [a for a in sink.accepted if a.recipients == (READERS[0][0],)]
            assert len(to_alice) == 1
            mail = email.message_from_bytes(to_alice[0].data, policy=email.policy.default)
            text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            link = re.search(r"https://mailer\.example\.com(/u/[A-Za-z0-9_.\-]+)", text)
            assert link, text[-800:]
            page.goto(base + link.group(1))
            page.get_by_role("button", name="配信を停止する").click()
            expect(page.locator("h1")).to_contain_text("停止")
        finally:
            browser.close()

    with engine.connect() as conn:
        status = conn.execute(select(Subscriber.status).where(  # type: ignore[call-overload]
            Subscriber.email == READERS[0][0])).scalar_one()  # type: ignore[arg-type]
        send = conn.execute(select(Send.approved_by).where(Send.id == send_id)).scalar_one()  # type: ignore[call-overload, arg-type]
    assert status == "unsubscribed"
    assert send == APPROVER
