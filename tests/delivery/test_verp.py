"""VERP return paths: round trips, case folding, forgeries rejected."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mailer.delivery.verp import (
    MAX_DELIVERY_ID,
    MAX_LOCAL_PART,
    make_return_path,
    parse_return_path,
)

SECRET = b"test-secret-0123456789abcdef"
DOMAIN = "bounce.news.example.jp"

ids = st.integers(min_value=1, max_value=MAX_DELIVERY_ID)
secrets = st.binary(min_size=16, max_size=64)


def test_shape() -> None:
    address = make_return_path(12345, secret=SECRET, domain=DOMAIN)
    local_part, domain = address.split("@")
    assert domain == DOMAIN
    assert local_part.startswith("bounces+")
    assert local_part == local_part.lower()
    assert parse_return_path(address, secret=SECRET) == 12345


def test_largest_id_fits_in_a_local_part() -> None:
    address = make_return_path(MAX_DELIVERY_ID, secret=SECRET, domain=DOMAIN)
    assert len(address.split("@")[0]) <= 32 < MAX_LOCAL_PART


@given(delivery_id=ids, secret=secrets)
def test_round_trip(delivery_id: int, secret: bytes) -> None:
    address = make_return_path(delivery_id, secret=secret, domain=DOMAIN)
    assert len(address.split("@")[0]) <= MAX_LOCAL_PART
    assert address == address.lower()
    assert parse_return_path(address, secret=secret) == delivery_id
    assert parse_return_path(address.upper(), secret=secret) == delivery_id
    assert parse_return_path(f"<{address}>", secret=secret) == delivery_id
    assert parse_return_path(f" <{address.swapcase()}>\r\n", secret=secret) == delivery_id


@given(delivery_id=ids, data=st.data())
def test_any_single_character_change_is_rejected(delivery_id: int, data: st.DataObject) -> None:
    address = make_return_path(delivery_id, secret=SECRET, domain=DOMAIN)
    index = data.draw(st.integers(min_value=0, max_value=len(address) - 1), label="index")
    char = data.draw(st.characters(), label="char")
    assume(char.lower() != address[index].lower())  # a case change is no change
    changed = address[:index] + char + address[index + 1 :]
    assert parse_return_path(changed, secret=SECRET) is None


@given(delivery_id=ids, data=st.data())
def test_deleting_or_inserting_a_character_is_rejected(
    delivery_id: int, data: st.DataObject
) -> None:
    address = make_return_path(delivery_id, secret=SECRET, domain=DOMAIN)
    index = data.draw(st.integers(min_value=1, max_value=len(address) - 1), label="index")
    deleted = address[:index] + address[index + 1 :]
    assert parse_return_path(deleted, secret=SECRET) is None
    char = data.draw(st.characters(), label="char")
    inserted = address[:index] + char + address[index:]
    assert parse_return_path(inserted, secret=SECRET) is None


@given(delivery_id=ids, other=secrets)
def test_other_secret_rejects(delivery_id: int, other: bytes) -> None:
    assume(other != SECRET)
    address = make_return_path(delivery_id, secret=SECRET, domain=DOMAIN)
    assert parse_return_path(address, secret=other) is None


@given(text=st.text())
def test_parse_never_raises_on_junk(text: str) -> None:
    assert parse_return_path(text, secret=SECRET) is None


def test_token_is_bound_to_local_and_domain() -> None:
    address = make_return_path(7, secret=SECRET, domain=DOMAIN)
    token = address.split("+", 1)[1].split("@")[0]
    assert parse_return_path(f"bounces+{token}@other.example.jp", secret=SECRET) is None
    assert parse_return_path(address, secret=SECRET, local="returns") is None
    custom = make_return_path(7, secret=SECRET, domain=DOMAIN, local="mag.returns")
    assert custom.startswith("mag.returns+")
    assert parse_return_path(custom, secret=SECRET, local="mag.returns") == 7
    assert parse_return_path(custom, secret=SECRET) is None


def test_non_canonical_id_is_rejected() -> None:
    address = make_return_path(7, secret=SECRET, domain=DOMAIN)
    assert parse_return_path(address.replace("+7", "+07"), secret=SECRET) is None


def test_unicode_domain_is_written_in_idna() -> None:
    address = make_return_path(99, secret=SECRET, domain="例え.jp")
    assert address.endswith("@xn--r8jz45g.jp")
    assert parse_return_path(address, secret=SECRET) == 99


@pytest.mark.parametrize("delivery_id", [0, -1, MAX_DELIVERY_ID + 1])
def test_make_rejects_out_of_range_ids(delivery_id: int) -> None:
    with pytest.raises(ValueError, match="delivery id"):
        make_return_path(delivery_id, secret=SECRET, domain=DOMAIN)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"secret": b"short"}, "secret"),
        ({"local": "Bounces"}, "local part"),
        ({"local": "bounces+x"}, "local part"),
        ({"local": ""}, "local part"),
        ({"local": "b" * 55}, "longer than 64"),
        ({"domain": "not a domain"}, "domain"),
        ({"domain": "user@example.jp"}, "domain"),
    ],
)
def test_make_rejects_bad_configuration(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"secret": SECRET, "domain": DOMAIN, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_return_path(1, **args)  # type: ignore[arg-type]


def test_parse_rejects_short_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        parse_return_path("bounces+x@example.jp", secret=b"short")
