"""Smaller hardening of security #15.8: HSTS with an https base URL, no caching
of API answers (people's data), bidirectional control characters refused in
names. (Trusted proxies: tests/ops/test_trusted_proxies.py; symbolic links out
of an issue folder: tests/compose/test_links_out_of_folder.py.)"""

from __future__ import annotations

import httpx
from sqlalchemy import Engine
from test_admin_helpers import Site, site
from web_support import make_settings, serve

__all__ = ["site"]


def test_https_base_url_asks_browsers_for_https_only(site: Site) -> None:
    response = site.client().get("/readyz")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


def test_an_http_base_url_sends_no_hsts(database_url: str, engine: Engine) -> None:
    with serve(make_settings(database_url, base_url="http://127.0.0.1:8000")) as url:
        response = httpx.get(f"{url}/readyz")
    assert response.status_code == 200
    assert "strict-transport-security" not in response.headers


def test_api_answers_are_never_cached(site: Site) -> None:
    api = site.api("admin")
    for path in ("/api/v1/subscribers", "/api/v1/sends", "/api/v1/suppressions", "/api/v1/lists"):
        response = api.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path


def test_a_name_with_a_bidi_control_is_refused(site: Site) -> None:
    api = site.api("list_admin")
    response = api.post("/api/v1/subscribers",
                        json={"email": "bidi@city-x.example.jp", "name": "山田\u202emoc"})
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "name"
    assert "文字の向きを変える制御文字（U+202E）" in body["detail"]
