"""Problems found in an issue folder.

An issue folder is accepted or refused as a whole: the parser collects every
problem it can find and raises them together, so an editor fixes a folder in
one round instead of one error at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailer.i18n import ngettext


@dataclass(frozen=True, order=True)
class Problem:
    """One problem: `file` is relative to the issue folder, `line` is 1-based."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class IssueFolderError(Exception):
    """Raised when an issue folder cannot be accepted; carries every problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(str(p) for p in self.problems)
        count = len(self.problems)
        head = ngettext("号のフォルダに問題が {count} 件あります：",
                        "号のフォルダに問題が {count} 件あります：", count).format(count=count)
        super().__init__(f"{head}\n{lines}")


class ProblemSink:
    """Collects problems for one file so helpers need not repeat its name."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems

    def add(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, max(line, 1), message))
