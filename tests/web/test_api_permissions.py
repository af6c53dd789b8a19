"""REST API: every endpoint × every role, by bearer token; refusals are JSON
`{"detail", "field": null}`; no token is a 401."""

from __future__ import annotations

import httpx
import pytest
from test_admin_helpers import PERSONAS, Site, part_ids, sample_zip, schedule, site, start
from web_support import LIST

from mailer.services.actors import SYSTEM
from mailer.services.sends import pause_send

__all__ = ["site"]

EVERYONE = set(PERSONAS)
COMPOSE = {"editor", "admin"}


def _calls(site: Site) -> list[tuple[str, str, set[str], dict[str, object]]]:
    """(method, path, allowed personas, request kwargs); each call gets a fresh send."""
    part = part_ids(site.engine)[0]

    def send(state: str = "scheduled") -> int:
        s = schedule(site.engine, part_id=part, lists=[LIST], by="someone")
        if state == "paused":
            pause_send(actor=SYSTEM, engine=site.engine, send_id=s)
        if state == "running":
            start(site.engine, s)
        return s

    s = send("running")
    return [
        ("GET", "/api/v1/issues", EVERYONE, {}),
        ("POST", "/api/v1/issues", COMPOSE,
         {"files": {"file": ("vol04.zip", sample_zip(), "application/zip")}}),
        ("GET", f"/api/v1/parts/{part}", EVERYONE, {}),
        ("GET", f"/api/v1/parts/{part}/preflight", EVERYONE, {}),
        ("GET", f"/api/v1/parts/{part}/preview?format=text", EVERYONE, {}),
        ("POST", f"/api/v1/parts/{part}/test-send", COMPOSE, {}),
        ("GET", "/api/v1/sends", EVERYONE, {}),
        ("POST", "/api/v1/sends", COMPOSE, {"json": {"part_id": part, "lists": [LIST],
                                                      "overlap": "again"}}),
        ("GET", f"/api/v1/sends/{s}", EVERYONE, {}),
        ("GET", f"/api/v1/sends/{s}/deliveries", EVERYONE, {}),
        ("POST", f"/api/v1/sends/{send()}/approve", {"approver", "admin"}, {}),
        ("POST", f"/api/v1/sends/{send()}/pause", COMPOSE, {}),
        ("POST", f"/api/v1/sends/{send('paused')}/resume", COMPOSE, {}),
        ("POST", f"/api/v1/sends/{send()}/cancel", COMPOSE, {}),
        ("POST", f"/api/v1/sends/{send('running')}/resend-failed", COMPOSE, {}),
        ("GET", "/api/v1/subscribers", EVERYONE, {}),
        ("GET", f"/api/v1/subscribers/{site.seeded.alice}", EVERYONE, {}),
        ("GET", "/api/v1/lists", EVERYONE, {}),
        ("GET", "/api/v1/suppressions", EVERYONE, {}),
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_reaches_only_its_endpoints(site: Site, persona: str) -> None:
    api = site.api(persona)
    for method, path, allowed, kwargs in _calls(site):
        r = api.request(method, path, **kwargs)  # type: ignore[arg-type]
        if persona in allowed:
            if path.endswith("/test-send"):
                assert r.status_code == 409 and "MAILER_SMTP_URL" in r.json()["detail"]
                continue
            assert r.status_code in (200, 201), (persona, method, path, r.status_code, r.text)
        else:
            assert r.status_code == 403, (persona, method, path, r.status_code)
            assert r.json() == {"detail": r.json()["detail"], "field": None}


def test_no_or_bad_token_is_401_json(site: Site) -> None:
    anonymous = site.api(None)
    bad = httpx.Client(base_url=site.url, headers={"Authorization": "Bearer nope"})
    try:
        for method, path, _allowed, kwargs in _calls(site):
            for client in (anonymous, bad):
                r = client.request(method, path, **kwargs)  # type: ignore[arg-type]
                assert r.status_code == 401, (method, path, r.status_code)
                body = r.json()
                assert set(body) == {"detail", "field"} and body["field"] is None
    finally:
        bad.close()


def test_a_session_cookie_needs_the_csrf_header_for_api_writes(site: Site) -> None:
    editor = site.client("editor")
    part = part_ids(site.engine)[0]
    r = editor.post("/api/v1/sends", json={"part_id": part, "lists": [LIST]})
    assert r.status_code == 403
    assert editor.get("/api/v1/sends").status_code == 200
