"""Whatever an editor types, the parser answers with a document or with problems."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.compose.document import IssueDocument
from mailer.compose.errors import IssueFolderError
from mailer.compose.parse import parse_issue_folder
from mailer.samples import SAMPLE_ISSUE_DIR

PIECES = [
    "\n", "\n\n", " ", "【髙橋】", "【誰か】", "―", "※", "開催日:",
    "令和8年10月15日", "令和3年2月30日",
    "## ", "### ", "# ", "::: 参加者\n", "::: リード\n", "::: クレジット\n", ":::\n", "::: 謎\n",
    "- ", "  - 所属:", "  - 役職:", "![", "](images/slide01.png)", "](images/none.png)", "]",
    "スライド6:", "[リンク](", "https://example.jp/", "/relative", ")", "**", "<b>", "</div>",
    "> ", "```\n", "***\n", "本文です。", "髙橋 健一(髙橋)", "執筆者:小林(同上)", "\\",
]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_any_body_gives_document_or_problems(pieces: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "vol04"
        shutil.copytree(SAMPLE_ISSUE_DIR, folder)
        text = (folder / "part2.md").read_text(encoding="utf-8")
        head = text[: text.index("\n---\n") + 5]
        body = head + "".join(pieces)
        (folder / "part2.md").write_text(body, encoding="utf-8")
        last_line = body.count("\n") + 1
        try:
            doc = parse_issue_folder(folder)
        except IssueFolderError as exc:
            assert exc.problems
            for problem in exc.problems:
                assert 1 <= problem.line <= last_line
                assert problem.file in ("part2.md", "issue.yaml")
        else:
            assert isinstance(doc, IssueDocument)
            assert doc.parts[1].blocks
