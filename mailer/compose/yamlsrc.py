"""YAML with line numbers, validated by pydantic models.

YAML is composed (not loaded) so every value keeps the line it came from, and
scalars stay strings unless they are plain integers or booleans: a date such as
2026-12-01 09:00 must reach our own parser untouched, never PyYAML's guesses.
"""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mailer.compose.errors import ProblemSink
from mailer.i18n import N_, _

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class YamlSource:
    """A YAML document turned into plain data plus a map from paths to lines."""

    def __init__(self, data: Any, lines: dict[Loc, int]) -> None:
        self.data = data
        self.lines = lines

    def line_of(self, loc: Loc, default: int = 1) -> int:
        """Return the line of `loc` or of its nearest ancestor."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return default


def compose_yaml(text: str, sink: ProblemSink, *, line_offset: int = 0) -> YamlSource | None:
    """Compose `text`; report a syntax error to `sink` and return None.

    `line_offset` is added to YAML's 0-based line numbers to get file lines
    (1 for a whole file, 2 for front matter after its opening ---).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + line_offset) if mark else line_offset
        sink.add(line, yaml_problem(str(exc.problem or exc)))
        return None
    except yaml.YAMLError as exc:
        sink.add(line_offset, yaml_problem(str(exc)))
        return None
    lines: dict[Loc, int] = {(): line_offset}
    if node is None:
        return YamlSource({}, lines)
    try:
        data = _convert(node, (), lines, line_offset, set())
    except _ShapeError as exc:
        sink.add(exc.line, f"YAML: {exc.message}")
        return None
    return YamlSource(data, lines)


class _ShapeError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


_constructor = yaml.SafeLoader("")


def _convert(node: yaml.Node, loc: Loc, lines: dict[Loc, int], offset: int, seen: set[int]) -> Any:
    line = node.start_mark.line + offset
    lines[loc] = line
    if id(node) in seen:
        # Aliases (*name) can make a structure refer to itself; editors never need them.
        raise _ShapeError(line, _("自分自身を含むエイリアス（*name）は使えません"))
    if isinstance(node, yaml.MappingNode):
        seen = seen | {id(node)}
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _ShapeError(key_node.start_mark.line + offset,
                                  _("キーはふつうの語で書いてください"))
            key = str(key_node.value)
            child = (*loc, key)
            result[key] = _convert(value_node, child, lines, offset, seen)
            lines[child] = key_node.start_mark.line + offset
        return result
    if isinstance(node, yaml.SequenceNode):
        seen = seen | {id(node)}
        return [_convert(item, (*loc, i), lines, offset, seen) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    if node.tag.endswith((":int", ":bool", ":null")):
        return _constructor.construct_object(node)
    return str(node.value)


def validate(model: type[M], source: YamlSource, sink: ProblemSink, *, what: str) -> M | None:
    """Return `source.data` validated as `model`, or report each error to `sink`.

    Messages name the field by its path, e.g. `publisher.contact_email` or
    `back_numbers[2].url` (list items counted from 1, as an editor counts),
    after `what` (e.g. "front matter: "; empty for a whole file).
    """
    if not isinstance(source.data, dict):
        sink.add(source.line_of(()), _("{what}「キー: 値」の形で書いてください").format(what=what))
        return None
    try:
        return model.model_validate(source.data)
    except ValidationError as exc:
        for err in exc.errors():
            loc: Loc = tuple(err["loc"])
            sink.add(source.line_of(loc), f"{what}{_field(loc)}: {_message(err)}")
        return None


def _field(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or _("（文書全体）")


#: pyyaml's syntax problems (English, matched by a phrase) as editors read
#: them; the first match wins.
_YAML_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("mapping values are not allowed", N_(
        "「:」の使い方が正しくありません（値に「: 」を含めるなら \"…\" で囲んでください）")),
    ("cannot start any token", N_("行頭などに使えない文字（タブなど）があります")),
    ("expected ':'", N_("「キー: 値」の「:」がありません")),
    ("found unexpected end of stream", N_("引用符などが閉じられないままファイルが終わっています")),
    ("while scanning a quoted scalar", N_("引用符が閉じられていません")),
    ("found undefined alias", N_("定義されていないエイリアス（*name）があります")),
    ("duplicate", N_("同じキーが 2 回あります")),
)


def yaml_problem(problem: str) -> str:
    """Return pyyaml's syntax `problem` as a Japanese text of the catalogue."""
    for phrase, message in _YAML_PROBLEMS:
        if phrase in problem:
            return _("YAML の書き方の誤り：{problem}").format(problem=_(message))
    return _("YAML の書き方が正しくありません（インデントや「:」、引用符を確かめてください）")


#: pydantic's error types that an issue's YAML meets, as editors read them;
#: a ValueError of ours already says why in the catalogue's words.
_PYDANTIC_PROBLEMS: dict[str, str] = {
    "missing": N_("必須の項目がありません"),
    "extra_forbidden": N_("知らないキーです"),
    "int_parsing": N_("整数で書いてください"),
    "int_type": N_("整数で書いてください"),
    "int_from_float": N_("整数で書いてください"),
    "greater_than": N_("{gt} より大きくしてください"),
    "greater_than_equal": N_("{ge} 以上にしてください"),
    "less_than_equal": N_("{le} 以下にしてください"),
    "string_type": N_("文字列で書いてください"),
    "string_too_short": N_("{min_length} 文字以上にしてください"),
    "string_too_long": N_("{max_length} 文字までです"),
    "string_pattern_mismatch": N_("使えない文字が含まれています"),
    "list_type": N_("箇条書き（- …）で書いてください"),
    "dict_type": N_("「キー: 値」の形で書いてください"),
    "model_type": N_("「キー: 値」の形で書いてください"),
    "model_attributes_type": N_("「キー: 値」の形で書いてください"),
    "bool_type": N_("true か false で書いてください"),
    "bool_parsing": N_("true か false で書いてください"),
}


def _message(err: Any) -> str:
    kind = err["type"]
    if err.get("input", "") is None and kind not in ("missing", "extra_forbidden"):
        return _("空です：コロンの後に値を書いてください")
    if kind == "value_error" and isinstance((err.get("ctx") or {}).get("error"), ValueError):
        return str(err["ctx"]["error"])
    template = _PYDANTIC_PROBLEMS.get(kind)
    if template is None:
        return _("値が正しくありません")
    try:
        return _(template).format(**(err.get("ctx") or {}))
    except (KeyError, IndexError):
        return _(template)
