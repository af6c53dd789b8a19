"""Admin forms: every action checked on the server per role, CSRF on every
form, schedule → approve → on the dashboard, each change audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from admin_support import hidden
from sqlalchemy import Engine, select
from test_admin_helpers import (
    PERSONAS,
    Site,
    email_of,
    finish,
    part_ids,
    post_form,
    sample_zip,
    schedule,
    send_status,
    set_outcome,
    site,
    start,
)
from web_support import LIST

from mailer.models import AuditLog, DeliveryStatus, Send
from mailer.services.actors import SYSTEM
from mailer.services.sends import pause_send

__all__ = ["site"]

ALLOWED = {
    "approve": {"approver", "admin"},
    "pause": {"editor", "admin"},
    "resume": {"editor", "admin"},
    "cancel": {"editor", "admin"},
    "resend-failed": {"editor", "admin"},
    "schedule": {"editor", "admin"},
    "test-send": {"editor", "admin"},
    "upload": {"editor", "admin"},
}


def _send_ready_for(engine: Engine, action: str, part: int) -> int:
    send = schedule(engine, part_id=part, lists=[LIST], by="someone@metro.example.jp")
    if action == "resume":
        pause_send(actor=SYSTEM, engine=engine, send_id=send)
    if action == "resend-failed":
        start(engine, send)
        set_outcome(engine, send, "bob@city-b.example.jp", DeliveryStatus.FAILED, "550 5.1.1")
    return send


def _audit_actions(engine: Engine) -> list[tuple[str, str]]:
    t = AuditLog.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.id)).all()
    # accounts and logins are audited too, and so is the tests' own set-up (as
    # "system"); these tests look at the content actions people make
    return [(r.actor, r.action) for r in rows
            if r.action.startswith(("send.", "part.", "issue.")) and r.actor != "system"]


def _do(client: httpx.Client, site: Site, action: str, part: int) -> tuple[httpx.Response, int]:
    page = f"/admin/parts/{part}"
    if action == "schedule":  # the sends made above overlap: the choice is made here
        return post_form(client, page, f"/admin/parts/{part}/schedule",
                         {"lists": [LIST], "at": "2031-04-01T09:00", "overlap": "again"}), 0
    if action == "test-send":
        return post_form(client, page, f"/admin/parts/{part}/test-send"), 0
    if action == "upload":
        token = hidden(client.get("/admin/issues").text)
        r = client.post("/admin/issues", data={"csrf_token": token},
                        files={"file": ("vol04.zip", sample_zip(), "application/zip")})
        return r, 0
    send = _send_ready_for(site.engine, action, part)
    return post_form(client, f"/admin/sends/{send}", f"/admin/sends/{send}/{action}",
                     {"back": f"/admin/sends/{send}", "confirm": "yes"}), send


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_can_do_only_its_actions(site: Site, persona: str) -> None:
    part = part_ids(site.engine)[1]
    client = site.client(persona)
    for action, allowed in ALLOWED.items():
        before = len(_audit_actions(site.engine))
        r, send = _do(client, site, action, part)
        if persona in allowed:
            if action == "test-send":  # no relay configured: a clear refusal, not a 403
                assert r.status_code == 409, (action, r.status_code)
                assert "MAILER_SMTP_URL" in r.text
                continue
            assert r.status_code in (200, 303), (persona, action, r.status_code, r.text[:400])
            assert len(_audit_actions(site.engine)) > before, (persona, action)
        else:
            assert r.status_code == 403, (persona, action, r.status_code)
            assert "権限がありません" in r.text
            assert len(_audit_actions(site.engine)) == before
            if send:
                status, approved = send_status(site.engine, send)
                expected = {"resume": "paused", "resend-failed": "running"}.get(action,
                                                                                "scheduled")
                assert (status, approved) == (expected, ""), (persona, action)


def test_every_form_needs_its_csrf_token(site: Site) -> None:
    part = part_ids(site.engine)[0]
    client = site.client("admin")
    other = site.client("editor")
    foreign_token = hidden(other.get("/admin/issues").text)  # another session's token
    send = schedule(site.engine, part_id=part, lists=[LIST], by="x@metro.example.jp")
    targets = [f"/admin/sends/{send}/{a}" for a in ("approve", "pause", "cancel")]
    targets += [f"/admin/parts/{part}/schedule", f"/admin/parts/{part}/test-send"]
    for url in targets:
        for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged"},
                     {"csrf_token": foreign_token}):
            r = client.post(url, data={**data, "lists": LIST})
            assert r.status_code == 403, (url, data, r.status_code)
    r = client.post("/admin/issues", data={"csrf_token": foreign_token},
                    files={"file": ("x.zip", sample_zip(), "application/zip")})
    assert r.status_code == 403
    assert send_status(site.engine, send) == ("scheduled", "")
    assert _audit_actions(site.engine) == []


def test_schedule_then_approve_by_someone_else_shows_on_the_dashboard(site: Site) -> None:
    part = part_ids(site.engine)[0]
    editor, approver = site.client("editor"), site.client("approver")
    at = (datetime.now(UTC) + timedelta(days=3)).astimezone().strftime("%Y-%m-%dT%H:%M")
    r = post_form(editor, f"/admin/parts/{part}", f"/admin/parts/{part}/schedule",
                  {"lists": [LIST], "at": "2031-04-01T09:00"})
    assert r.status_code == 303, r.text[:500]
    location = r.headers["location"]
    assert location.startswith("/admin/sends/") and location.endswith("?notice=scheduled")
    send = int(location.split("/")[3].split("?")[0])
    report = editor.get(location).text
    assert "配信を予約しました" in report and "2031-04-01 09:00" in report
    assert at  # (any future time works; the form's time is read as Asia/Tokyo)

    r = post_form(approver, f"/admin/sends/{send}", f"/admin/sends/{send}/approve",
                  {"back": "/admin"})
    assert r.status_code == 303 and r.headers["location"] == "/admin?notice=approve"
    dashboard = approver.get("/admin?notice=approve").text
    assert "配信を承認しました" in dashboard
    upcoming = dashboard.split("<h2>予約中の配信</h2>")[1].split("<h2>")[0]
    assert f'href="/admin/sends/{send}"' in upcoming
    assert f"承認済み（{email_of('approver')}）" in upcoming
    assert "2031-04-01 09:00" in upcoming
    assert send_status(site.engine, send) == ("scheduled", email_of("approver"))
    assert _audit_actions(site.engine) == [
        (email_of("editor"), "send.schedule"), (email_of("approver"), "send.approve")]


def test_the_creator_cannot_approve_their_own_send(site: Site) -> None:
    part = part_ids(site.engine)[0]
    admin = site.client("admin")
    r = post_form(admin, f"/admin/parts/{part}", f"/admin/parts/{part}/schedule",
                  {"lists": [LIST], "at": "2031-04-01T09:00"})
    send = int(r.headers["location"].split("/")[3].split("?")[0])
    r = post_form(admin, f"/admin/sends/{send}", f"/admin/sends/{send}/approve")
    assert r.status_code == 403
    assert "ほかの人" in r.text
    assert send_status(site.engine, send)[1] == ""


def test_schedule_refuses_bad_input_with_a_reason(site: Site) -> None:
    part = part_ids(site.engine)[0]
    editor = site.client("editor")
    page = f"/admin/parts/{part}"
    at = "2031-04-01T09:00"
    r = post_form(editor, page, f"/admin/parts/{part}/schedule", {"at": at})
    assert r.status_code == 422 and "リストを1つ以上" in r.text
    r = post_form(editor, page, f"/admin/parts/{part}/schedule", {"lists": ["nope"], "at": at})
    assert r.status_code == 422 and "nope" in r.text
    # an empty time no longer means "now": sending now is its own button
    r = post_form(editor, page, f"/admin/parts/{part}/schedule", {"lists": [LIST], "at": ""})
    assert r.status_code == 422 and "日時を入力してください" in r.text
    assert _send_count(site) == 0
    r = post_form(editor, page, f"/admin/parts/{part}/schedule",
                  {"lists": [LIST], "at": "next tuesday"})
    assert r.status_code == 422 and "日時" in r.text


def _send_count(site: Site) -> int:
    with site.engine.connect() as conn:
        return len(conn.execute(select(Send.id)).all())  # type: ignore[call-overload]


def test_pause_resume_cancel_and_resend_failed_from_the_report(site: Site) -> None:
    part = part_ids(site.engine)[0]
    editor = site.client("editor")
    send = schedule(site.engine, part_id=part, lists=[LIST])
    start(site.engine, send)
    set_outcome(site.engine, send, "bob@city-b.example.jp", DeliveryStatus.FAILED, "550 5.1.1")
    finish(site.engine, send)
    page = f"/admin/sends/{send}"
    assert "失敗分を再送" in editor.get(page).text
    r = post_form(editor, page, f"{page}/resend-failed", {"back": page})
    assert r.status_code == 303
    assert send_status(site.engine, send)[0] == "running"
    for action, status in (("pause", "paused"), ("resume", "running"),
                           ("cancel", "cancelled")):
        r = post_form(editor, page, f"{page}/{action}", {"back": page, "confirm": "yes"})
        assert r.status_code == 303, (action, r.text[:300])
        assert send_status(site.engine, send)[0] == status
    r = post_form(editor, page, f"{page}/resume", {"back": page})
    assert r.status_code == 409 and "再開できるのは一時停止中の配信だけです" in r.text


def test_back_cannot_redirect_elsewhere(site: Site) -> None:
    part = part_ids(site.engine)[0]
    editor = site.client("editor")
    send = schedule(site.engine, part_id=part, lists=[LIST])
    r = post_form(editor, f"/admin/sends/{send}", f"/admin/sends/{send}/pause",
                  {"back": "//evil.example/admin"})
    assert r.status_code == 303
    assert r.headers["location"] == f"/admin/sends/{send}?notice=pause"


def test_cancel_asks_first_and_only_the_confirming_post_cancels(site: Site) -> None:
    part = part_ids(site.engine)[0]
    editor = site.client("editor")
    send = schedule(site.engine, part_id=part, lists=[LIST])
    page = f"/admin/sends/{send}"
    r = post_form(editor, page, f"{page}/cancel", {"back": page})
    assert r.status_code == 200 and "取り消した配信は再開できません" in r.text
    assert 'name="confirm" value="yes"' in r.text
    assert send_status(site.engine, send)[0] == "scheduled"
    r = editor.post(f"{page}/cancel", data={"csrf_token": hidden(r.text), "back": page,
                                            "confirm": "yes"})
    assert r.status_code == 303 and send_status(site.engine, send)[0] == "cancelled"


def test_buttons_nobody_could_use_are_not_shown(site: Site) -> None:
    part = part_ids(site.engine)[0]
    admin = site.client("admin")  # editor and approver in one person
    r = post_form(admin, f"/admin/parts/{part}", f"/admin/parts/{part}/schedule",
                  {"lists": [LIST], "at": "2031-04-01T09:00"})
    own = int(r.headers["location"].split("/")[3].split("?")[0])
    others = schedule(site.engine, part_id=part_ids(site.engine)[1], lists=[LIST])
    assert "承認する" not in admin.get(f"/admin/sends/{own}").text
    assert f"配信 {own} を承認する" not in admin.get("/admin").text
    assert f"配信 {others} を承認する" in admin.get("/admin").text

    # resend-failed only with failures; no ETA while paused
    start(site.engine, others)
    page = f"/admin/sends/{others}"
    assert "失敗分を再送" not in admin.get(page).text
    set_outcome(site.engine, others, "bob@city-b.example.jp", DeliveryStatus.FAILED, "550")
    assert "失敗分を再送" in admin.get(page).text
    assert "残り時間の目安" in admin.get(page).text
    pause_send(actor=SYSTEM, engine=site.engine, send_id=others)
    paused = admin.get(page).text
    assert "残り時間の目安" not in paused and "一時停止中" in paused


def test_the_form_starts_at_the_parts_schedule_and_warns_of_an_overlap(site: Site) -> None:
    part = part_ids(site.engine)[0]
    editor = site.client("editor")
    page = editor.get(f"/admin/parts/{part}").text
    assert 'name="at" value="2026-12-01T09:00" required' in page  # part1.md: 2026-12-01 09:00
    first = schedule(site.engine, part_id=part, lists=[LIST])
    start(site.engine, first)
    set_outcome(site.engine, first, "alice@city-a.example.jp", DeliveryStatus.SENT)
    set_outcome(site.engine, first, "bob@city-b.example.jp", DeliveryStatus.FAILED, "550")
    set_outcome(site.engine, first, "carol@city-c.example.jp", DeliveryStatus.FAILED, "550")
    r = post_form(editor, f"/admin/parts/{part}", f"/admin/parts/{part}/schedule",
                  {"lists": [LIST], "at": "2031-04-01T09:00"})
    assert r.status_code == 200 and "受け取る予定の人が 1 名います" in r.text
    assert 'value="skip" required checked' in r.text
    assert _send_count(site) == 1
    r = editor.post(f"/admin/parts/{part}/schedule", data={
        "csrf_token": hidden(r.text), "lists": LIST, "at": "2031-04-01T09:00",
        "overlap": "skip"})
    assert r.status_code == 303 and r.headers["location"].endswith("notice=scheduled-skipped")
    assert _send_count(site) == 2


def test_send_now_says_it_started_or_waits_for_approval_not_that_it_was_scheduled(
        site: Site) -> None:
    """「今すぐ送る」 leads to the send's page with a notice that it started (or,
    with four eyes, that it starts once approved), never 「配信を予約しました」."""
    part = part_ids(site.engine)[0]
    editor = site.client("editor")
    r = post_form(editor, f"/admin/parts/{part}", f"/admin/parts/{part}/send-now",
                  {"lists": [LIST], "confirm": "yes", "overlap": "skip"})
    assert r.status_code == 303, r.text[:500]
    code, text = (("now-approval", "承認されると、すぐに送信を始めます")
                  if site.settings.require_approval else ("started", "送信を始めました"))
    assert r.headers["location"].endswith(f"?notice={code}")
    report = editor.get(r.headers["location"]).text
    assert text in report and "配信を予約しました" not in report


def test_a_past_time_is_refused_before_the_overlap_question(site: Site) -> None:
    """Some readers already have the part and the time is in the past: the
    form says the time is wrong at once, rather than first asking whether to
    mail those readers again and refusing only after the answer."""
    part = part_ids(site.engine)[0]
    editor = site.client("editor")
    first = schedule(site.engine, part_id=part, lists=[LIST])
    start(site.engine, first)
    set_outcome(site.engine, first, "alice@city-a.example.jp", DeliveryStatus.SENT)
    r = post_form(editor, f"/admin/parts/{part}", f"/admin/parts/{part}/schedule",
                  {"lists": [LIST], "at": "2020-01-01T09:00"})
    assert r.status_code == 422, r.text[:500]
    # the part's form again, the time as entered and the reason beside it
    assert 'id="schedule-error" role="alert">過去の日時には予約できません' in r.text
    assert 'value="2020-01-01T09:00"' in r.text and 'aria-invalid="true"' in r.text
    assert "受け取る予定の人" not in r.text and 'name="overlap"' not in r.text
    assert _send_count(site) == 1
