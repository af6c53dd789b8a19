"""Helpers for the compose tests (imported by conftest and the tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.compose.errors import IssueFolderError
from mailer.compose.parse import parse_issue_folder


class IssueCopy:
    """A copy of the sample issue folder with helpers to edit it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def text(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8")

    def write(self, name: str, text: str) -> None:
        (self.folder / name).write_text(text, encoding="utf-8")

    def replace(self, name: str, old: str, new: str, count: int = 1) -> None:
        """Replace the first `count` occurrences of `old` (which must exist)."""
        text = self.text(name)
        assert old in text, f"{old!r} not in {name}"
        self.write(name, text.replace(old, new, count))

    def line_of(self, name: str, needle: str) -> int:
        """Return the 1-based line of the first line containing `needle`."""
        for number, line in enumerate(self.text(name).splitlines(), start=1):
            if needle in line:
                return number
        raise AssertionError(f"{needle!r} not in {name}")

    def problems(self) -> list[str]:
        """Return the problems of the folder as `file:line: message` strings."""
        with pytest.raises(IssueFolderError) as info:
            parse_issue_folder(self.folder)
        return [str(p) for p in info.value.problems]
