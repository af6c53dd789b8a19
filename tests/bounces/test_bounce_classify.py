"""classify_inbound on realistic reports: kind, delivery, recipient, status."""

from __future__ import annotations

import pytest
from bounce_helpers import DOMAIN, OLD_KEY, SECRET_KEY, SECRETS, Ref, sample

from mailer.bounces.classify import InboundKind, InboundResult, classify_inbound
from mailer.delivery.verp import make_return_path
from mailer.tokens import message_id

REF = Ref(delivery_id=4242, part_id=7, subscriber_id=31, email="cio00031@city00031.example.jp",
          list_id=2)
FBL = f"bounces+fbl@{DOMAIN}"  # the address a feedback loop is registered with


def classify(raw: bytes, rcpt_to: str) -> InboundResult:
    return classify_inbound(raw, rcpt_to=rcpt_to, secret=SECRET_KEY.encode(), secrets=SECRETS)


@pytest.mark.parametrize(
    ("name", "kind", "status", "diagnostic"),
    [
        ("postfix-hard-5.1.1.eml", InboundKind.DSN_HARD, "5.1.1", "User unknown in local"),
        ("exim-hard-550.eml", InboundKind.DSN_HARD, "5.1.1", "User unknown"),
        ("exchange-o365-hard-5.1.10.eml", InboundKind.DSN_HARD, "5.1.10",
         "RESOLVER.ADR.RecipientNotFound"),
        ("gmail-hard-5.1.1.eml", InboundKind.DSN_HARD, "5.1.1", "does not exist"),
        ("gmail-soft-4.2.2.eml", InboundKind.DSN_SOFT, "4.2.2", "out of storage space"),
    ],
)
def test_bounces_by_verp(name: str, kind: InboundKind, status: str, diagnostic: str) -> None:
    result = classify(sample(name, REF), REF.verp)
    assert result.kind is kind
    assert (result.delivery_id, result.matched_by) == (REF.delivery_id, "verp")
    assert result.recipient == REF.email
    assert result.status == status
    assert diagnostic in result.diagnostic
    assert status in result.summary and REF.email in result.summary


@pytest.mark.parametrize(
    ("name", "matched_by"),
    [
        ("postfix-hard-5.1.1.eml", "return-path"),
        ("exchange-o365-hard-5.1.10.eml", "return-path"),
        ("gmail-hard-5.1.1.eml", "return-path"),
        ("gmail-soft-4.2.2.eml", "return-path"),
        ("exim-hard-550.eml", "text"),  # the inline copy of the original
        ("arf-complaint.eml", "return-path"),
    ],
)
def test_reports_without_verp_envelope_match_by_the_original(name: str, matched_by: str) -> None:
    # A report forwarded from a shared mailbox has lost the VERP envelope.
    result = classify(sample(name, REF), FBL)
    assert result.delivery_id == REF.delivery_id
    assert result.matched_by == matched_by


def test_gmail_diagnostic_drops_continuation_codes() -> None:
    result = classify(sample("gmail-hard-5.1.1.eml", REF), REF.verp)
    assert result.diagnostic.startswith("smtp; 550-5.1.1 The email account")
    assert result.diagnostic.count("5.1.1") == 1


def test_postfix_matches_by_x_postfix_sender_alone() -> None:
    raw = sample("postfix-hard-5.1.1.eml", REF)
    raw = raw.replace(f"Return-Path: <{REF.verp}>".encode(), b"Return-Path: <>")
    raw = raw.replace(REF.message_id.encode(), b"<elsewhere@example.net>")
    result = classify(raw, FBL)
    assert (result.delivery_id, result.matched_by) == (REF.delivery_id, "x-postfix-sender")


def test_message_id_alone_identifies_the_delivery() -> None:
    raw = sample("exchange-o365-hard-5.1.10.eml", REF)
    raw = raw.replace(f"Return-Path: {REF.verp}".encode(), b"Return-Path: <>")
    result = classify(raw, FBL)
    assert (result.delivery_id, result.matched_by) == (REF.delivery_id, "message-id")


