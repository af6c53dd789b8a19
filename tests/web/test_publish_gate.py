"""The publish gate: an uploaded part is not public (archive page, index, feed,
images) until it is published; staff see it signed in, a test send's preview
link opens it; publishing and unpublishing go through the admin, the API and
the CLI to one audited service."""

from __future__ import annotations

import email
import email.policy
import re
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import httpx
from admin_support import hidden
from sqlalchemy import Engine, select
from test_admin_helpers import Site, part_ids, site
from web_support import BASE_URL, make_settings

from mailer.embedded.smtp_sink import SmtpSink
from mailer.models import AuditLog, Part
from mailer.services import test_send
from mailer.services.publication import preview_base_url

__all__ = ["site"]

NS = {"a": "http://www.w3.org/2005/Atom"}
SLUG = "vol04"
PART1_ONLY = "images/slide01.png"  # used by part1 only
PART2_ONLY = "images/slide03.png"  # used by part2 only


def _page(label: str) -> str:
    return f"/archive/{SLUG}/{label}"


def _feed_entries(client: httpx.Client) -> list[ET.Element]:
    r = client.get("/archive/feed.atom")
    assert r.status_code == 200
    return ET.fromstring(r.content).findall("a:entry", NS)


def _published_at(engine: Engine, part_id: int) -> datetime | None:
    with engine.connect() as conn:
        value = conn.execute(select(Part.published_at).where(Part.id == part_id)).scalar()  # type: ignore[call-overload]
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value  # type: ignore[no-any-return]


def _audit(engine: Engine, part_id: int) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditLog.action, AuditLog.actor)  # type: ignore[call-overload]
            .where(AuditLog.target_type == "part", AuditLog.target_id == str(part_id),
                   AuditLog.action.in_(["part.publish", "part.unpublish"]))  # type: ignore[attr-defined]
            .order_by(AuditLog.id)
        ).all()
    return [(r.action, r.actor) for r in rows]


def _preview_path(site: Site, part_id: int, *, now: float | None = None) -> str:
    base = preview_base_url(base_url=BASE_URL, secrets=site.settings.secret_keys,
                            part_id=part_id, now=now)
    return base.removeprefix(BASE_URL)


def _post(client: httpx.Client, part_id: int, action: str, **data: str) -> httpx.Response:
    token = hidden(client.get(f"/admin/parts/{part_id}").text)
    return client.post(f"/admin/parts/{part_id}/{action}", data={"csrf_token": token, **data})


