"""DKIM signing, verified with dkimpy against the key we publish."""

from __future__ import annotations

import re
import subprocess
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import dkim as dkimpy
import pytest

from mailer.delivery.dkim import (
    DkimKey,
    DkimKeyError,
    dns_txt_record,
    dns_txt_value,
    load_dkim_key,
    sign,
)

UNSUBSCRIBE = "<https://news.example.jp/u/abc123>, <mailto:unsubscribe+abc123@news.example.jp>"


def _genrsa(path: Path, bits: int, *extra: str) -> Path:
    subprocess.run(
        ["openssl", "genrsa", *extra, "-out", str(path), str(bits)],
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _genrsa(tmp_path_factory.mktemp("dkim") / "news.pem", 2048)


@pytest.fixture(scope="module")
def key(key_path: Path) -> DkimKey:
    return load_dkim_key(key_path, selector="news2026", domain="news.example.jp")


def dnsfunc_for(key: DkimKey) -> Any:
    """A resolver that knows exactly one DKIM record: the one we would publish."""

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        if name == f"{key.selector}._domainkey.{key.ascii_domain}.".encode():
            return dns_txt_value(key).encode("ascii")
        return None

    return dnsfunc


def verify(message: bytes, key: DkimKey) -> bool:
    return bool(dkimpy.verify(message, dnsfunc=dnsfunc_for(key)))


def newsletter(body_repeat: int = 1) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "都CIOフォーラム事務局 <news@news.example.jp>"
    msg["To"] = "髙橋 﨑子 様 <takahashi@city.example.lg.jp>"
    msg["Subject"] = "第4回 ○○市×都CIO座談会 part1"
    msg["Date"] = "Thu, 26 Nov 2026 09:00:00 +0900"
    msg["Message-ID"] = "<p1.s42@news.example.jp>"
    msg["List-Id"] = "CIOフォーラム通信 <cio-forum.news.example.jp>"
    msg["List-Unsubscribe"] = UNSUBSCRIBE
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content("総務部長兼情報システム担当部長(CIO補佐、CDO、CISO補佐)\n" * body_repeat)
    msg.add_alternative("<p>髙橋(以下「高橋」)</p>\n" * body_repeat, subtype="html")
    return msg.as_bytes()


def signed_fields(signed: bytes) -> list[str]:
    header = signed.split(b"\r\n\r\n", 1)[0].decode("ascii")
    h = re.search(r"\bh=([^;]+)", header.replace("\r\n", "").replace("\t", " "))
    assert h is not None
    return [name.strip() for name in h.group(1).split(":")]


def test_signature_verifies_and_covers_deliverability_headers(key: DkimKey) -> None:
    message = newsletter()
    signed = sign(message, key)
    assert signed.startswith(b"DKIM-Signature: ")
    assert signed.endswith(message)
    assert verify(signed, key)
    fields = signed_fields(signed)
    for name in (
        "from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe",
        "list-unsubscribe-post", "mime-version", "content-type",
    ):  # fmt: skip
        assert fields.count(name) == 2, name  # present once, oversigned once
    assert "cc" not in fields  # absent fields are not listed
    header = signed.split(b"\r\n\r\n", 1)[0]
    assert b"a=rsa-sha256" in header
    assert b"c=relaxed/relaxed" in header
    assert b"d=news.example.jp" in header
    assert b"s=news2026" in header


def test_raw_utf8_headers_verify(key: DkimKey) -> None:
    message = (
        "From: 事務局 <news@news.example.jp>\r\n"
        "To: 髙橋 様 <t@city.example.lg.jp>\r\n"
        "Subject: 第4回 ○○市×都CIO座談会\r\n"
        f"List-Unsubscribe: {UNSUBSCRIBE}\r\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "本文です。\r\n"
    ).encode()
    assert verify(sign(message, key), key)


def test_lf_message_gets_lf_signature(key: DkimKey) -> None:
    message = newsletter().replace(b"\r\n", b"\n")
    signed = sign(message, key)
    assert b"\r" not in signed
    assert verify(signed, key)


def test_relaxed_canonicalization_survives_refolding(key: DkimKey) -> None:
    signed = sign(newsletter(), key)
    refolded = signed.replace(
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        b"List-Unsubscribe-Post:   List-Unsubscribe=One-Click",
    )
    assert refolded != signed
    assert verify(refolded, key)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"https://news.example.jp/u/abc123", b"https://evil.example.com/u/abc123"),
        (b"List-Unsubscribe=One-Click", b"List-Unsubscribe=Two-Click"),
        (b"<p1.s42@news.example.jp>", b"<p2.s42@news.example.jp>"),
    ],
)
def test_tampering_breaks_the_signature(key: DkimKey, old: bytes, new: bytes) -> None:
    signed = sign(newsletter(), key)
    assert old in signed
    assert not verify(signed.replace(old, new, 1), key)


