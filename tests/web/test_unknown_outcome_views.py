"""Where staff read a send's messages of unknown outcome (the relay took the
data and never answered): 「結果不明（SMTP 応答なし）」 in `mailer status`,
the admin send page (progress and the report by municipality), the report's
CSV and the API's send resource."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select
from test_admin_helpers import Site, finish, part_ids, schedule, set_outcome, site, start
from typer.testing import CliRunner
from web_support import LIST, SECRET

from mailer.cli import app
from mailer.delivery.ledger import D
from mailer.models import DeliveryStatus

__all__ = ["site"]
LABEL = "結果不明（SMTP 応答なし）"


def _send_with_one_unknown(site: Site) -> tuple[int, str]:
    send = schedule(site.engine, part_id=part_ids(site.engine)[0], lists=[LIST])
    start(site.engine, send)
    with site.engine.connect() as conn:
        emails = sorted(conn.execute(select(D.c.email).where(D.c.send_id == send)).scalars())
    assert len(emails) >= 2
    unknown = emails[0]
    set_outcome(site.engine, send, unknown, DeliveryStatus.UNKNOWN,
                "no reply after data: END: TimeoutError: timed out")
    for e in emails[1:]:
        set_outcome(site.engine, send, e, DeliveryStatus.SENT)
    finish(site.engine, send)
    return send, unknown


def test_unknown_count_in_page_report_csv_and_api(site: Site) -> None:
    send, unknown = _send_with_one_unknown(site)
    html = site.client("viewer").get(f"/admin/sends/{send}").text
    assert f"{LABEL}：1 件" in html  # the progress block says it in words
    assert f"<th scope=\"col\" class=\"num\">{LABEL}</th>" in html
    assert "結果不明 1" in html  # the municipality choice counts it
    r = site.client("viewer").get(f"/admin/sends/{send}/report.csv")
    rows = list(csv.reader(io.StringIO(r.content[3:].decode("utf-8"), newline="")))
    [row] = [row for row in rows if row[3] == unknown]
    assert row[4] == LABEL
    body = site.api("viewer").get(f"/api/v1/sends/{send}").json()
    assert body["unknown"] == 1 and body["counts"]["unknown"] == 1
    assert body["accounted"] is True


def test_unknown_count_in_mailer_status(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    send, _unknown = _send_with_one_unknown(site)
    import os

    for key in list(os.environ):
        if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MAILER_DATABASE_URL", site.settings.database_url)
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_BASE_URL", "https://mailer.example.com")
    result = CliRunner().invoke(app, ["status", str(part_ids(site.engine)[0])])
    assert result.exit_code == 0, result.output
    assert f"{LABEL}: 1" in result.output
    assert f"送信 {send}（" in result.output