def test_an_uploaded_part_is_hidden_until_published_and_again_after_unpublish(
        site: Site) -> None:
    part1, part2 = part_ids(site.engine)
    public = site.client()
    # uploaded: nothing is public
    assert public.get(_page("part1")).status_code == 404
    assert public.get(f"/archive/{SLUG}").status_code == 404
    index = public.get("/archive")
    assert index.status_code == 200 and "第4回" not in index.text and "part1" not in index.text
    assert _feed_entries(public) == []
    for image in ("images/header-part1.png", PART1_ONLY, PART2_ONLY):
        assert public.get(f"/assets/{SLUG}/{image}").status_code == 404, image

    # staff, signed in, see it, marked as not public, kept by no cache
    viewer = site.client("viewer")
    page = viewer.get(_page("part1"))
    assert page.status_code == 200 and "未公開" in page.text
    assert page.headers["cache-control"] == "no-store"
    listed = viewer.get("/archive")
    assert f'href="{_page("part1")}"' in listed.text and "【未公開】" in listed.text
    assert listed.headers["cache-control"] == "no-store"
    image = viewer.get(f"/assets/{SLUG}/{PART1_ONLY}")
    assert image.status_code == 200 and image.headers["cache-control"] == "private, no-store"
    admin_page = viewer.get(f"/admin/parts/{part1}")
    assert "未公開" in admin_page.text and "公開する" not in admin_page.text  # a viewer can't

    # publish (editor, admin page)
    editor = site.client("editor")
    r = _post(editor, part1, "publish")
    assert r.status_code == 303
    assert r.headers["location"] == f"/admin/parts/{part1}?notice=published"
    published_at = _published_at(site.engine, part1)
    assert published_at is not None
    assert abs((datetime.now(UTC) - published_at).total_seconds()) < 60
    page = public.get(_page("part1"))
    assert page.status_code == 200 and "未公開" not in page.text
    assert page.headers["cache-control"] == "public, max-age=300"
    assert public.get(_page("part2")).status_code == 404  # only part1 was published
    entries = _feed_entries(public)
    assert [e.findtext("a:id", namespaces=NS) for e in entries] == [f"{BASE_URL}{_page('part1')}"]
    for tag in ("published", "updated"):
        text = entries[0].findtext(f"a:{tag}", namespaces=NS) or ""
        assert datetime.fromisoformat(text.replace("Z", "+00:00")) == published_at.replace(
            microsecond=0), tag
    index = public.get("/archive").text
    assert f'href="{_page("part1")}"' in index and f'href="{_page("part2")}"' not in index
    assert "【未公開】" not in index
    shown = public.get(f"/assets/{SLUG}/{PART1_ONLY}")
    assert shown.status_code == 200 and shown.headers["cache-control"] == "public, max-age=86400"
    assert public.get(f"/assets/{SLUG}/{PART2_ONLY}").status_code == 404
    state = editor.get(f"/admin/parts/{part1}").text
    assert "公開中" in state and "公開を取り消す" in state

    # unpublishing needs the confirmation box, then hides the part again
    r = _post(editor, part1, "unpublish")
    assert r.status_code == 422 and "確認欄にチェック" in r.text
    assert public.get(_page("part1")).status_code == 200
    r = _post(editor, part1, "unpublish", confirm="yes")
    assert r.status_code == 303
    assert _published_at(site.engine, part1) is None
    assert public.get(_page("part1")).status_code == 404
    assert public.get(f"/assets/{SLUG}/{PART1_ONLY}").status_code == 404
    assert _feed_entries(public) == []
    assert viewer.get(_page("part1")).status_code == 200

    who = "editor@metro.example.jp"
    assert _audit(site.engine, part1) == [("part.publish", who), ("part.unpublish", who)]
    assert _audit(site.engine, part2) == []


def test_a_preview_link_opens_one_unpublished_part_and_its_images(site: Site) -> None:
    part1, part2 = part_ids(site.engine)
    public = site.client()
    prefix = _preview_path(site, part1)
    page = public.get(f"{prefix}{_page('part1')}")
    assert page.status_code == 200 and "未公開" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    # its images go through the same link, and open
    assert f'src="{BASE_URL}{prefix}/assets/{SLUG}/{PART1_ONLY}"' in page.text
    assert public.get(f"{prefix}/assets/{SLUG}/{PART1_ONLY}").status_code == 200
    # not another part, nor its images
    assert public.get(f"{prefix}{_page('part2')}").status_code == 404
    assert public.get(f"{prefix}/assets/{SLUG}/{PART2_ONLY}").status_code == 404
    # an expired or forged link is a 404
    expired = _preview_path(site, part1, now=time.time() - 15 * 86400)
    assert public.get(f"{expired}{_page('part1')}").status_code == 404
    assert public.get(f"{expired}/assets/{SLUG}/{PART1_ONLY}").status_code == 404
    token = prefix.rsplit("/", 1)[1]
    forged = f"/preview/{part2}.{token.split('.', 1)[1]}"
    assert public.get(f"{forged}{_page('part2')}").status_code == 404
    other_key = make_settings("sqlite://", secret_key="another-secret-key-0123456789abcdef")
    foreign = preview_base_url(base_url="", secrets=other_key.secret_keys, part_id=part1)
    assert public.get(f"{foreign}{_page('part1')}").status_code == 404
    # the plain URL stays closed
    assert public.get(_page("part1")).status_code == 404


