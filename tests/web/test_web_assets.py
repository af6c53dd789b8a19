"""Images of stored issues, and nothing else: from the database first
(`issue_asset`, written by `load_issue`), else from the sample folders."""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine, delete
from sqlmodel import Session
from web_support import Seeded

from mailer.compose.load import LoadStatus, load_issue
from mailer.models import IssueAsset
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.samples.placeholders import png_bytes

PHOTO = SAMPLE_ISSUE_DIR / "images" / "photo01.png"


def test_an_image_is_served(client: httpx.Client, published: Seeded) -> None:
    r = client.get(f"/assets/{published.slug}/images/photo01.png")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.content == PHOTO.read_bytes()
    assert r.headers["etag"] == f'"{hashlib.sha256(PHOTO.read_bytes()).hexdigest()}"'
    assert r.headers["cache-control"] == "public, max-age=86400"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_a_matching_etag_gets_304_and_head_gets_the_headers(
    client: httpx.Client, published: Seeded
) -> None:
    url = f"/assets/{published.slug}/images/photo01.png"
    etag = client.get(url).headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = client.get(url, headers={"If-None-Match": header})
        assert (r.status_code, r.content) == (304, b""), header
        assert r.headers["etag"] == etag
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "image/png"
    assert head.headers["content-length"] == str(PHOTO.stat().st_size)
    assert head.headers["etag"] == etag


def test_the_stored_image_wins_over_the_sample_folder(
    client: httpx.Client, published: Seeded, engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / published.slug
    shutil.copytree(SAMPLE_ISSUE_DIR, folder)
    new = png_bytes(480, 320, (0x20, 0x20, 0x20), (0xE0, 0x60, 0x20))
    (folder / "images" / "photo01.png").write_bytes(new)
    with Session(engine) as session:
        assert load_issue(session=session, path=folder).status is LoadStatus.UPDATED
    r = client.get(f"/assets/{published.slug}/images/photo01.png")
    assert r.status_code == 200 and r.content == new
    assert r.headers["etag"] == f'"{hashlib.sha256(new).hexdigest()}"'


def test_an_image_not_stored_comes_from_the_sample_folder(
    client: httpx.Client, published: Seeded, engine: Engine
) -> None:
    with Session(engine) as session:
        session.exec(delete(IssueAsset))
        session.commit()
    r = client.get(f"/assets/{published.slug}/images/photo01.png")
    assert r.status_code == 200 and r.content == PHOTO.read_bytes()
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "public, max-age=86400"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/assets/vol99/images/photo01.png").status_code == 404


def _raw_get(base_url: str, path: str) -> tuple[int, bytes]:
    """Send `path` byte for byte (httpx would normalise dot segments away)."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize(
    "path",
    [
        "/assets/vol04/../__init__.py",
        "/assets/vol04/images/../../../__init__.py",
        "/assets/vol04/%2e%2e/%2e%2e/__init__.py",
        "/assets/vol04/..%2f..%2f..%2fsettings.py",
        "/assets/vol04/images/..%5c..%5c__init__.py",
        "/assets/vol04/%2fetc%2fpasswd",
        "/assets/vol04//etc/passwd",
        "/assets/%2e%2e/samples/__init__.py",
        "/assets/vol04/issue.yaml",
        "/assets/vol04/part1.md",
        "/assets/vol04/images",
        "/assets/vol04/images/no-such.png",
        "/assets/vol04/images%5cphoto01.png",
        "/assets/vol04/images/photo01.png%00",
        "/assets/vol04/images%00/photo01.png",
        "/assets/vol04/%2fimages/photo01.png",
    ],
)
def test_anything_but_an_image_in_the_issue_folder_is_refused(live_url: str, path: str) -> None:
    status, body = _raw_get(live_url, path)
    assert status in (400, 404), path
    assert b"import" not in body and b"root:" not in body and b"number:" not in body
