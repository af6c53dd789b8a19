"""The sample content: subscriber list, placeholder images, reserved domains only."""

from __future__ import annotations

import csv
import re
import struct
import zlib
from collections import Counter

from email_validator import validate_email

from mailer.samples import SAMPLE_ISSUE_DIR, SAMPLE_SUBSCRIBERS_CSV, SAMPLES_DIR
from mailer.samples.placeholders import PLACEHOLDERS, png_bytes

HEADER = ["メールアドレス", "氏名", "団体名", "団体区分", "役職", "役割"]
RESERVED = re.compile(r"(^|\.)(example\.(com|jp|org)|example)$")


def _rows() -> list[dict[str, str]]:
    with SAMPLE_SUBSCRIBERS_CSV.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == HEADER
        return list(reader)


def test_paths() -> None:
    assert SAMPLE_ISSUE_DIR.parent.parent == SAMPLES_DIR
    assert (SAMPLE_ISSUE_DIR / "issue.yaml").is_file()
    assert SAMPLE_SUBSCRIBERS_CSV.is_file()


def test_one_contact_per_municipality() -> None:
    rows = _rows()
    assert len(rows) == 62
    assert Counter(r["団体区分"] for r in rows) == {"特別区": 23, "市": 26, "町": 5, "村": 8}
    assert len({r["団体名"] for r in rows}) == 62
    suffix = {"特別区": "区", "市": "市", "町": "町", "村": "村"}
    assert all(r["団体名"].endswith(suffix[r["団体区分"]]) for r in rows)
    assert {"千代田区", "八王子市", "武蔵野市", "瑞穂町", "八丈町", "檜原村", "小笠原村"} <= {
        r["団体名"] for r in rows
    }


def test_addresses_are_unique_valid_and_reserved() -> None:
    emails = [r["メールアドレス"] for r in _rows()]
    assert len(set(emails)) == 62
    for email in emails:
        domain = validate_email(email, check_deliverability=False).domain
        assert RESERVED.search(domain), email
    assert "cio@chiyoda.example.jp" in emails


def test_names_titles_and_roles() -> None:
    rows = _rows()
    names = [r["氏名"] for r in rows]
    assert any("髙" in n for n in names) and any("﨑" in n for n in names)
    assert all(r["役職"] and r["役割"] for r in rows)
    assert all(
        set(r["役割"].split(";")) <= {"CIO", "CIO補佐", "CISO", "CISO補佐", "CDO"} for r in rows
    )


def test_placeholder_images_are_valid_pngs() -> None:
    for name, (width, height, background, band) in PLACEHOLDERS.items():
        data = (SAMPLE_ISSUE_DIR / "images" / name).read_bytes()
        assert data == png_bytes(width, height, background, band)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        pos = 8
        kinds = []
        while pos < len(data):
            (length,) = struct.unpack(">I", data[pos : pos + 4])
            kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
            (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
            assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
            kinds.append(kind)
            pos += 12 + length
        assert kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_sample_issue_uses_reserved_domains_only() -> None:
    for path in [SAMPLE_ISSUE_DIR / "issue.yaml", *sorted(SAMPLE_ISSUE_DIR.glob("part*.md"))]:
        text = path.read_text(encoding="utf-8")
        for host in re.findall(r"https?://([^/\s)]+)", text) + re.findall(r"@([\w.-]+)", text):
            assert RESERVED.search(host), (path.name, host)


def test_sample_parts_have_realistic_length() -> None:
    for path in sorted(SAMPLE_ISSUE_DIR.glob("part*.md")):
        assert 8_000 <= len(path.read_bytes()) <= 15_000, path.name