def test_added_list_unsubscribe_breaks_the_signature(key: DkimKey) -> None:
    signed = sign(newsletter(), key)
    # Just below the signature, above the genuine field: without oversigning a
    # verifier would pick the genuine (bottom-most) one and still pass.
    sig = re.match(rb"DKIM-Signature:.*?\r\n(?![ \t])", signed, re.DOTALL)
    assert sig is not None
    sig_end = sig.end()
    injected = (
        signed[:sig_end] + b"List-Unsubscribe: <https://evil.example.com/>\r\n" + signed[sig_end:]
    )
    assert not verify(injected, key)


def test_body_tampering_breaks_the_signature(key: DkimKey) -> None:
    signed = sign(newsletter(), key)
    assert not verify(signed + b"PS: click here\r\n", key)


def test_dns_txt_record(key: DkimKey, key_path: Path) -> None:
    record = dns_txt_record(key)
    assert record.startswith('news2026._domainkey.news.example.jp TXT "v=DKIM1; k=rsa; p=')
    strings = re.findall(r'"([^"]*)"', record)
    assert all(len(s) <= 255 for s in strings)
    assert "".join(strings) == dns_txt_value(key)
    openssl = subprocess.run(
        ["openssl", "rsa", "-in", str(key_path), "-pubout"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spki = "".join(line for line in openssl.splitlines() if not line.startswith("-----"))
    assert dns_txt_value(key) == f"v=DKIM1; k=rsa; p={spki}"


def test_pkcs1_key_and_unicode_domain(tmp_path: Path) -> None:
    path = _genrsa(tmp_path / "pkcs1.pem", 2048, "-traditional")
    assert path.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    key = load_dkim_key(path, selector="s1", domain="例え.jp")
    assert key.ascii_domain == "xn--r8jz45g.jp"
    assert dns_txt_record(key).startswith("s1._domainkey.xn--r8jz45g.jp TXT ")
    message = newsletter().replace(b"news@news.example.jp", "news@例え.jp".encode())
    assert verify(sign(message, key), key)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(DkimKeyError, match=r"missing\.pem"):
        load_dkim_key(missing, selector="s", domain="example.jp")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    with pytest.raises(DkimKeyError, match=r"garbage\.pem") as info:
        load_dkim_key(garbage, selector="s", domain="example.jp")
    assert "\n" not in str(info.value)
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    with pytest.raises(DkimKeyError, match=r"empty\.pem"):
        load_dkim_key(empty, selector="s", domain="example.jp")
    small = _genrsa(tmp_path / "small.pem", 1024)
    with pytest.raises(DkimKeyError, match=r"small\.pem.*1024"):
        load_dkim_key(small, selector="s", domain="example.jp")


def test_bad_selector_or_missing_from(key: DkimKey) -> None:
    with pytest.raises(ValueError):
        DkimKey(selector="bad selector", domain="example.jp", private_key_pem=b"")
    with pytest.raises(ValueError, match="From"):
        sign(b"To: a@example.jp\r\nSubject: x\r\n\r\nbody\r\n", key)


def test_signing_cost(key: DkimKey, record_testsuite_property: Any) -> None:
    repeat = 1
    while len(newsletter(repeat)) < 20_000:
        repeat += 5
    message = newsletter(repeat)
    sign(message, key)
    rounds = 30
    start = time.perf_counter()
    for _ in range(rounds):
        sign(message, key)
    micros = (time.perf_counter() - start) / rounds * 1e6
    print(f"dkim sign: {micros:.0f} µs per {len(message) / 1000:.1f} KB message (dkimpy)")
    record_testsuite_property("dkim_sign_us", round(micros))
    record_testsuite_property("dkim_message_bytes", len(message))
    assert micros < 200_000  # a sanity bound, not a target
