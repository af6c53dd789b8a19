"""Tokens that go into every message."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import Signer, URLSafeSerializer

from mailer.tokens import (
    UNSUBSCRIBE_SALT,
    message_id,
    read_unsubscribe_token,
    unsubscribe_token,
)

secrets = st.lists(st.text(min_size=16, max_size=40), min_size=1, max_size=3)
ids = st.integers(min_value=1, max_value=2**63 - 1)


@given(secrets, ids, st.none() | ids)
def test_unsubscribe_tokens_read_back(keys: list[str], sid: int, lid: int | None) -> None:
    token = unsubscribe_token(keys, subscriber_id=sid, list_id=lid)
    assert read_unsubscribe_token(keys, token) == (sid, lid)
    # URL-safe and a dot-atom, so it can be a mailto local part
    assert all(c.isalnum() or c in "._-" for c in token) and ".." not in token
    if sid < 10**10 and (lid is None or lid < 10**6):  # local parts stop at 64 characters
        assert len("unsubscribe+" + token) <= 64


def test_the_token_is_itsdangerous_signature_over_the_plain_value() -> None:
    token = unsubscribe_token(["k" * 32], subscriber_id=1234567, list_id=12)
    assert token.startswith("1234567.12.")
    assert Signer(["k" * 32], salt=UNSUBSCRIBE_SALT).unsign(token) == b"1234567.12"
    assert unsubscribe_token(["k" * 32], subscriber_id=5, list_id=None).startswith("5.-.")


@given(ids, st.none() | ids)
def test_tokens_of_the_first_form_are_still_read(sid: int, lid: int | None) -> None:
    old = URLSafeSerializer(["k" * 32], salt="unsubscribe").dumps([sid, lid])
    assert read_unsubscribe_token(["k" * 32], old) == (sid, lid)


def test_altered_or_foreign_tokens_are_refused() -> None:
    token = unsubscribe_token(["k" * 32], subscriber_id=7, list_id=3)
    assert read_unsubscribe_token(["k" * 32], token.replace("7.3.", "8.3.", 1)) is None
    assert read_unsubscribe_token(["x" * 32], token) is None
    signed_junk = Signer(["k" * 32], salt=UNSUBSCRIBE_SALT).sign(b"7.abc").decode()
    assert read_unsubscribe_token(["k" * 32], signed_junk) is None
    assert read_unsubscribe_token(["k" * 32], "") is None


def test_a_rotated_key_still_reads_old_tokens_and_signs_with_the_newest() -> None:
    old = unsubscribe_token(["a" * 20], subscriber_id=7, list_id=3)
    assert read_unsubscribe_token(["a" * 20, "b" * 20], old) == (7, 3)
    new = unsubscribe_token(["a" * 20, "b" * 20], subscriber_id=7, list_id=3)
    assert new != old
    assert read_unsubscribe_token(["b" * 20], new) == (7, 3)
    assert read_unsubscribe_token(["a" * 20], new) is None


def test_message_id_is_the_documented_hmac() -> None:
    tag = hmac.new(b"s" * 32, b"4.123", hashlib.sha256).hexdigest()[:10]
    got = message_id(delivery_id=123, part_id=4, secret="s" * 32, domain="mail.example.jp")
    assert got == f"<4.123.{tag}@mail.example.jp>"
