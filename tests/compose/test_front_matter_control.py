"""Control characters in front matter and issue.yaml (security issue #15,
item 5): refused where the file is read, as `file:line` of the key, in
Japanese, before anything is stored; `mailer issue load` prints exactly that."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from compose_helpers import IssueCopy
from typer.testing import CliRunner

from mailer.cli import app
from mailer.db import make_engine, upgrade

CR = "制御文字 CR (U+000D) は使えません（改行やタブを含まない 1 行で書いてください）"


@pytest.mark.parametrize(("key", "value", "says"), [
    ("subject", '"件名\\r\\nBcc: victim@example.com"', CR),
    ("subject", '"件名\\nFrom: boss@example.com"', "制御文字 LF (U+000A)"),
    ("preheader", '"前文\\u0000"', "制御文字 NUL (U+0000)"),
    ("title", '"タイトル\\u2028続き"', "制御文字 U+2028"),
    ("label", '"pa\\rrt1"', "制御文字 CR (U+000D)"),
    ("subject", '"請求書\\u202Efdp.exe"', "制御文字 U+202E（文字の向きを変える制御文字）"),
])
def test_front_matter_with_a_control_character_is_refused(issue: IssueCopy, key: str,
                                                          value: str, says: str) -> None:
    line = issue.line_of("part1.md", f"{key}:")
    text = issue.text("part1.md").splitlines(keepends=True)
    text[line - 1] = f"{key}: {value}\n"
    issue.write("part1.md", "".join(text))
    problems = issue.problems()
    assert any(p.startswith(f"part1.md:{line}: フロントマター: {key}: {says}") for p in problems), \
        problems


def test_issue_yaml_title_with_a_line_break_is_refused(issue: IssueCopy) -> None:
    line = issue.line_of("issue.yaml", "title:")
    text = issue.text("issue.yaml").splitlines(keepends=True)
    text[line - 1] = 'title: "座談会\\r\\nBcc: x@example.com"\n'
    issue.write("issue.yaml", "".join(text))
    assert f"issue.yaml:{line}: title: {CR}" in issue.problems()


def test_issue_load_names_the_file_and_line(issue: IssueCopy, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
            monkeypatch.delenv(key)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("MAILER_DATABASE_URL", url)
    upgrade(make_engine(url))
    line = issue.line_of("part1.md", "subject:")
    text = issue.text("part1.md").splitlines(keepends=True)
    text[line - 1] = 'subject: "【CIOフォーラム通信】\\r\\nBcc: victim@example.com"\n'
    issue.write("part1.md", "".join(text))
    result = CliRunner().invoke(app, ["issue", "load", str(issue.folder)])
    assert result.exit_code == 1
    assert f"{issue.folder / 'part1.md'}:{line}: フロントマター: subject: {CR}" in result.output
    assert "何も保存していません" in result.output
