"""Images of stored issues, and nothing else."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest
from web_support import Seeded

from mailer.samples import SAMPLE_ISSUE_DIR


def test_an_image_is_served(client: httpx.Client, seeded: Seeded) -> None:
    r = client.get(f"/assets/{seeded.slug}/images/photo01.png")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.content == (SAMPLE_ISSUE_DIR / "images" / "photo01.png").read_bytes()


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


@pytest.mark.parametrize("path", [
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
])
def test_anything_but_an_image_in_the_issue_folder_is_refused(
    live_url: str, path: str
) -> None:
    status, body = _raw_get(live_url, path)
    assert status in (400, 404), path
    assert b"import" not in body and b"root:" not in body and b"number:" not in body