def test_a_test_sends_web_version_link_opens_the_unpublished_part(
        site: Site, tmp_path: Path) -> None:
    part1, _part2 = part_ids(site.engine)
    with SmtpSink(tmp_path / "outbox") as sink:
        settings = make_settings(site.settings.database_url or "", smtp_url=sink.url)
        results = test_send.test_send_part(engine=site.engine, settings=settings,
                                           part_id=part1, addresses=["editor@metro.example.jp"])
        assert results == [("editor@metro.example.jp", "sent")]
        msg = email.message_from_bytes(sink.accepted[0].data, policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    lines = text.splitlines()
    web_url = lines[lines.index("ブラウザで見る：") + 1]
    assert web_url.startswith(f"{BASE_URL}/preview/") and web_url.endswith(_page("part1"))
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f'href="{web_url}"' in html
    assert f"/assets/{SLUG}/{PART1_ONLY}" in html and f'{BASE_URL}/assets/' not in html
    public = site.client()
    assert public.get(web_url.removeprefix(BASE_URL)).status_code == 200
    assert public.get(_page("part1")).status_code == 404
    # a test send publishes nothing
    assert _published_at(site.engine, part1) is None

    # once public, a test send links the plain web version
    api = site.api("editor")
    assert api.post(f"/api/v1/parts/{part1}/publish").status_code == 200
    with SmtpSink(tmp_path / "outbox2") as sink:
        settings = make_settings(site.settings.database_url or "", smtp_url=sink.url)
        test_send.test_send_part(engine=site.engine, settings=settings, part_id=part1,
                                 addresses=["editor@metro.example.jp"])
        msg = email.message_from_bytes(sink.accepted[0].data, policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    lines = text.splitlines()
    assert lines[lines.index("ブラウザで見る：") + 1] == f"{BASE_URL}{_page('part1')}"


def test_publish_and_unpublish_through_the_api(site: Site) -> None:
    part1, _ = part_ids(site.engine)
    editor = site.api("editor")
    r = editor.post(f"/api/v1/parts/{part1}/publish")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["action"] == "publish" and body["part_id"] == part1
    assert datetime.fromisoformat(body["published_at"]) == _published_at(site.engine, part1)
    assert editor.get(f"/api/v1/parts/{part1}").json()["published_at"] is not None
    again = editor.post(f"/api/v1/parts/{part1}/publish")
    assert again.status_code == 409 and "すでに公開中です" in again.json()["detail"]
    assert site.api("viewer").post(f"/api/v1/parts/{part1}/unpublish").status_code == 403
    r = editor.post(f"/api/v1/parts/{part1}/unpublish")
    assert r.status_code == 200 and r.json()["published_at"] is None
    r = editor.post(f"/api/v1/parts/{part1}/unpublish")
    assert r.status_code == 409 and "公開されていません" in r.json()["detail"]
    missing = editor.post("/api/v1/parts/9999/publish")
    assert missing.status_code == 404 and "パート 9999 はありません" in missing.json()["detail"]
    who = "token:editor-token"
    assert _audit(site.engine, part1) == [("part.publish", who), ("part.unpublish", who)]


def test_staff_previews_of_an_unpublished_part_load_their_images_without_a_session(
        site: Site) -> None:
    """The admin's sandboxed preview frame, a downloaded .eml and the API
    preview send no session cookie: their images go through a preview link."""
    part1, _ = part_ids(site.engine)
    frame = site.client("viewer").get(f"/admin/parts/{part1}").text
    found = re.search(r'src=&#34;(https://mailer\.example\.com/preview/[^&]+/assets/'
                      r'vol04/images/slide01\.png)&#34;', frame)
    assert found, "the preview frame's images go through a preview link"
    public = site.client()
    assert public.get(found.group(1).removeprefix(BASE_URL)).status_code == 200
    api = site.api("viewer").get(f"/api/v1/parts/{part1}/preview", params={"format": "html"})
    assert f"{BASE_URL}/preview/" in api.text and f'"{BASE_URL}/assets/' not in api.text
    # once published, previews show the plain URLs readers get
    assert site.api("editor").post(f"/api/v1/parts/{part1}/publish").status_code == 200
    api = site.api("viewer").get(f"/api/v1/parts/{part1}/preview", params={"format": "html"})
    assert f"{BASE_URL}/preview/" not in api.text and f"{BASE_URL}/assets/vol04/" in api.text
