"""Under /admin every page is an admin page: 403, 404 and 405 in the admin's
layout (its menu, who is signed in) and in Japanese; a person is offered
only the links they may use; the audit log is in the menu for admins; a
saved form and a logout say so."""

from __future__ import annotations

import pytest
from test_admin_helpers import Site, post_form, site

__all__ = ["site"]

ADMIN_MENU = '<nav class="main" aria-label="管理メニュー">'
PUBLIC_HEADER = '<header class="site">'


@pytest.mark.parametrize(("path", "method", "status", "title"), [
    ("/admin/no-such-page", "GET", 404, "ページが見つかりません"),
    ("/admin/issues/999999/nothing", "GET", 404, "ページが見つかりません"),
    ("/admin/subscribers/export.csv", "DELETE", 405, "この操作はできません"),
    ("/admin/subscribers/new", "GET", 403, "権限がありません"),
    ("/admin/audit", "GET", 403, "権限がありません"),
])
def test_error_pages_under_admin_use_the_admin_layout(
        site: Site, path: str, method: str, status: int, title: str) -> None:
    r = site.client("viewer").request(method, path)
    assert r.status_code == status, (path, r.status_code)
    assert ADMIN_MENU in r.text and PUBLIC_HEADER not in r.text
    assert f"<h1>{title}</h1>" in r.text and 'lang="ja"' in r.text
    assert "viewer@metro.example.jp" in r.text  # who is signed in, as on every admin page


def test_public_pages_keep_the_public_layout(site: Site) -> None:
    r = site.client("viewer").get("/archive/no-such-issue/part1")
    assert r.status_code == 404 and ADMIN_MENU not in r.text


def test_a_viewer_is_offered_no_link_it_cannot_use(site: Site) -> None:
    viewer = site.client("viewer")
    listing = viewer.get("/admin/subscribers").text
    for href in ("/admin/subscribers/new", "/admin/subscribers/import",
                 "/admin/subscribers/export.csv"):
        assert f'href="{href}"' not in listing
        assert viewer.get(href).status_code == 403  # and indeed it may not
    detail = viewer.get(f"/admin/subscribers/{site.seeded.alice}")
    assert detail.status_code == 200 and "/edit" not in detail.text
    assert 'href="/admin/audit"' not in listing
    # the audit log is for admins only: not in an editor's menu either
    editor = site.client("editor")
    assert 'href="/admin/audit"' not in editor.get("/admin").text
    assert editor.get("/admin/audit").status_code == 403


def test_the_audit_log_is_in_the_admin_menu_with_the_admin_layout(site: Site) -> None:
    admin = site.client("admin")
    home = admin.get("/admin").text
    assert '<a href="/admin/audit">監査ログ</a>' in home
    r = admin.get("/admin/audit")
    assert r.status_code == 200 and ADMIN_MENU in r.text and "<h1>監査ログ</h1>" in r.text
    assert 'aria-current="page">監査ログ</a>' in r.text


def test_saving_a_subscriber_and_logging_out_say_so(site: Site) -> None:
    client = site.client("list_admin")
    fields = {"email": "new@city-x.example.jp", "name": "新井 一郎", "honorific": "様",
              "organisation": "", "organisation_kind": "", "job_title": "", "roles": "",
              "format": "html", "charset": "utf-8"}
    r = post_form(client, "/admin/subscribers/new", "/admin/subscribers/new", fields)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert '<p class="notice" role="status">購読者を登録しました。</p>' in page
    edit = r.headers["location"].split("?")[0] + "/edit"
    r = post_form(client, edit, edit, {**fields, "name": "新井 次郎"})
    assert r.status_code == 303
    assert "登録内容を保存しました。" in client.get(r.headers["location"]).text
    r = post_form(client, "/admin", "/admin/logout")
    assert r.status_code == 303
    login = client.get(r.headers["location"])
    assert login.status_code == 200 and "ログアウトしました。" in login.text
