"""The same action gives the same answer through the CLI, the admin and the API.

Each use case runs against all three doors: the admin pages (a signed-in
session), the REST API (a bearer token) and the `mailer` command line (run
in-process against the same database, naming the person with `--as`). The
rules live once in `mailer/services/`; these tests fail when a door grows a
rule of its own or skips one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select, update
from sqlmodel import Session
from test_admin_helpers import Site, email_of, part_ids, post_form, site, start
from typer.testing import CliRunner
from web_support import LIST

from mailer.cli import app
from mailer.db import session_scope
from mailer.models import Delivery, MailingList, Part, Send, User
from mailer.services.subscribers import upsert_subscribers
from mailer.services.suppression import add_suppression

__all__ = ["site"]

DOORS = ["admin", "api", "cli"]
FUTURE = "2031-04-01T09:00"  # Asia/Tokyo
PAST = "2020-04-01T09:00"
runner = CliRunner()


@dataclass(frozen=True)
class Answer:
    ok: bool
    status: int  # the HTTP status (the CLI's: 0 when ok, else the kind's status by its text)
    text: str
    send_id: int | None = None


@pytest.fixture
def cli_env(site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the in-process CLI at the site's database, as a user's environment would."""
    import os

    for key in list(os.environ):
        if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MAILER_DATABASE_URL", site.settings.effective_database_url)
    monkeypatch.setenv("MAILER_SECRET_KEY", site.settings.secret_key)
    monkeypatch.setenv("MAILER_BASE_URL", site.settings.base_url)
    yield


def _cli(*args: str) -> Answer:
    result = runner.invoke(app, list(args))
    return Answer(ok=result.exit_code == 0, status=0 if result.exit_code == 0 else 1,
                  text=result.output)


def schedule_via(door: str, site: Site, persona: str, part: int, at: str,
                 overlap: str | None = None) -> Answer:
    """Schedule through a door; `overlap` None leaves the choice to the door's default
    (the admin then asks when there is an overlap)."""
    if door == "admin":
        form: dict[str, object] = {"lists": [LIST], "at": at}
        if overlap:
            form["overlap"] = overlap
        r = post_form(site.client(persona), f"/admin/parts/{part}",
                      f"/admin/parts/{part}/schedule", form)
        if r.status_code == 303:
            location = r.headers["location"]
            return Answer(True, 201, location, int(location.split("/")[3].split("?")[0]))
        return Answer(False, r.status_code, r.text)
    if door == "api":
        body: dict[str, object] = {"part_id": part, "lists": [LIST], "at": at}
        if overlap:
            body["overlap"] = overlap
        r = site.api(persona).post("/api/v1/sends", json=body)
        ok = r.status_code == 201
        return Answer(ok, r.status_code, r.text, r.json()["id"] if ok else None)
    extra = ["--overlap", overlap] if overlap else []
    answer = _cli("schedule", str(part), "--list", LIST, "--at", at, "--as", email_of(persona),
                  *extra)
    if answer.ok:
        send_id = int(answer.text.split()[1].rstrip(":"))
        return Answer(True, 201, answer.text, send_id)
    return answer


def approve_via(door: str, site: Site, persona: str, send_id: int) -> Answer:
    if door == "admin":
        r = post_form(site.client(persona), f"/admin/sends/{send_id}",
                      f"/admin/sends/{send_id}/approve")
        return Answer(r.status_code == 303, r.status_code, r.text)
    if door == "api":
        r = site.api(persona).post(f"/api/v1/sends/{send_id}/approve")
        return Answer(r.status_code == 200, r.status_code, r.text)
    return _cli("approve", str(send_id), "--as", email_of(persona))


def _sends(site: Site) -> int:
    with site.engine.connect() as conn:
        return len(conn.execute(select(Send.id)).all())  # type: ignore[call-overload]


