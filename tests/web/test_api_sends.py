"""REST API behaviour: schedule → approve → progress, keyset pages of
deliveries and subscribers, the error shape (with the field), the OpenAPI
document, previews."""

from __future__ import annotations

from test_admin_helpers import Site, email_of, part_ids, schedule, set_outcome, site, start
from web_support import LIST

from mailer.db import session_scope
from mailer.models import DeliveryStatus
from mailer.services.subscribers import upsert_subscribers

__all__ = ["site"]


def test_schedule_approve_and_progress(site: Site) -> None:
    part = part_ids(site.engine)[0]
    editor, approver = site.api("editor"), site.api("approver")
    r = editor.post("/api/v1/sends", json={"part_id": part, "lists": [LIST],
                                           "at": "2031-04-01T09:00"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["scheduled_at"].startswith("2031-04-01T00:00")  # 09:00 Tokyo in UTC
    assert body["status"] == "scheduled" and body["created_by"] == "token:editor-token"
    send = body["id"]
    assert editor.post(f"/api/v1/sends/{send}/approve").status_code == 403
    r = approver.post(f"/api/v1/sends/{send}/approve")
    assert r.status_code == 200 and r.json()["status"] == "scheduled"
    assert r.json()["outcome"] == "token:approver-token が承認しました"
    got = editor.get(f"/api/v1/sends/{send}").json()
    assert got["approved_by"] == "token:approver-token"
    assert got["counts"]["pending"] == 0 and got["lists"] == [LIST]
    r = approver.post(f"/api/v1/sends/{send}/approve")  # already approved: allowed again
    assert r.status_code == 200
    listed = editor.get("/api/v1/sends?status=scheduled").json()
    assert [s["id"] for s in listed["items"]] == [send]
    cancel = editor.post(f"/api/v1/sends/{send}/cancel").json()
    assert cancel["status"] == "cancelled" and cancel["outcome"] == "取り消し"
    r = editor.post(f"/api/v1/sends/{send}/resume")
    assert r.status_code == 409 and r.json()["field"] is None


def test_error_shape_names_the_field(site: Site) -> None:
    editor = site.api("editor")
    part = part_ids(site.engine)[0]
    cases = [
        ({"part_id": part, "lists": []}, "lists"),
        ({"part_id": part, "lists": ["nope"]}, "lists"),
        ({"part_id": part, "lists": [LIST], "at": "soon"}, "at"),
        ({"part_id": "x", "lists": [LIST]}, "part_id"),
        ({"lists": [LIST]}, "part_id"),
        ({"part_id": part, "lists": [LIST], "extra": 1}, "extra"),
        ({"part_id": part, "lists": [LIST], "at": "0001-01-01T00:00:00"}, "at"),
    ]
    for body, field in cases:
        r = editor.post("/api/v1/sends", json=body)
        assert r.status_code == 422, (body, r.status_code, r.text)
        got = r.json()
        assert set(got) == {"detail", "field"} and got["field"] == field, (body, got)
        assert got["detail"]
    r = editor.get("/api/v1/subscribers?limit=0")
    assert r.status_code == 422 and r.json()["field"] == "limit"
    r = editor.get("/api/v1/parts/99999999999999")
    assert r.status_code == 422 and r.json()["field"] == "part_id"
    r = editor.get("/api/v1/parts/999999")
    assert r.status_code == 404 and r.json() == {"detail": "配信回 999999 はありません。",
                                                 "field": None}
    r = editor.post("/api/v1/sends", json={"part_id": 999999, "lists": [LIST]})
    assert r.status_code == 404 and r.json()["field"] is None
    r = editor.get("/api/v1/nothing-here")  # Starlette's own 404, in Japanese too
    assert r.status_code == 404 and r.json() == {"detail": "ページが見つかりません。",
                                                 "field": None}
    r = editor.post("/api/v1/sends", content=b"{not json",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and set(r.json()) == {"detail", "field"}


def test_deliveries_and_subscribers_page_by_key(site: Site) -> None:
    rows = [{"email": f"p{i:03d}@city.example.jp", "name": f"職員{i}"} for i in range(45)]
    with session_scope(site.engine) as session:
        upsert_subscribers(session=session, list_name=LIST, rows=rows)
    send = schedule(site.engine, part_id=part_ids(site.engine)[0], lists=[LIST])
    n = start(site.engine, send)
    assert n == 48
    set_outcome(site.engine, send, "p007@city.example.jp", DeliveryStatus.FAILED, "550 no")
    api = site.api("viewer")

    def walk(path: str, limit: int) -> list[int]:
        ids: list[int] = []
        after = None
        while True:
            sep = "&" if "?" in path else "?"
            url = f"{path}{sep}limit={limit}" + (f"&after={after}" if after else "")
            page = api.get(url).json()
            ids += [item["id"] for item in page["items"]]
            assert len(page["items"]) <= limit
            after = page["next_after"]
            if after is None:
                return ids

    deliveries = walk(f"/api/v1/sends/{send}/deliveries", 10)
    assert len(deliveries) == 48 and deliveries == sorted(set(deliveries))
    assert walk(f"/api/v1/sends/{send}/deliveries", 48) == deliveries
    assert walk(f"/api/v1/sends/{send}/deliveries", 200) == deliveries
    failed = api.get(f"/api/v1/sends/{send}/deliveries?status=failed").json()["items"]
    assert [d["email"] for d in failed] == ["p007@city.example.jp"]
    assert failed[0]["last_error"] == "550 no"
    subs = walk("/api/v1/subscribers", 7)
    assert len(subs) == 48 and subs == sorted(set(subs))
    found = api.get("/api/v1/subscribers?q=p04").json()["items"]
    assert sorted(s["email"] for s in found) == [f"p04{i}@city.example.jp" for i in range(5)]
    detail = api.get(f"/api/v1/subscribers/{site.seeded.bob}").json()
    assert detail["lists"] == ["cio-forum", "cio-forum-seminar"]
    lists = {item["name"]: item for item in api.get("/api/v1/lists").json()}
    assert lists[LIST]["active"] == 48


def test_part_preflight_and_previews(site: Site) -> None:
    part = part_ids(site.engine)[0]
    api = site.api("viewer")
    pf = api.get(f"/api/v1/parts/{part}/preflight").json()
    assert pf["errors"] == 0 and pf["warnings"] >= 1
    assert any(f["code"] == "iso2022jp_char" for f in pf["findings"])
    html = api.get(f"/api/v1/parts/{part}/preview?format=html")
    assert html.headers["content-type"].startswith("text/html")
    assert html.headers["content-security-policy"].startswith("sandbox;")
    assert "script-src" not in html.headers["content-security-policy"]
    eml = api.get(f"/api/v1/parts/{part}/preview?format=eml")
    assert eml.headers["content-type"] == "message/rfc822" and b"MIME-Version" in eml.content
    text = api.get(f"/api/v1/parts/{part}/preview?format=sanitized")
    assert text.headers["content-type"].startswith("text/plain")
    r = api.get(f"/api/v1/parts/{part}/preview?format=pdf")
    assert r.status_code == 422 and r.json()["field"] == "format"


def test_openapi_document(site: Site) -> None:
    r = site.api(None).get("/api/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    for path in ("/api/v1/issues", "/api/v1/sends/{send_id}/approve",
                 "/api/v1/sends/{send_id}/deliveries", "/api/v1/subscribers"):
        assert path in doc["paths"], path
    post = doc["paths"]["/api/v1/sends"]["post"]
    assert "SendRequest" in str(post["requestBody"])
    assert "ApiError" in str(post["responses"]["422"])
    assert email_of("editor")  # (personas are made by the fixture)


def test_schedule_says_what_it_does_with_an_overlap(site: Site) -> None:
    part = part_ids(site.engine)[0]
    editor = site.api("editor")
    first = editor.post("/api/v1/sends", json={"part_id": part, "lists": [LIST]}).json()
    assert (first["overlap"], first["overlapping"], first["skipped"]) == ("skip", 0, 0)
    r = editor.post("/api/v1/sends", json={"part_id": part, "lists": [LIST], "overlap": "twice"})
    assert r.status_code == 422 and r.json()["field"] == "overlap"
    r = editor.post("/api/v1/sends", json={"part_id": part, "lists": [LIST]})
    assert r.status_code == 409 and r.json()["field"] == "overlap"
    again = editor.post("/api/v1/sends", json={"part_id": part, "lists": [LIST],
                                               "overlap": "again"}).json()
    assert (again["overlap"], again["overlapping"], again["skipped"]) == ("again", 3, 0)
    assert editor.get(f"/api/v1/sends/{again['id']}").json()["overlap"] == "again"