def test_gmail_matches_by_x_original_message_id() -> None:
    raw = sample("gmail-soft-4.2.2.eml", REF).replace(
        f"Return-Path: <{REF.verp}>".encode(), b"Return-Path: <>")
    # The original header block's Message-ID is gone too: only the report field is left.
    head, _, tail = raw.rpartition(b"Message-ID: " + REF.message_id.encode())
    raw = head + b"Message-ID: <x@example.net>" + tail
    result = classify(raw, FBL)
    assert (result.delivery_id, result.matched_by) == (REF.delivery_id, "x-original-message-id")


def test_forged_message_id_is_not_trusted() -> None:
    forged = f"<{REF.part_id}.{REF.delivery_id}.0123456789@{DOMAIN}>"
    raw = sample("exchange-o365-hard-5.1.10.eml", REF)
    raw = raw.replace(REF.verp.encode(), b"someone@example.net")  # also in Received: for <…>
    raw = raw.replace(REF.message_id.encode(), forged.encode())
    result = classify(raw, FBL)
    assert result.kind is InboundKind.DSN_HARD
    assert result.delivery_id is None
    assert "no delivery reference" in result.note


def test_conflicting_references_identify_nothing() -> None:
    other = Ref(delivery_id=9999, part_id=7, subscriber_id=1, email="x@example.jp")
    raw = sample("postfix-hard-5.1.1.eml", REF).replace(
        REF.message_id.encode(), other.message_id.encode())
    result = classify(raw, FBL)
    assert result.kind is InboundKind.DSN_HARD
    assert result.delivery_id is None
    assert "conflicting" in result.note


def test_envelope_wins_over_references() -> None:
    other = Ref(delivery_id=9999, part_id=7, subscriber_id=1, email="x@example.jp")
    result = classify(sample("postfix-hard-5.1.1.eml", REF), other.verp)
    assert (result.delivery_id, result.matched_by) == (9999, "verp")


def test_forged_verp_envelope_is_ignored() -> None:
    forged = make_return_path(REF.delivery_id, secret=b"someone-else's-secret-key!", domain=DOMAIN)
    raw = sample("gmail-hard-5.1.1.eml", REF)
    for real in (REF.verp.encode(), REF.message_id.encode()):
        raw = raw.replace(real, b"<nothing@example.net>")
    result = classify(raw, forged)
    assert result.kind is InboundKind.DSN_HARD
    assert result.delivery_id is None


def test_verp_made_with_a_retired_key_still_matches() -> None:
    old = make_return_path(REF.delivery_id, secret=OLD_KEY.encode(), domain=DOMAIN)
    assert classify(sample("gmail-soft-4.2.2.eml", REF), old).delivery_id == REF.delivery_id


def test_verp_survives_lowercasing() -> None:
    assert classify(sample("gmail-soft-4.2.2.eml", REF), REF.verp.upper()).delivery_id == 4242


def test_arf_complaint() -> None:
    result = classify(sample("arf-complaint.eml", REF), FBL)
    assert result.kind is InboundKind.COMPLAINT
    assert result.recipient == REF.email
    assert "feedback-type abuse" in result.note


def test_arf_with_redacted_recipient_and_only_mail_from() -> None:
    raw = sample("arf-complaint.eml", REF)
    raw = raw.replace(f"Original-Rcpt-To: <{REF.email}>".encode(), b"Original-Rcpt-To: <redacted>")
    raw = raw.replace(f"Return-Path: <{REF.verp}>".encode(), b"Return-Path: <>")
    raw = raw.replace(REF.message_id.encode(), b"<x@example.net>")
    result = classify(raw, FBL)
    assert result.kind is InboundKind.COMPLAINT
    assert (result.delivery_id, result.matched_by) == (REF.delivery_id, "original-mail-from")


@pytest.mark.parametrize("feedback_type", ["not-spam", "auth-failure", "other"])
def test_arf_that_is_not_a_complaint_is_unknown(feedback_type: str) -> None:
    raw = sample("arf-complaint.eml", REF).replace(
        b"Feedback-Type: abuse", f"Feedback-Type: {feedback_type}".encode())
    result = classify(raw, FBL)
    assert result.kind is InboundKind.UNKNOWN
    assert f"feedback-type {feedback_type}" in result.note


def test_japanese_autoreply() -> None:
    result = classify(sample("autoreply-ja.eml", REF), REF.verp)
    assert result.kind is InboundKind.AUTOREPLY
    assert result.delivery_id == REF.delivery_id