def _break_subject(site: Site, part: int) -> None:
    """Give the part an empty subject: a preflight error."""
    with site.engine.begin() as conn:
        doc = json.loads(conn.execute(select(Part.document).where(Part.id == part)).scalar_one())  # type: ignore[call-overload, arg-type]
        doc["subject"] = ""
        conn.execute(update(Part).where(Part.id == part)  # type: ignore[arg-type]
                     .values(document=json.dumps(doc, ensure_ascii=False)))


@pytest.mark.parametrize("door", DOORS)
def test_schedule_with_a_preflight_error_is_refused(site: Site, cli_env: None,
                                                     door: str) -> None:
    part = part_ids(site.engine)[0]
    _break_subject(site, part)
    answer = schedule_via(door, site, "editor", part, FUTURE)
    assert not answer.ok
    assert answer.status in (409, 1), answer
    assert "事前チェックのエラーを直してから予約してください" in answer.text
    assert "件名が空です" in answer.text
    assert _sends(site) == 0


@pytest.mark.parametrize("door", DOORS)
def test_schedule_in_the_past_is_refused(site: Site, cli_env: None, door: str) -> None:
    part = part_ids(site.engine)[0]
    answer = schedule_via(door, site, "editor", part, PAST)
    assert not answer.ok and answer.status in (422, 1), answer
    assert "過去の日時には予約できません" in answer.text
    assert _sends(site) == 0


@pytest.mark.parametrize("door", DOORS)
def test_schedule_without_approval_waits_unapproved_as_its_creator(
        site: Site, cli_env: None, door: str) -> None:
    part = part_ids(site.engine)[0]
    answer = schedule_via(door, site, "editor", part, FUTURE)
    assert answer.ok, answer
    with Session(site.engine) as session:
        send = session.get(Send, answer.send_id)
        editor = session.execute(select(User).where(User.email == email_of("editor"))  # type: ignore[arg-type]
                                 ).scalar_one()
        assert send is not None and send.status == "scheduled" and send.approved_by == ""
        # the creator is the editor as a person, whichever door they used
        assert send.created_by_user_id == editor.id


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("created_through", ["admin", "api"])
def test_approving_your_own_send_is_refused_through_every_door(
        site: Site, cli_env: None, door: str, created_through: str) -> None:
    """The admin persona holds editor and approver: it may approve others'
    sends, never its own, whether it signed in, used its token or the CLI."""
    part = part_ids(site.engine)[0]
    created = schedule_via(created_through, site, "admin", part, FUTURE)
    assert created.ok and created.send_id is not None, created
    answer = approve_via(door, site, "admin", created.send_id)
    assert not answer.ok and answer.status in (403, 1), answer
    assert "承認はほかの人が行ってください" in answer.text
    assert approve_via(door, site, "approver", created.send_id).ok


@pytest.mark.parametrize("door", DOORS)
def test_a_suppressed_address_in_another_case_is_not_mailed(
        site: Site, cli_env: None, door: str) -> None:
    with site.engine.begin() as conn:
        add_suppression(conn, email="BOB@City-B.Example.JP", reason="5.1.1", source="admin")
    part = part_ids(site.engine)[0]
    answer = schedule_via(door, site, "editor", part, FUTURE)
    assert answer.ok and answer.send_id is not None, answer
    start(site.engine, answer.send_id)
    with site.engine.connect() as conn:
        emails = set(conn.execute(select(Delivery.email).where(  # type: ignore[call-overload]
            Delivery.send_id == answer.send_id)).scalars())  # type: ignore[arg-type]
    assert emails and "bob@city-b.example.jp" not in {e.lower() for e in emails}


def _frozen(site: Site, send_id: int) -> set[str]:
    start(site.engine, send_id)
    with site.engine.connect() as conn:
        return set(conn.execute(select(Delivery.email).where(  # type: ignore[call-overload]
            Delivery.send_id == send_id)).scalars())  # type: ignore[arg-type]


