"""The result type every doctor check returns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True)
class Check:
    """One line of `mailer doctor`: what was checked, what was found, how to fix it."""

    status: Status
    name: str
    message: str
    fix: str = ""

    def line(self) -> str:
        """Return `status  name: message — fix` (no fix part when there is nothing to do)."""
        text = f"{self.status.value:<5}  {self.name}: {self.message}"
        return f"{text} — {self.fix}" if self.fix else text


def ok(name: str, message: str) -> Check:
    return Check(Status.OK, name, message)


def warn(name: str, message: str, fix: str) -> Check:
    return Check(Status.WARN, name, message, fix)


def error(name: str, message: str, fix: str) -> Check:
    return Check(Status.ERROR, name, message, fix)


def has_errors(checks: list[Check]) -> bool:
    return any(c.status is Status.ERROR for c in checks)
