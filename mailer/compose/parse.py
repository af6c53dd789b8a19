"""Parse an issue folder into an `IssueDocument`.

    vol04/
      issue.yaml        number, title, series, publisher, back_numbers
      part1.md          front matter + body, one file per part
      part2.md
      images/           header images, slides, photos

The folder is accepted or refused as a whole: every problem is collected and
raised together in `IssueFolderError`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.front_matter import front_matter_plugin

from mailer.compose.blocks import parse_body
from mailer.compose.document import BackNumber, IssueDocument, PartDocument, Publisher
from mailer.compose.errors import IssueFolderError, Problem, ProblemSink
from mailer.compose.schemas import FrontMatterIn, IssueFileIn
from mailer.compose.yamlsrc import compose_yaml, validate
from mailer.i18n import N_, _

ISSUE_FILE = "issue.yaml"
_PART_RE = re.compile(r"^part(\d+)\.md$")


def markdown() -> MarkdownIt:
    """Return the Markdown parser: CommonMark, raw HTML off (it stays text),
    YAML front matter, and `:::` blocks of any name (unknown names are
    reported by the body parser rather than left as stray text)."""
    md = MarkdownIt("commonmark", {"html": False})
    md.use(front_matter_plugin)
    md.use(container_plugin, name="block", validate=lambda _params, _markup: True)
    return md


def parse_issue_folder(path: Path) -> IssueDocument:
    """Return the issue in folder `path` (its name is the issue's slug).

    Raises IssueFolderError listing every problem found, in file order.
    """
    folder = Path(path)
    problems: list[Problem] = []
    if not folder.is_dir():
        raise IssueFolderError([Problem(str(folder), 1, _("号のフォルダがありません"))])
    if (folder / ISSUE_FILE).is_file() or any(_PART_RE.match(p.name) for p in folder.iterdir()):
        # (not in a folder that is no issue at all, e.g. `mailer issue load ~`:
        # walking all of it took long and listed links from everywhere)
        problems.extend(_links_out_of(folder))
    issue = _issue_file(folder, problems)
    part_files = sorted(
        (int(m[1]), p) for p in folder.iterdir() if p.is_file() and (m := _PART_RE.match(p.name))
    )
    if not part_files:
        problems.append(Problem(ISSUE_FILE, 1, _(
            "配信回のファイルがありません：part1.md、part2.md … を置いてください")))
    parts: list[PartDocument] = []
    labels: dict[str, str] = {}
    for _number, file in part_files:
        part = parse_part_file(folder, file, problems, labels)
        if part is not None:
            parts.append(part)
    if problems or issue is None:
        raise IssueFolderError(sorted(problems, key=lambda p: (_file_order(p.file), p.line)))
    return IssueDocument(
        slug=folder.name,
        number=issue.number,
        title=issue.title,
        series=issue.series,
        publisher=Publisher(**issue.publisher.model_dump()),
        back_numbers=[BackNumber(**b.model_dump()) for b in issue.back_numbers],
        parts=parts,
    )


LINK_OUT_OF_FOLDER = N_("号のフォルダの外を指すシンボリックリンクは使えません"
                        "（ファイルそのものをフォルダに置いてください）")


def _links_out_of(folder: Path) -> list[Problem]:
    """Return a problem for each symbolic link in `folder` that leads outside it.

    A link inside the folder is fine (e.g. a shared header image); one that
    leaves it would store, and publish, a file the issue's author never put
    there (/etc/passwd as images/x.png).
    """
    root = folder.resolve()
    problems = []
    for dirpath, dirnames, filenames in os.walk(folder):  # does not follow links
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                rel = path.relative_to(folder).as_posix()
                problems.append(Problem(rel, 1, _(LINK_OUT_OF_FOLDER)))
    return problems


def _file_order(name: str) -> tuple[int, str]:
    if name == ISSUE_FILE:
        return (0, name)
    m = _PART_RE.match(name)
    return (int(m[1]), name) if m else (1 << 30, name)


def _issue_file(folder: Path, problems: list[Problem]) -> IssueFileIn | None:
    sink = ProblemSink(ISSUE_FILE, problems)
    file = folder / ISSUE_FILE
    if not file.is_file():
        sink.add(1, _("{file} がありません").format(file=ISSUE_FILE))
        return None
    text = _read(file, sink)
    if text is None:
        return None
    source = compose_yaml(text, sink, line_offset=1)
    if source is None:
        return None
    return validate(IssueFileIn, source, sink, what="")


def _read(file: Path, sink: ProblemSink) -> str | None:
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        sink.add(1, _("UTF-8 のテキストではありません（{offset} バイト目）。"
                      "UTF-8 で保存してください").format(offset=exc.start))
        return None


#: how deep Markdown may nest (a magazine needs a handful); the renderers walk
#: the tree recursively, so a deeper one would end in a RecursionError
MAX_DEPTH = 40


def _first_too_deep(tokens: list[Token]) -> int | None:
    """Return the file line where the Markdown first nests deeper than
    MAX_DEPTH (blocks and the inline runs inside them), or None."""
    depth = 0
    for token in tokens:
        depth += token.nesting
        line = (token.map[0] + 1) if token.map else 1
        if depth > MAX_DEPTH:
            return line
        inline = depth
        for child in token.children or ():
            inline += child.nesting
            if inline > MAX_DEPTH:
                return line
    return None


def parse_part_file(
    folder: Path, file: Path, problems: list[Problem], labels: dict[str, str]
) -> PartDocument | None:
    """Return one part, or None after adding its problems to `problems`.

    `labels` maps each label seen so far to its file, to catch duplicates.
    """
    name = file.relative_to(folder).as_posix()
    sink = ProblemSink(name, problems)
    before = len(problems)
    text = _read(file, sink)
    if text is None:
        return None
    if not text.endswith("\n"):
        # mdit-py-plugins' container rule can index past the end of a source
        # that ends inside a quote without a newline.
        text += "\n"
    try:
        tokens = markdown().parse(text)
    except IndexError:  # a plugin bug must not crash the whole folder
        sink.add(1, _("Markdown を読めませんでした：::: のブロックと引用（>）を確かめてください"))
        return None
    # Measured on the flat token stream before markdown-it-py builds its tree
    # (recursively: 50,000 nested emphases took seconds to fail there).
    too_deep = _first_too_deep(tokens)
    if too_deep is not None:
        sink.add(too_deep,
                 _("Markdown の入れ子（強調・リンク・引用）が深すぎます（{max} 段まで）")
                 .format(max=MAX_DEPTH))
        return None
    root = SyntaxTreeNode(tokens)
    matter = next((n for n in root.children if n.type == "front_matter"), None)
    front: FrontMatterIn | None = None
    if matter is None:
        sink.add(1, _("フロントマターがありません：ファイルを --- で始め、"
                      "label・title・subject を書いてください"))
    else:
        source = compose_yaml(matter.content, sink, line_offset=2)
        if source is not None:
            front = validate(FrontMatterIn, source, sink, what=_("フロントマター: "))
            if front is not None:
                other = labels.get(front.label)
                if other is not None:
                    line = source.line_of(("label",))
                    sink.add(
                        line,
                        _("フロントマター: label: 配信回のラベル「{label}」が重複しています"
                          "（{other} にもあります）").format(label=front.label, other=other),
                    )
                else:
                    labels[front.label] = name
    body = parse_body(root, folder, sink)
    if not body.blocks:
        end = matter.map[1] if matter is not None and matter.map else 1
        sink.add(end, _("配信回が空です：フロントマターの後に本文がありません"))
    if front is None or len(problems) > before:
        return None
    return PartDocument(
        label=front.label,
        title=front.title,
        subject=front.subject,
        preheader=front.preheader,
        scheduled_at=front.scheduled_at,
        header_image=body.header_image,
        blocks=body.blocks,
        source_file=name,
    )
