"""One bounce from each of twelve mail systems, written from the formats their
documentation and published samples show (addresses are example.jp/.com), each
with the classification it must get. The VERP envelope names the delivery; the
recipient and status must come from the notice itself."""

from __future__ import annotations

import email
from email import policy

import pytest
from bounce_helpers import SECRET_KEY, SECRETS, Ref, sample

from mailer.bounces.classify import InboundKind, _from_mail_system, classify_inbound

REF = Ref(delivery_id=4242, part_id=7, subscriber_id=31, email="cio00031@city00031.example.jp",
          list_id=2)
HARD, SOFT = InboundKind.DSN_HARD, InboundKind.DSN_SOFT


@pytest.mark.parametrize(
    ("system", "name", "kind", "status"),
    [
        ("Postfix", "postfix-hard-5.1.1.eml", HARD, "5.1.1"),
        ("Exim", "exim-hard-550.eml", HARD, "5.1.1"),
        ("Exim delay warning", "exim-delay-warning.eml", SOFT, "4.3.0"),
        ("Sendmail", "sendmail-hard-5.1.1.eml", HARD, "5.1.1"),
        ("qmail", "qmail-hard.eml", HARD, "5.1.1"),
        ("Exchange / Office 365", "exchange-o365-hard-5.1.10.eml", HARD, "5.1.10"),
        ("Gmail", "gmail-hard-5.1.1.eml", HARD, "5.1.1"),
        ("Gmail mailbox full", "gmail-soft-4.2.2.eml", SOFT, "4.2.2"),
        ("Yahoo", "yahoo-hard.eml", HARD, "5.0.0"),
        ("Domino", "domino-hard.eml", HARD, "5.0.0"),
        ("GroupWise", "groupwise-hard.eml", HARD, "5.1.1"),
        ("MDaemon", "mdaemon-hard.eml", HARD, "5.1.1"),
        ("Japanese ISP (ISO-2022-JP)", "japanese-isp-hard.eml", HARD, "5.1.1"),
        ("Trend Micro IMSS gateway", "imss-gateway-hard.eml", HARD, "5.1.1"),
    ],
    ids=lambda v: v if isinstance(v, str) and not v.endswith(".eml") else None,
)
def test_each_mail_system(system: str, name: str, kind: InboundKind, status: str) -> None:
    result = classify_inbound(sample(name, REF), rcpt_to=REF.verp,
                              secret=SECRET_KEY.encode(), secrets=SECRETS)
    assert (result.kind, result.status, result.recipient) == (kind, status, REF.email), (
        f"{system}: {result.summary}"
    )
    assert result.delivery_id == REF.delivery_id


@pytest.mark.parametrize(
    ("from_", "expected"),
    [
        ("Mail Delivery System <MAILER-DAEMON@mx.example.jp>", True),
        ('"Mail Delivery Subsystem" <mailer-daemon@mx.example.com>', True),
        ('"Postmaster" <postmaster@gw.example.jp>', True),
        ("InterScan MSS <imss@gw.example.jp>", True),
        ('"MDaemon at mail.example.jp" <MDaemon@mail.example.jp>', True),
        ("=?iso-2022-jp?b?GyRCJWEhPCVrR1tBdyU3JTklxiVgGyhC?= <postmaster@isp.example.ne.jp>",
         True),
        ("Postmaster@city.example.jp", True),
        ("田中 太郎 <tanaka@city.example.jp>", False),
        ('"mailer-daemon@mx.example.jp" <someone@example.com>', False),
    ],
)
def test_from_is_read_with_the_address_parser(from_: str, expected: bool) -> None:
    msg = email.message_from_string(f"From: {from_}\nSubject: x\n\nbody\n",
                                    policy=policy.compat32)
    assert _from_mail_system(msg) is expected
