"""Who is acting: one person, whichever door they came through.

A staff member may sign in to the admin (session), call the API with a token
of theirs, or run the CLI naming themselves with `--as`. Rules that depend on
the person (the four-eyes rule on approval, the audit trail) compare
`Actor.person`, which is the user id when the person has an account, so a
session and a token of the same user are the same person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from mailer.models import User

Door = Literal["session", "token", "cli", "system"]


@dataclass(frozen=True)
class Actor:
    """The person behind a request: a staff user, or a named CLI operator
    without an account (`user_id` None)."""

    name: str  # what the audit log and the pages show (the user's email)
    user_id: int | None
    door: Door = "session"

    @property
    def person(self) -> str:
        """A key that is equal for two actors exactly when they are one person."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        return f"name:{self.name.strip().lower()}"


SYSTEM = Actor(name="system", user_id=None, door="system")


def person_key(user_id: int | None, name: str) -> str:
    """The `Actor.person` key of a stored (user id, name) pair."""
    return Actor(name=name, user_id=user_id).person


def cli_actor(*, engine: Engine, name: str) -> Actor:
    """Return the actor a CLI user names with `--as` (an email or a user's name).

    A name that matches a staff account (case-insensitively, by email) is
    that user, so the CLI and the web agree on who is who; any other name is
    an operator without an account.
    """
    wanted = name.strip()
    with Session(engine) as session:
        user = session.execute(
            select(User).where(func.lower(User.email) == wanted.lower())  # type: ignore[arg-type]
        ).scalar_one_or_none()
    if user is not None:
        return Actor(name=user.email, user_id=user.id, door="cli")
    return Actor(name=wanted, user_id=None, door="cli")
