"""Watching the statements an engine sends (tests)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event


class WriteCounter:
    """Counts INSERT/UPDATE/DELETE statements sent to the database."""

    def __init__(self, engine: Engine) -> None:
        self.writes: list[str] = []  # each with its whitespace collapsed
        event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.writes.append(" ".join(statement.split()))

    def on(self, table: str) -> list[str]:
        """The writes to `table`, as their first three words (`UPDATE issue_asset SET`)."""
        words = [w.split(" ")[:3] for w in self.writes]
        return [" ".join(w) for w in words if table in (w[1], w[2])]
