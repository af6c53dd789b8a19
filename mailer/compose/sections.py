"""The list-shaped `:::` blocks: participants and credits.

Participants (one list item per person):

    - 髙橋 一郎(髙橋)
      - 所属:武蔵野市
      - 役職:総務部長兼情報システム担当部長(CIO補佐、CDO、CISO補佐)

Credits (one list item per role):

    - 執筆者:山田 花子(デジタルサービス局 戦略部 戦略課)
    - 編集:佐藤 次郎(同上)
"""

from __future__ import annotations

import re

from markdown_it.tree import SyntaxTreeNode

from mailer.compose.document import Credit, Credits, Participant, Participants
from mailer.compose.errors import ProblemSink
from mailer.compose.inline import Line, first_line, split_lines
from mailer.i18n import _

# Block names an editor may write after ::: (Japanese first, English aliases).
CONTAINERS: dict[str, str] = {
    "リード": "lead",
    "lead": "lead",
    "参加者": "participants",
    "participants": "participants",
    "クレジット": "credits",
    "credits": "credits",
    "次回予告": "next_part",
    "next": "next_part",
}
SAME_AS_ABOVE = "(同上)"

_FIELDS = {
    "所属": "organisation",
    "organisation": "organisation",
    "役職": "titles",
    "titles": "titles",
    "略称": "short",
    "short": "short",
}
_KEY_RE = re.compile(r"^([^::]{1,20})\s*[::]\s*(.*)$")
_TRAILING_PAREN_RE = re.compile(r"^(.*?)\s*[((]([^(()()]*)[))]\s*$")


def _items(node: SyntaxTreeNode, name: str, sink: ProblemSink) -> list[list[Line]]:
    """Return the lines of each top-level list item in a container."""
    items: list[list[Line]] = []
    for child in node.children:
        if child.type != "bullet_list":
            sink.add(first_line(child),
                     _("::: {name} には箇条書き（- …）を 1 項目 1 件で書いてください")
                     .format(name=name))
            continue
        for item in child.children:
            items.append(_item_lines(item))
    return items


def _item_lines(node: SyntaxTreeNode) -> list[Line]:
    lines: list[Line] = []
    for child in node.children:
        if child.type == "paragraph":
            lines.extend(ln for ln in split_lines(child) if ln.text.strip())
        else:
            lines.extend(_item_lines(child))
    return lines


def participants_block(node: SyntaxTreeNode, sink: ProblemSink) -> Participants | None:
    """Return the participants of a `::: 参加者` block, or None if it is unusable."""
    people: list[Participant] = []
    shorts: dict[str, int] = {}
    for lines in _items(node, "参加者", sink):
        if not lines:
            continue
        head = lines[0]
        name_text = head.text.strip()
        m = _TRAILING_PAREN_RE.match(name_text)
        name, short = (m[1].strip(), m[2].strip()) if m else (name_text, "")
        values: dict[str, str] = {}
        for line in lines[1:]:
            kv = _KEY_RE.match(line.text.strip())
            field = _FIELDS.get(kv[1].strip()) if kv else None
            if kv is None or field is None:
                sink.add(
                    line.number,
                    _("参加者 {name}: 「所属:…」か「役職:…」のはずですが「{text}」です")
                    .format(name=name, text=line.text)
                )
                continue
            values[field] = kv[2].strip()
        short = values.get("short") or short or (name.split()[0] if name else "")
        missing = [
            jp for jp, key in (("所属", "organisation"), ("役職", "titles")) if not values.get(key)
        ]
        if not name:
            sink.add(head.number, _("参加者に氏名がありません"))
            continue
        if missing:
            sink.add(head.number, _("参加者 {name}: {missing}がありません").format(
                name=name, missing="、".join(missing)))
            continue
        if short in shorts:
            sink.add(
                head.number,
                _("参加者 {name}: 略称「{short}」は {line} 行目でもう使われています").format(
                    name=name, short=short, line=shorts[short]),
            )
            continue
        shorts[short] = head.number
        people.append(
            Participant(
                name=name, organisation=values["organisation"], titles=values["titles"], short=short
            )
        )
    if not people:
        sink.add(first_line(node), _("::: 参加者 に誰もいません"))
        return None
    return Participants(people=people)


def credits_block(node: SyntaxTreeNode, sink: ProblemSink) -> Credits | None:
    """Return the credits of a `::: クレジット` block, or None if it is unusable."""
    entries: list[Credit] = []
    for lines in _items(node, "クレジット", sink):
        if not lines:
            continue
        text = " ".join(ln.text.strip() for ln in lines)
        kv = _KEY_RE.match(text)
        paren = _TRAILING_PAREN_RE.match(kv[2]) if kv else None
        if kv is None or paren is None or not paren[1].strip() or not paren[2].strip():
            sink.add(lines[0].number, _("クレジットは「執筆者:氏名(所属)」の形で書いてください"
                                        "（「{text}」）").format(text=text))
            continue
        department = paren[2].strip()
        if department == "同上":
            if not entries:
                sink.add(lines[0].number, _("最初のクレジットは (同上) にできません"))
                continue
            department = SAME_AS_ABOVE
        entries.append(Credit(role=kv[1].strip(), name=paren[1].strip(), department=department))
    if not entries:
        sink.add(first_line(node), _("::: クレジット に誰もいません"))
        return None
    return Credits(entries=entries)
