"""The send report in a real browser (Playwright + Debian's Chromium): one
table, rows in local-government code order, a sort and a filter that work
from the page's own controls. Skipped when /usr/bin/chromium is missing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from admin_support import PASSWORD
from test_admin_helpers import Site, email_of, finish, part_ids, schedule, set_outcome, site, start
from web_support import LIST

from mailer.models import DeliveryStatus

__all__ = ["site"]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's Chromium is not installed at /usr/bin/chromium "
                              "(apt-get install chromium); no browser is downloaded"),
]


def test_report_page_is_one_table_sorted_and_filtered_in_the_browser(site: Site) -> None:
    from playwright.sync_api import expect, sync_playwright

    send = schedule(site.engine, part_id=part_ids(site.engine)[0], lists=[LIST])
    start(site.engine, send)
    set_outcome(site.engine, send, "alice@city-a.example.jp", DeliveryStatus.SENT, "send stopped")
    set_outcome(site.engine, send, "bob@city-b.example.jp", DeliveryStatus.SENT, "time budget")
    set_outcome(site.engine, send, "carol@city-c.example.jp", DeliveryStatus.FAILED,
                "550 5.1.1 user unknown")
    finish(site.engine, send)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
        try:
            page.goto(f"{site.url}/admin/login")
            page.get_by_label("メールアドレス").fill(email_of("viewer"))
            page.get_by_label("パスワード").fill(PASSWORD)
            page.locator("form button[type=submit]").first.click()
            page.wait_for_url(re.compile(r".*/admin$"))
            page.goto(f"{site.url}/admin/sends/{send}")
            section = page.locator("#by-municipality")
            expect(section.locator("table")).to_have_count(1)
            first_cells = section.locator("tbody tr td:first-child")
            expect(first_cells).to_have_text(["武蔵野市", "三鷹市", "府中市"])
            reasons = section.locator("tbody tr td:nth-child(7)")
            expect(reasons).to_have_text(["", "", "550 5.1.1 user unknown"])
            page.screenshot(path=str(SCREENSHOTS / "send-report.png"), full_page=True)
            height = page.evaluate("document.documentElement.scrollHeight")
            assert height < 3000, height  # was about 11,900 px with a table per municipality

            # failures first, from the heading link
            section.get_by_role("link", name="状態").click()
            expect(first_cells).to_have_text(["府中市", "武蔵野市", "三鷹市"])
            # one municipality, from the form
            page.get_by_label("自治体", exact=True).select_option("三鷹市")
            page.get_by_role("button", name="表示").click()
            expect(section.locator("table")).to_have_count(1)
            expect(first_cells).to_have_text(["三鷹市"])
            expect(section.get_by_role("link", name=re.compile("CSV"))).to_have_attribute(
                "href", re.compile(r"report\.csv\?sort=failures&municipality=")
            )
        finally:
            browser.close()
