"""Changing subscribers from the admin and the API: create, edit, import
(dry run, then confirm), export; roles, CSRF, events, audit, escaping."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from admin_support import hidden
from sqlalchemy import Engine, func, select
from test_admin_helpers import Site, site
from web_support import LIST, OTHER_LIST, SECRET, make_settings, subscriber_state

from mailer.models import AuditLog, Subscriber, SubscriberEvent
from mailer.settings import Settings

__all__ = ["site"]

SUB = Subscriber.__table__  # type: ignore[attr-defined]
EVT = SubscriberEvent.__table__  # type: ignore[attr-defined]
AUD = AuditLog.__table__  # type: ignore[attr-defined]
XSS = "<script>alert(1)</script>"

CSV = (
    "メールアドレス,氏名,団体名,団体区分,役職\r\n"
    "new1@city-d.example.jp,新井 一郎,調布市,市,CIO\r\n"
    "bad-address,誤り 太郎,調布市,市,\r\n"
    "alice@city-a.example.jp,青木 花子,武蔵野市,市,デジタル推進課長\r\n"
    "new2@town-e.example.jp,=1+2,瑞穂町,町,\r\n"
    "NEW1@city-d.example.jp,重複,調布市,市,\r\n"
    "new3@village.example.jp,村田 三郎,檜原村,県,\r\n"
).encode("cp932")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # staged imports go under MAILER_VAR_DIR: keep them in the test's folder
    return make_settings(database_url, secret_key=SECRET, var_dir=tmp_path / "var")


def _count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _snapshot(engine: Engine) -> tuple[int, int, int]:
    return _count(engine, SUB), _count(engine, EVT), _count(engine, AUD.select().where(
        AUD.c.action.like("subscriber.%")).subquery())


def _subscriber(engine: Engine, email: str):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(SUB).where(SUB.c.email == email)).one_or_none()


def _audit(engine: Engine, action: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(AUD.c.detail).where(AUD.c.action == action)
                                 .order_by(AUD.c.id)).scalars())


def _token(client: httpx.Client) -> str:
    return hidden(client.get("/admin").text)


def _create(client: httpx.Client, **fields: object) -> httpx.Response:
    data = {"email": "", "name": "", "honorific": "様", "organisation": "",
            "organisation_kind": "", "job_title": "", "roles": "", "format": "html",
            "charset": "utf-8", **fields}
    return client.post("/admin/subscribers/new", data={"csrf_token": _token(client), **data})


def _upload(client: httpx.Client, data: bytes, **form: str) -> httpx.Response:
    return client.post("/admin/subscribers/import", data={"csrf_token": _token(client), **form},
                       files={"file": ("名簿.csv", data, "text/csv")})


# -- roles and CSRF --------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["viewer", "editor", "approver"])
def test_only_list_admins_may_change_subscribers(site: Site, persona: str) -> None:
    client = site.client(persona)
    sid = site.seeded.alice
    for url in ("/admin/subscribers/new", f"/admin/subscribers/{sid}/edit",
                "/admin/subscribers/import", "/admin/subscribers/export.csv"):
        assert client.get(url).status_code == 403, url
    before = _snapshot(site.engine)
    assert _create(client, email="x@city-x.example.jp").status_code == 403
    r = client.post(f"/admin/subscribers/{sid}/edit",
                    data={"csrf_token": _token(client), "email": "a@b.example.jp"})
    assert r.status_code == 403
    assert _upload(client, CSV).status_code == 403
    r = client.post("/admin/subscribers/import/confirm",
                    data={"csrf_token": _token(client), "token": "x" * 43})
    assert r.status_code == 403
    api = site.api(persona)
    assert api.post("/api/v1/subscribers", json={"email": "x@city-x.example.jp"}
                    ).status_code == 403
    assert api.patch(f"/api/v1/subscribers/{sid}", json={"name": "x"}).status_code == 403
    assert api.post("/api/v1/subscribers/import", files={"file": ("a.csv", CSV)}
                    ).status_code == 403
    assert _snapshot(site.engine) == before
    anonymous = site.client()
    r = anonymous.get("/admin/subscribers/new")
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/login")


@pytest.mark.parametrize("persona", ["list_admin", "admin"])
def test_list_admins_and_admins_may(site: Site, persona: str) -> None:
    client = site.client(persona)
    r = _create(client, email=f"{persona}@city-x.example.jp")
    assert r.status_code == 303, r.text[:500]
    assert client.get(f"/admin/subscribers/{site.seeded.alice}/edit").status_code == 200
    assert client.get("/admin/subscribers/import").status_code == 200
    assert client.get("/admin/subscribers/export.csv").status_code == 200
    r = site.api(persona).post("/api/v1/subscribers", json={"email": f"api-{persona}@x.example.jp"})
    assert r.status_code == 201


def test_every_form_needs_the_csrf_token(site: Site) -> None:
    client = site.client("list_admin")
    before = _snapshot(site.engine)
    forged = "forged." + _token(client)[7:]
    for token in (None, forged):
        extra = {} if token is None else {"csrf_token": token}
        assert client.post("/admin/subscribers/new", data={
            "email": "csrf@city-x.example.jp", **extra}).status_code == 403
        assert client.post(f"/admin/subscribers/{site.seeded.alice}/edit", data={
            "email": "alice@city-a.example.jp", "name": "changed", **extra}).status_code == 403
        assert client.post("/admin/subscribers/import", data=extra,
                           files={"file": ("a.csv", CSV)}).status_code == 403
    r = _upload(client, CSV)
    token = hidden(r.text, "token")
    assert client.post("/admin/subscribers/import/confirm",
                       data={"token": token}).status_code == 403
    assert _snapshot(site.engine) == before
    # a cookie-authenticated API call needs the header too
    r = client.post("/api/v1/subscribers", json={"email": "csrf@city-x.example.jp"})
    assert r.status_code == 403 and r.json()["detail"]


# -- create and edit -----------------------------------------------------------------------


def test_create_checks_values_and_records_consent_event_and_audit(site: Site) -> None:
    client = site.client("list_admin")
    before = _snapshot(site.engine)
    for fields, field in (({"email": "cio@minato"}, "email"),
                          ({"email": "田中@city-x.example.jp"}, "email"),
                          ({"email": "alice@CITY-A.example.jp"}, "email"),
                          ({"email": "ok@city-x.example.jp", "organisation_kind": "県"},
                           "organisation_kind"),
                          ({"email": "ok@city-x.example.jp", "name": "a\x07b"}, "name"),
                          ({"email": "ok@city-x.example.jp", "lists": "no-such-list"}, "lists")):
        r = _create(client, **fields)
        assert r.status_code == 422, fields
        assert 'role="alert"' in r.text and f'id="f-{field}"' in r.text
        assert 'aria-invalid="true"' in r.text or field == "lists"
        # the form's label names the field, the service's name for it does not follow
        assert f"</a> — {field}:" not in r.text, r.text
    r = _create(client, email="alice@CITY-A.example.jp")
    assert "メールアドレス</a> — alice@city-a.example.jp は登録済みです" in r.text, r.text
    assert _snapshot(site.engine) == before
    r = _create(client, email="ｔａｎａｋａ@Chofu.Example.JP", name="田中 髙志",
                organisation="調布市", organisation_kind="市", job_title="CIO補佐",
                roles="CIO、CISO", format="text", charset="iso-2022-jp",
                lists=[LIST, OTHER_LIST])
    assert r.status_code == 303
    row = _subscriber(site.engine, "tanaka@chofu.example.jp")
    assert row is not None
    assert r.headers["location"] == f"/admin/subscribers/{row.id}?notice=created"
    assert (row.name, row.roles, row.format, row.charset, row.status) == (
        "田中 髙志", "CIO;CISO", "text", "iso-2022-jp", "active")
    assert row.consent_by == "list-admin@metro.example.jp"
    assert row.consent_source == "admin:list-admin@metro.example.jp"
    state = subscriber_state(site.engine, row.id)
    assert state.lists == {site.seeded.list_id, site.seeded.other_list_id}
    assert [e[0] for e in state.events] == ["created"]
    assert _audit(site.engine, "subscriber.create") == [
        f"tanaka@chofu.example.jp; リスト: {LIST}, {OTHER_LIST}"]


def test_edit_changes_fields_status_and_lists_with_events(site: Site) -> None:
    client = site.client("admin")
    bob = site.seeded.bob
    page = client.get(f"/admin/subscribers/{bob}/edit").text
    assert 'value="bob@city-b.example.jp"' in page and "馬場 太郎" in page
    assert '<label for="f-name">' in page and 'id="f-name"' in page
    data = {"csrf_token": hidden(page), "email": "bob@city-b.example.jp", "name": "馬場 次郎",
            "honorific": "様", "organisation": "三鷹市", "organisation_kind": "市",
            "job_title": "", "roles": "", "format": "html", "charset": "utf-8",
            "status": "active", "lists": [LIST]}
    r = client.post(f"/admin/subscribers/{bob}/edit", data=data)
    assert r.status_code == 303
    assert r.headers["location"] == f"/admin/subscribers/{bob}?notice=saved"
    state = subscriber_state(site.engine, bob)
    assert state.lists == {site.seeded.list_id}
    kinds = [(k, d) for k, _s, d in state.events]
    assert ("unsubscribed", OTHER_LIST) in kinds
    assert ("updated", "name: 馬場 太郎 -> 馬場 次郎; organisation_kind:  -> 市") in kinds
    assert all(s == "admin:admin@metro.example.jp" for _k, s, _d in state.events)
    assert _audit(site.engine, "subscriber.update") == [
        f"name: 馬場 太郎 -> 馬場 次郎; organisation_kind:  -> 市; list: -{OTHER_LIST}"]
    # the same form again changes nothing and writes nothing
    before = _snapshot(site.engine)
    r = client.post(f"/admin/subscribers/{bob}/edit", data=data)
    assert r.status_code == 303 and _snapshot(site.engine) == before
    # status: unsubscribed, then back to active (consent recorded)
    client.post(f"/admin/subscribers/{bob}/edit", data={**data, "status": "unsubscribed"})
    client.post(f"/admin/subscribers/{bob}/edit", data={**data, "status": "unsubscribed",
                                                         "lists": [LIST, OTHER_LIST]})
    state = subscriber_state(site.engine, bob)
    assert state.status == "unsubscribed"
    assert [(k, d) for k, _s, d in state.events][-2:] == [
        ("unsubscribed", "all lists"), ("resubscribed", OTHER_LIST)]
    # an address another subscriber has is refused
    r = client.post(f"/admin/subscribers/{bob}/edit",
                    data={**data, "email": "Alice@city-a.example.jp"})
    assert r.status_code == 422 and "登録済み" in r.text
    assert client.get("/admin/subscribers/999999/edit").status_code == 404


# -- import ----------------------------------------------------------------------------


def test_import_preview_lists_bad_rows_and_writes_nothing_then_confirm_applies(
        site: Site) -> None:
    client = site.client("list_admin")
    before = _snapshot(site.engine)
    r = _upload(client, CSV, list=LIST)
    assert r.status_code == 200
    assert _snapshot(site.engine) == before  # a preview writes nothing
    assert "Shift_JIS (CP932)" in r.text and "まだ何も書き込んでいません" in r.text
    rejected = dict(re.findall(
        r'<tr><td class="num">(\d+)</td><td>([^<]*)</td></tr>',
        r.text.split('id="rejected"')[1].split("</table>")[0]))
    assert set(rejected) == {"3", "6", "7"}
    assert "bad-address" in rejected["3"]
    assert "2 行目と重複しています" in rejected["6"]
    assert "団体区分" in rejected["7"]
    assert "新規 2 件、更新 1 件" in r.text and "除外 3 件" in r.text
    token = hidden(r.text, "token")
    staged = list((site.settings.var_dir / "admin-imports").iterdir())
    assert {p.suffix for p in staged} == {".csv", ".json"}
    # someone else cannot confirm another user's upload
    other = site.client("admin")
    r = other.post("/admin/subscribers/import/confirm",
                   data={"csrf_token": _token(other), "token": token})
    assert r.status_code == 410 and _snapshot(site.engine) == before
    r = client.post("/admin/subscribers/import/confirm",
                    data={"csrf_token": _token(client), "token": token})
    assert r.status_code == 200 and "取り込みました" in r.text
    assert "新規 2 件、更新 1 件" in r.text
    assert _subscriber(site.engine, "new1@city-d.example.jp") is not None
    assert _subscriber(site.engine, "new2@town-e.example.jp").name == "=1+2"
    alice = _subscriber(site.engine, "alice@city-a.example.jp")
    assert alice.job_title == "デジタル推進課長"
    assert len(_audit(site.engine, "subscriber.import")) == 1
    assert not list((site.settings.var_dir / "admin-imports").iterdir())
    # the token is spent
    after = _snapshot(site.engine)
    r = client.post("/admin/subscribers/import/confirm",
                    data={"csrf_token": _token(client), "token": token})
    assert r.status_code == 410 and _snapshot(site.engine) == after
    # the same file again: nothing to write, no confirm button
    r = _upload(client, CSV, list=LIST)
    assert "新規 0 件、更新 0 件" in r.text and 'name="token"' not in r.text
    assert _snapshot(site.engine) == after


def test_unreadable_files_and_bad_tokens(site: Site) -> None:
    client = site.client("list_admin")
    before = _snapshot(site.engine)
    for data in (b"", b"\xff\xfeu\x00", b"name,organisation\r\nx,y\r\n", "テスト".encode(
            "iso-2022-jp")):
        r = _upload(client, data)
        assert r.status_code == 400 and "何も変更していません" in r.text, data
    r = _upload(client, CSV, list="no-such-list")
    assert r.status_code == 422
    for token in ("", "../../etc/passwd", "A" * 43):
        r = client.post("/admin/subscribers/import/confirm",
                        data={"csrf_token": _token(client), "token": token})
        assert r.status_code == 410
    assert _snapshot(site.engine) == before


# -- export and escaping -----------------------------------------------------------------


def test_export_is_excel_ready_and_neutralised(site: Site) -> None:
    client = site.client("list_admin")
    assert _create(client, email="formula@city-x.example.jp", name="=HYPERLINK(\"x\")",
                   organisation="@SUM(1)", lists=[OTHER_LIST]).status_code == 303
    r = client.get("/admin/subscribers/export.csv")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["content-disposition"]
    assert r.headers["cache-control"] == "no-store"
    assert r.content.startswith(b"\xef\xbb\xbf")
    text = r.content[3:].decode("utf-8")
    header = "メールアドレス,氏名,フリガナ,敬称,団体名,団体区分,役職,役割,形式,文字コード,状態"
    assert text.startswith(header + "\r\n")
    line = next(x for x in text.split("\r\n") if x.startswith("formula@"))
    assert line.split(",")[1:2] == ['"\'=HYPERLINK(""x"")"'] and ",'@SUM(1)," in line
    assert len(text.split("\r\n")) == 4 + 2  # header, 4 rows, trailing empty
    only = client.get(f"/admin/subscribers/export.csv?list={site.seeded.other_list_id}")
    emails = [x.split(",")[0] for x in only.content[3:].decode().split("\r\n")[1:] if x]
    assert emails == ["bob@city-b.example.jp", "formula@city-x.example.jp"]
    by_name = client.get(f"/admin/subscribers/export.csv?list={OTHER_LIST}")
    assert by_name.content == only.content
    assert client.get("/admin/subscribers/export.csv?list=nope").status_code == 404
    assert _audit(site.engine, "subscriber.export") == ["4 行", "2 行", "2 行"]


def test_stored_script_in_a_name_is_escaped_everywhere(site: Site) -> None:
    client = site.client("admin")
    r = site.api("list_admin").post("/api/v1/subscribers", json={
        "email": "xss@city-x.example.jp", "name": XSS, "organisation": XSS, "lists": [LIST]})
    assert r.status_code == 201 and r.json()["name"] == XSS
    sid = r.json()["id"]
    csv = f"email,name\r\nxss@city-x.example.jp,{XSS}\r\n{XSS},x\r\n".encode()
    urls = ["/admin/subscribers", "/admin/subscribers?q=xss", f"/admin/subscribers/{sid}",
            f"/admin/subscribers/{sid}/edit"]
    pages = {u: client.get(u).text for u in urls}
    pages["import preview"] = _upload(client, csv).text
    pages["refused form"] = _create(client, email="xss@city-x.example.jp", name=XSS).text
    client.post(f"/admin/subscribers/{sid}/edit", data={
        "csrf_token": _token(client), "email": "xss@city-x.example.jp", "name": XSS + "!",
        "lists": [LIST]})
    pages["audit"] = client.get("/admin/audit").text
    for where, html in pages.items():
        assert XSS not in html, where
        assert "&lt;script&gt;" in html, where


# -- the API -----------------------------------------------------------------------------


def test_api_create_update_and_errors(site: Site) -> None:
    api = site.api("list_admin")
    r = api.post("/api/v1/subscribers", json={
        "email": "api@city-x.example.jp", "name": "API 太郎", "organisation_kind": "村",
        "lists": [LIST]})
    assert r.status_code == 201
    body = r.json()
    assert body["lists"] == [LIST] and body["events"][0]["kind"] == "created"
    sid = body["id"]
    for payload, field, status in (
            ({"email": "nope"}, "email", 422), ({"email": "api@city-x.example.jp"}, "email", 422),
            ({"email": "a@b.example.jp", "format": "pdf"}, "format", 422),
            ({"email": "a@b.example.jp", "lists": ["ghost"]}, "lists", 422),
            ({"email": "a@b.example.jp", "colour": "red"}, "colour", 422),
            ({}, "email", 422)):
        r = api.post("/api/v1/subscribers", json=payload)
        assert r.status_code == status and r.json()["field"] == field, (payload, r.json())
        assert set(r.json()) == {"detail", "field"}
    r = api.patch(f"/api/v1/subscribers/{sid}", json={"job_title": "CIO", "lists": [],
                                                      "status": "unsubscribed"})
    assert r.status_code == 200
    assert r.json()["job_title"] == "CIO" and r.json()["lists"] == []
    assert r.json()["status"] == "unsubscribed"
    assert {e["kind"] for e in r.json()["events"]} == {"created", "updated", "unsubscribed"}
    assert r.json()["name"] == "API 太郎"  # absent fields are kept
    r = api.patch(f"/api/v1/subscribers/{sid}", json={"status": "gone"})
    assert r.status_code == 422 and r.json()["field"] == "status"
    r = api.patch("/api/v1/subscribers/999999", json={"name": "x"})
    assert r.status_code == 404 and r.json()["field"] is None


def test_api_import_dry_run_then_real(site: Site) -> None:
    api = site.api("list_admin")
    before = _snapshot(site.engine)
    r = api.post("/api/v1/subscribers/import", data={"list": LIST, "dry_run": "true"},
                 files={"file": ("名簿.csv", CSV, "text/csv")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is True and body["encoding"] == "Shift_JIS (CP932)"
    assert [x["line"] for x in body["rejected"]] == [3, 6, 7]
    assert body["counts"]["created"] == 2 and body["counts"]["updated"] == 1
    assert _snapshot(site.engine) == before
    r = api.post("/api/v1/subscribers/import", data={"list": LIST},
                 files={"file": ("名簿.csv", CSV, "text/csv")})
    assert r.status_code == 200 and r.json()["dry_run"] is False
    assert _count(site.engine, SUB) == before[0] + 2
    r = api.post("/api/v1/subscribers/import", data={"list": LIST},
                 files={"file": ("名簿.csv", CSV, "text/csv")})
    assert r.json()["counts"]["created"] == 0 and r.json()["counts"]["updated"] == 0
    r = api.post("/api/v1/subscribers/import", files={"file": ("x.csv", b"")})
    assert r.status_code == 400 and r.json()["field"] == "file"
    r = api.post("/api/v1/subscribers/import", data={"list": "ghost"},
                 files={"file": ("x.csv", CSV)})
    assert r.status_code == 422 and r.json()["field"] == "list"


def test_admin_and_api_imports_warn_about_iso2022jp_names_per_line(site: Site) -> None:
    data = ("メールアドレス,氏名,文字コード\r\n"
            "kanda@city-k.example.jp,神田 一郎,UTF-8\r\n"
            "takahashi@city-t.example.jp,髙橋 健太,ISO-2022-JP\r\n").encode("cp932")
    warning = ("行 3: takahashi@city-t.example.jp の氏名「髙橋 健太」の「髙」は "
               "ISO-2022-JP で送れません。")
    page = _upload(site.client("list_admin"), data, list=LIST)
    assert page.status_code == 200 and warning in page.text
    r = site.api("list_admin").post("/api/v1/subscribers/import", data={"list": LIST},
                                    files={"file": ("名簿.csv", data, "text/csv")})
    assert r.status_code == 200, r.text
    assert [w for w in r.json()["warnings"] if w.startswith(warning)]
    assert r.json()["counts"]["created"] == 2  # a warning, not a rejection