def _skipped_in(door: str, answer: Answer) -> str:
    """What the door said about the overlap, in its own words."""
    if door == "admin":
        return "skipped" if answer.text.endswith("notice=scheduled-skipped") else "none"
    if door == "api":
        return str(json.loads(answer.text)["skipped"])
    return answer.text


@pytest.mark.parametrize("door", DOORS)
def test_an_overlap_is_skipped_refused_or_sent_again_alike_through_every_door(
        site: Site, cli_env: None, door: str) -> None:
    part = part_ids(site.engine)[0]
    first = schedule_via(door, site, "editor", part, FUTURE)
    assert first.ok and first.send_id is not None, first
    everyone = _frozen(site, first.send_id)
    assert len(everyone) == 3

    # everyone has it: skipping them would mail nobody, so it is refused
    refused = schedule_via(door, site, "editor", part, FUTURE, overlap="skip")
    assert not refused.ok and refused.status in (409, 1), refused
    assert "3 名は全員" in refused.text and "もう一度送る" in refused.text
    assert _sends(site) == 1

    # a newcomer: skip (the default) mails only them, and says so
    with session_scope(site.engine) as session:
        upsert_subscribers(session=session, list_name=LIST,
                           rows=[{"email": "dave@city-d.example.jp", "name": "土井 大"}])
    skipped = schedule_via(door, site, "editor", part, FUTURE, overlap="skip")
    assert skipped.ok and skipped.send_id is not None, skipped
    said = _skipped_in(door, skipped)
    assert said in ("skipped", "3") or "除外: 3 名" in said, said
    assert _frozen(site, skipped.send_id) == {"dave@city-d.example.jp"}

    # again: everyone, once more
    again = schedule_via(door, site, "editor", part, FUTURE, overlap="again")
    assert again.ok and again.send_id is not None, again
    assert _frozen(site, again.send_id) == everyone | {"dave@city-d.example.jp"}


def _send_to_empty_list(door: str, site: Site, part: int, at: str | None) -> list[Answer]:
    """Send now (`at` None) or schedule to a list nobody is on, through a
    door; the admin's send-now is tried at both steps (ask, confirm)."""
    with Session(site.engine) as session:
        session.add(MailingList(name="empty-list", title="空のリスト"))
        session.commit()
    if door == "admin":
        client = site.client("editor")
        if at is None:
            return [Answer(r.status_code == 200, r.status_code, r.text) for r in (
                post_form(client, f"/admin/parts/{part}", f"/admin/parts/{part}/send-now",
                          {"lists": ["empty-list"], **extra})
                for extra in ({}, {"confirm": "yes", "overlap": "skip"}))]
        r = post_form(client, f"/admin/parts/{part}", f"/admin/parts/{part}/schedule",
                      {"lists": ["empty-list"], "at": at})
        return [Answer(r.status_code == 303, r.status_code, r.text)]
    if door == "api":
        body: dict[str, object] = {"part_id": part, "lists": ["empty-list"]}
        if at is not None:
            body["at"] = at
        r = site.api("editor").post("/api/v1/sends", json=body)
        return [Answer(r.status_code == 201, r.status_code, r.text)]
    return [_cli("send", str(part), "--list", "empty-list", "--as", email_of("editor"),
                 *(["--at", at] if at else []))]


@pytest.mark.parametrize("at", [None, FUTURE], ids=["now", "scheduled"])
@pytest.mark.parametrize("door", DOORS)
def test_a_send_to_lists_with_no_recipients_is_refused(
        site: Site, cli_env: None, door: str, at: str | None) -> None:
    """Sending now (or scheduling) to lists that reach nobody would end as
    完了 0/0: every door refuses it with the same Japanese reason, the
    admin before its confirmation page."""
    part = part_ids(site.engine)[0]
    for answer in _send_to_empty_list(door, site, part, at):
        assert not answer.ok and answer.status in (422, 1), answer
        assert "配信できる読者がいません" in answer.text and "空のリスト" in answer.text
    assert _sends(site) == 0
