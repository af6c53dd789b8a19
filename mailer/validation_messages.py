"""pydantic's validation errors in Japanese, for every door that shows them
(the API's `detail`, the settings' one line per variable)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailer.i18n import N_, _

#: pydantic's error types in Japanese, for the people who read `detail` (the
#: admin's scripts and staff); a type not listed keeps pydantic's words after
#: a Japanese lead. Hand-written: pydantic ships no translations.
JA_ERRORS: dict[str, str] = {
    "missing": N_("必須の項目です"),
    "extra_forbidden": N_("この項目は受け付けていません"),
    "int_parsing": N_("整数で指定してください"),
    "int_type": N_("整数で指定してください"),
    "int_from_float": N_("整数で指定してください"),
    "bool_parsing": N_("true か false で指定してください"),
    "bool_type": N_("true か false で指定してください"),
    "string_type": N_("文字列で指定してください"),
    "list_type": N_("配列で指定してください"),
    "less_than_equal": N_("{le} 以下にしてください"),
    "greater_than_equal": N_("{ge} 以上にしてください"),
    "less_than": N_("{lt} より小さくしてください"),
    "greater_than": N_("{gt} より大きくしてください"),
    "string_too_long": N_("{max_length} 文字までです"),
    "string_too_short": N_("{min_length} 文字以上にしてください"),
    "too_long": N_("{max_length} 個までです"),
    "too_short": N_("{min_length} 個以上にしてください"),
    "string_pattern_mismatch": N_("使えない文字が含まれています"),
    "datetime_parsing": N_("日時として読めません（例：2026-12-01T09:00）"),
    "datetime_from_date_parsing": N_("日時として読めません（例：2026-12-01T09:00）"),
    "datetime_type": N_("日時として読めません（例：2026-12-01T09:00）"),
    "enum": N_("次のどれかで指定してください: {expected}"),
    "literal_error": N_("次のどれかで指定してください: {expected}"),
    "json_invalid": N_("JSON として読めません"),
    "model_attributes_type": N_("JSON のオブジェクトで指定してください"),
    "dict_type": N_("JSON のオブジェクトで指定してください"),
    "value_error": N_("値が正しくありません"),
}


def japanese(err: Mapping[str, Any]) -> str:
    """One validation error of pydantic, in Japanese."""
    template = JA_ERRORS.get(str(err.get("type", "")))
    if template is None:
        return _("値が正しくありません（{reason}）").format(reason=err.get("msg", ""))
    try:
        return _(template).format(**(err.get("ctx") or {}))
    except (KeyError, IndexError):
        return _(template)