def test_autoreply_known_by_its_subject_alone() -> None:
    raw = sample("autoreply-ja.eml", REF)
    raw = raw.replace(b"Auto-Submitted: auto-replied\n", b"").replace(b"X-Autoreply: yes\n", b"")
    result = classify(raw, REF.verp)
    assert result.kind is InboundKind.AUTOREPLY
    assert "自動応答" in result.note


@pytest.mark.parametrize("header", ["Precedence: auto_reply", "X-Autorespond: vacation"])
def test_autoreply_headers(header: str) -> None:
    raw = (f"From: someone@example.jp\nTo: {REF.verp}\nSubject: Re: hello\n{header}\n\n"
           "I am away.\n").encode()
    assert classify(raw, REF.verp).kind is InboundKind.AUTOREPLY


def test_postfix_bounce_marked_auto_replied_is_still_a_bounce() -> None:
    raw = sample("postfix-hard-5.1.1.eml", REF)
    assert b"Auto-Submitted: auto-replied" in raw
    assert classify(raw, REF.verp).kind is InboundKind.DSN_HARD


def test_mailto_unsubscribe() -> None:
    result = classify(sample("mailto-unsubscribe.eml", REF), REF.unsubscribe_address)
    assert result.kind is InboundKind.UNSUBSCRIBE_REQUEST
    assert (result.subscriber_id, result.list_id) == (REF.subscriber_id, REF.list_id)
    assert result.delivery_id is None


def test_mailto_unsubscribe_with_a_bad_token() -> None:
    bad = f"unsubscribe+{REF.unsubscribe_token[:-2]}xx@{DOMAIN}"
    result = classify(sample("mailto-unsubscribe.eml", REF), bad)
    assert result.kind is InboundKind.UNSUBSCRIBE_REQUEST
    assert result.subscriber_id is None
    assert "token not valid" in result.note


def test_junk_is_unknown_without_delivery() -> None:
    result = classify(sample("junk.eml", REF), f"bounces+zz19abcdefghij@{DOMAIN}")
    assert result.kind is InboundKind.UNKNOWN
    assert result.delivery_id is None


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff\xfe garbage", b"Subject: =?bogus?q?x?=\n\n\x00",
     b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\n"
     b"Content-Type: message/delivery-status\n\n\n--x--\n"],
)
def test_malformed_input_is_unknown(raw: bytes) -> None:
    result = classify(raw, REF.verp)
    assert result.kind is InboundKind.UNKNOWN
    assert result.delivery_id == REF.delivery_id


def test_success_notice_is_not_a_bounce() -> None:
    raw = sample("postfix-hard-5.1.1.eml", REF).replace(
        b"Action: failed\nStatus: 5.1.1", b"Action: delivered\nStatus: 2.0.0")
    # The free-text part still says 5.1.1; the structured report is what counts.
    raw = raw.replace(b"550\n    5.1.1", b"250\n    2.0.0")
    result = classify(raw, REF.verp)
    assert result.kind is InboundKind.UNKNOWN
    assert "delivered" in result.note


@pytest.mark.parametrize(("status", "kind"), [
    ("5.2.2", InboundKind.DSN_SOFT),  # mailbox full: persistent, not permanent
    ("5.7.1", InboundKind.DSN_SOFT),  # a policy refusal of our mail, not a dead address
    ("4.4.7", InboundKind.DSN_SOFT),  # failed after retries, still a transient cause
    ("5.1.2", InboundKind.DSN_HARD),
])
def test_failed_action_status_decides(status: str, kind: InboundKind) -> None:
    raw = sample("postfix-hard-5.1.1.eml", REF).replace(
        b"Status: 5.1.1", f"Status: {status}".encode())
    assert classify(raw, REF.verp).kind is kind


def test_message_id_of_another_domain_still_verifies() -> None:
    mid = message_id(delivery_id=77, part_id=3, secret=SECRET_KEY, domain="news.example.org")
    raw = sample("exchange-o365-hard-5.1.10.eml", REF)
    raw = raw.replace(f"Return-Path: {REF.verp}".encode(), b"Return-Path: <>")
    raw = raw.replace(REF.message_id.encode(), mid.encode())
    assert classify(raw, FBL).delivery_id == 77
