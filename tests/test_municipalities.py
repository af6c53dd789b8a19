"""The shipped list of Tokyo's municipalities and the name matching."""

from __future__ import annotations

from collections import Counter

from mailer.municipalities import check_digit, code_order, find, tokyo


def test_the_list_is_tokyo_and_its_62_municipalities_in_code_order() -> None:
    places = tokyo()
    assert Counter(m.kind for m in places) == {"都": 1, "特別区": 23, "市": 26, "町": 5, "村": 8}
    assert [m.code for m in places] == sorted(m.code for m in places)
    assert (places[0].code, places[0].name) == ("130001", "東京都")
    assert (places[1].code, places[1].name) == ("131016", "千代田区")
    assert (places[24].code, places[24].name) == ("132012", "八王子市")
    assert (places[-1].code, places[-1].name) == ("134210", "小笠原村")
    assert all(check_digit(m.code[:5]) == int(m.code[5]) for m in places)


def test_names_match_across_width_spaces_and_the_prefecture() -> None:
    assert find("三鷹市") == find("東京都三鷹市") == find("東京都 三鷹市")
    assert find("東京都") is not None and find("東京都").code == "130001"  # type: ignore[union-attr]
    assert find("青ケ島村") == find("青ヶ島村")
    assert find("横浜市") is None and find("") is None


def test_code_order_puts_unknown_names_after_by_name_and_none_last() -> None:
    assert code_order(["", "府中市", "協議会", "ＡＢＣ", "千代田区", "東京都"]) == [
        "東京都", "千代田区", "府中市", "協議会", "ＡＢＣ", ""]  # by code point
