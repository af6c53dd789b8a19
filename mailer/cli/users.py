"""Verbs for staff accounts and API tokens of the web admin.

Two typer apps, registered by mailer.cli.main as `users` and `tokens`. Every
change is written to the audit log as `cli:<login name>`.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

from mailer.cli.common import console, fail, open_engine, settings_or_exit, tokyo
from mailer.db import session_scope
from mailer.models import UserRole
from mailer.services.accounts import (
    AccountError,
    check_password,
    create_token,
    create_user,
    list_tokens,
    list_users,
    revoke_token,
    set_active,
    set_password,
)
from mailer.services.passwords import MIN_PASSWORD_LENGTH

users_app = typer.Typer(help="Staff accounts of the web admin.", no_args_is_help=True)
tokens_app = typer.Typer(help="REST API tokens.", no_args_is_help=True)

ROLE_HELP = "role (repeatable): " + ", ".join(r.value for r in UserRole)


def _engine() -> Engine:
    return open_engine(settings_or_exit())


def _actor() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = os.environ.get("USER", "unknown")
    return f"cli:{name}"


def _read_password(password_file: Path | None, *, email: str, name: str = "") -> str:
    """Return the new password from `password_file` (first line) or a hidden prompt,
    refusing a weak one (for the account `email`) before anything is written."""
    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--password-file {password_file}: cannot read it ({exc})")
        password = lines[0] if lines else ""
    else:
        password = typer.prompt(
            f"password (at least {MIN_PASSWORD_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
    try:
        check_password(password, user_inputs=(email, name))
    except AccountError as exc:
        fail(str(exc))
    return password


@users_app.command("create")
def users_create(
    email: str = typer.Argument(..., help="the login address"),
    role: list[UserRole] = typer.Option(..., "--role", help=ROLE_HELP),
    name: str = typer.Option("", "--name", help="display name"),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="read the password from this file's first line"
    ),
) -> None:
    """Create a user (the password is prompted for unless --password-file is given)."""
    password = _read_password(password_file, email=email, name=name)
    try:
        with session_scope(_engine()) as session:
            user = create_user(
                session=session,
                email=email,
                roles=role,
                password=password,
                name=name,
                actor=_actor(),
            )
            shown = f"user {user.email} ({user.roles})"
    except AccountError as exc:
        fail(str(exc))
    console.print(f"created {escape(shown)}")


@users_app.command("list")
def users_list() -> None:
    """Every user: address, name, roles, active, last login."""
    from sqlmodel import Session

    with Session(_engine()) as session:
        users = list_users(session=session)
    table = Table(title=f"{len(users)} users")
    for column in ("email", "name", "roles", "active", "last login"):
        table.add_column(column)
    for u in users:
        table.add_row(
            escape(u.email),
            escape(u.name),
            u.roles.replace(";", ", "),
            "yes" if u.active else "[red]disabled[/]",
            tokyo(u.last_login_at),
        )
    console.print(table)


@users_app.command("disable")
def users_disable(email: str = typer.Argument(...)) -> None:
    """Disable a user: their sessions end at once and their tokens stop working."""
    try:
        with session_scope(_engine()) as session:
            set_active(session=session, email=email, active=False, actor=_actor())
    except AccountError as exc:
        fail(str(exc))
    console.print(f"disabled {escape(email)}")


@users_app.command("enable")
def users_enable(email: str = typer.Argument(...)) -> None:
    """Enable a disabled user again."""
    try:
        with session_scope(_engine()) as session:
            set_active(session=session, email=email, active=True, actor=_actor())
    except AccountError as exc:
        fail(str(exc))
    console.print(f"enabled {escape(email)}")


@users_app.command("set-password")
def users_set_password(
    email: str = typer.Argument(...),
    password_file: Path | None = typer.Option(None, "--password-file"),
) -> None:
    """Replace a user's password (their sessions end)."""
    password = _read_password(password_file, email=email)
    try:
        with session_scope(_engine()) as session:
            set_password(session=session, email=email, password=password, actor=_actor())
    except AccountError as exc:
        fail(str(exc))
    console.print(f"password of {escape(email)} replaced")


@tokens_app.command("create")
def tokens_create(
    email: str = typer.Argument(..., help="the user the token acts for"),
    name: str = typer.Option(..., "--name", help="a unique name (shown in the audit log)"),
    role: list[UserRole] = typer.Option(..., "--role", help=ROLE_HELP),
) -> None:
    """Create an API token and print it once (only its SHA-256 hash is stored)."""
    try:
        with session_scope(_engine()) as session:
            _row, token = create_token(
                session=session, email=email, name=name, roles=role, actor=_actor()
            )
    except AccountError as exc:
        fail(str(exc))
    console.print(f"token {escape(name)} created; it is shown only this once:")
    print(token)  # plain stdout: safe to capture in a script


@tokens_app.command("list")
def tokens_list() -> None:
    """Every token: name, user, roles, created, last used, revoked."""
    from sqlmodel import Session

    with Session(_engine()) as session:
        rows = list_tokens(session=session)
    table = Table(title=f"{len(rows)} tokens")
    for column in ("name", "user", "roles", "created", "last used", "revoked"):
        table.add_column(column)
    for t, email in rows:
        table.add_row(
            escape(t.name),
            escape(email),
            t.roles.replace(";", ", "),
            tokyo(t.created_at),
            tokyo(t.last_used_at),
            tokyo(t.revoked_at),
        )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(name: str = typer.Argument(...)) -> None:
    """Revoke a token by name; requests carrying it are refused from now on."""
    try:
        with session_scope(_engine()) as session:
            revoke_token(session=session, name=name, actor=_actor())
    except AccountError as exc:
        fail(str(exc))
    console.print(f"revoked token {escape(name)}")
