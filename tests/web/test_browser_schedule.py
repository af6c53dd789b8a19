"""Scheduling in a real browser (Playwright + Debian's Chromium), without a
worker: the form starts at the part's 予定, "send now" shows who it reaches
and sends only after the confirmation, cancelling asks first, and nobody is
offered a button to approve their own send.

Skipped when /usr/bin/chromium is missing; never downloads a browser.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from admin_support import PASSWORD, make_user
from sqlalchemy import Engine, select
from web_support import LIST, make_settings, serve

from mailer.compose.load import load_issue
from mailer.db import session_scope
from mailer.models import Send, UserRole
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services.subscribers import upsert_subscribers
from mailer.testing.stack import TEST_SECRET

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
EDITOR = "editor@metro.example.jp"  # editor and approver: may approve others' sends only
READERS = [("alice@city-a.example.jp", "青木 花子", "武蔵野市"),
           ("bob@city-b.example.jp", "馬場 太郎", "三鷹市"),
           ("carol@city-c.example.jp", "倉田 恵", "府中市")]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's Chromium is not installed at /usr/bin/chromium "
                              "(apt-get install chromium); no browser is downloaded"),
]


def _sends(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [(r.id, r.status) for r in conn.execute(
            select(Send.id, Send.status).order_by(Send.id))]  # type: ignore[call-overload, arg-type]


def test_send_now_confirms_cancel_asks_and_no_self_approval(
        engine: Engine, database_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    make_user(engine, email=EDITOR, roles=[UserRole.EDITOR, UserRole.APPROVER], name="編集 太郎")
    with session_scope(engine) as session:
        load_issue(session=session, path=SAMPLE_ISSUE_DIR)
        upsert_subscribers(session=session, list_name=LIST, rows=[
            {"email": e, "name": n, "organisation": o} for e, n, o in READERS])
    settings = make_settings(database_url, secret_key=TEST_SECRET, require_approval=True)

    with serve(settings) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
        try:
            page.goto(f"{base}/admin/login")
            page.get_by_label("メールアドレス").fill(EDITOR)
            page.get_by_label("パスワード").fill(PASSWORD)
            page.locator("form button[type=submit]").first.click()
            page.wait_for_url(re.compile(r".*/admin$"))
            page.get_by_role("link", name="号と配信回").click()
            page.get_by_role("link", name=re.compile(r"^part1：")).click()

            # the form starts at the part's 予定 (part1.md: 2026-12-01 09:00, Tokyo)
            expect(page.get_by_label("配信日時（東京時間）")).to_have_value("2026-12-01T09:00")
            page.get_by_label(re.compile(r"配信中 3 名")).first.check()

            # send now: who it reaches first, nothing sent until confirmed
            page.get_by_role("button", name="今すぐ送る…").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("今すぐ送る前の確認")
            expect(page.locator("#confirm-count")).to_have_text("3 名")
            expect(page.locator("#confirm-lists")).to_contain_text(LIST)
            expect(page.locator("#confirm-names")).to_have_text("青木 花子、馬場 太郎、倉田 恵")
            assert _sends(engine) == []
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "send-now-confirm.png"), full_page=True)
            page.get_by_role("button", name="送信を始める").click()
            expect(page.locator("p.notice")).to_contain_text("承認されると、すぐに送信を始めます")
            send_id = int(re.search(r"/admin/sends/(\d+)", page.url).group(1))  # type: ignore[union-attr]
            assert _sends(engine) == [(send_id, "scheduled")]

            # its creator is not offered approval (it would only be refused)
            expect(page.get_by_role("button", name=f"配信 {send_id} を承認する")).to_have_count(0)

            # cancel asks first; going back does nothing
            page.get_by_role("button", name=f"配信 {send_id} を取り消す").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("確認してください")
            page.screenshot(path=str(SCREENSHOTS / "cancel-confirm.png"), full_page=True)
            assert _sends(engine) == [(send_id, "scheduled")]
            page.get_by_role("link", name="やめる（何もしない）").click()
            assert _sends(engine) == [(send_id, "scheduled")]
            page.get_by_role("button", name=f"配信 {send_id} を取り消す").click()
            page.locator("main form button[type=submit]", has_text="取り消す").click()
            expect(page.locator("p.notice")).to_contain_text("配信を取り消しました")
            assert _sends(engine) == [(send_id, "cancelled")]
        finally:
            browser.close()
