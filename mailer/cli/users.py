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
from mailer.i18n import _
from mailer.labels import ROLE_LABELS
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

users_app = typer.Typer(help=_("管理画面のスタッフのアカウント。"), no_args_is_help=True)
tokens_app = typer.Typer(help=_("REST API のトークン。"), no_args_is_help=True)

ROLE_HELP = _("役割（繰り返し指定できます）: {roles}").format(
    roles=", ".join(r.value for r in UserRole))


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
            fail(_("--password-file {path}: 読めません（{reason}）").format(
                path=password_file, reason=exc))
        password = lines[0] if lines else ""
    else:
        password = typer.prompt(
            _("パスワード（{count} 文字以上）").format(count=MIN_PASSWORD_LENGTH),
            hide_input=True,
            confirmation_prompt=True,
        )
    try:
        check_password(password, user_inputs=(email, name))
    except AccountError as exc:
        fail(str(exc))
    return password


PASSWORD_FILE_HELP = _("パスワードをこのファイルの 1 行目から読みます")


@users_app.command("create", help=_(
    "ユーザーを作成します（--password-file がなければパスワードを尋ねます）。"))
def users_create(
    email: str = typer.Argument(..., help=_("ログインに使うアドレス")),
    role: list[UserRole] = typer.Option(..., "--role", help=ROLE_HELP),
    name: str = typer.Option("", "--name", help=_("表示名")),
    password_file: Path | None = typer.Option(
        None, "--password-file", help=PASSWORD_FILE_HELP
    ),
) -> None:
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
            shown = _("ユーザー {email}（{roles}）を作成しました").format(
                email=escape(user.email), roles=escape(_roles(user.roles)))
    except AccountError as exc:
        fail(str(exc))
    console.print(shown)


def _roles(stored: str) -> str:
    """`editor;approver` as staff read it: 編集、承認."""
    known = {role.value: role for role in UserRole}
    return _("、").join(ROLE_LABELS[known[r]] if r in known else r
                       for r in stored.split(";") if r)


@users_app.command("list", help=_(
    "すべてのユーザー: アドレス、名前、役割、有効か、最後のログイン。"))
def users_list() -> None:
    from sqlmodel import Session

    with Session(_engine()) as session:
        users = list_users(session=session)
    table = Table(title=_("ユーザー {count} 名").format(count=len(users)))
    for column in (_("メールアドレス"), _("名前"), _("役割"), _("有効"), _("最後のログイン")):
        table.add_column(column)
    for u in users:
        table.add_row(
            escape(u.email),
            escape(u.name),
            _roles(u.roles),
            _("はい") if u.active else "[red]" + _("無効") + "[/]",
            tokyo(u.last_login_at),
        )
    console.print(table)


EMAIL = typer.Argument(..., help=_("ユーザーのメールアドレス"))


@users_app.command("disable", help=_(
    "ユーザーを無効にします: セッションはすぐに終わり、トークンも使えなくなります。"))
def users_disable(email: str = EMAIL) -> None:
    try:
        with session_scope(_engine()) as session:
            set_active(session=session, email=email, active=False, actor=_actor())
    except AccountError as exc:
        fail(str(exc))
    console.print(_("{email} を無効にしました").format(email=escape(email)))


@users_app.command("enable", help=_("無効にしたユーザーを再び有効にします。"))
def users_enable(email: str = EMAIL) -> None:
    try:
        with session_scope(_engine()) as session:
            set_active(session=session, email=email, active=True, actor=_actor())
    except AccountError as exc:
        fail(str(exc))
    console.print(_("{email} を有効にしました").format(email=escape(email)))


@users_app.command("set-password", help=_(
    "ユーザーのパスワードを置き換えます（そのユーザーのセッションは終わります）。"))
def users_set_password(
    email: str = EMAIL,
    password_file: Path | None = typer.Option(
        None, "--password-file", help=PASSWORD_FILE_HELP),
) -> None:
    password = _read_password(password_file, email=email)
    try:
        with session_scope(_engine()) as session:
            set_password(session=session, email=email, password=password, actor=_actor())
    except AccountError as exc:
        fail(str(exc))
    console.print(_("{email} のパスワードを置き換えました").format(email=escape(email)))


@tokens_app.command("create", help=_(
    "API トークンを作成し、一度だけ表示します（保存するのは SHA-256 のハッシュだけです）。"))
def tokens_create(
    email: str = typer.Argument(..., help=_("トークンが代わりに操作するユーザー")),
    name: str = typer.Option(..., "--name", help=_("重複しない名前（監査ログに出ます）")),
    role: list[UserRole] = typer.Option(..., "--role", help=ROLE_HELP),
) -> None:
    try:
        with session_scope(_engine()) as session:
            _row, token = create_token(
                session=session, email=email, name=name, roles=role, actor=_actor()
            )
    except AccountError as exc:
        fail(str(exc))
    console.print(_("トークン {name} を作成しました。表示するのはこの一度だけです:").format(
        name=escape(name)))
    print(token)  # plain stdout: safe to capture in a script


@tokens_app.command("list", help=_(
    "すべてのトークン: 名前、ユーザー、役割、作成、最後の使用、失効。"))
def tokens_list() -> None:
    from sqlmodel import Session

    with Session(_engine()) as session:
        rows = list_tokens(session=session)
    table = Table(title=_("トークン {count} 件").format(count=len(rows)))
    for column in (_("名前"), _("ユーザー"), _("役割"), _("作成"), _("最後の使用"), _("失効")):
        table.add_column(column)
    for t, email in rows:
        table.add_row(
            escape(t.name),
            escape(email),
            _roles(t.roles),
            tokyo(t.created_at),
            tokyo(t.last_used_at),
            tokyo(t.revoked_at),
        )
    console.print(table)


@tokens_app.command("revoke", help=_(
    "名前でトークンを失効させます。これ以降、そのトークンを持つ要求は断られます。"))
def tokens_revoke(name: str = typer.Argument(..., help=_("トークンの名前"))) -> None:
    try:
        with session_scope(_engine()) as session:
            revoke_token(session=session, name=name, actor=_actor())
    except AccountError as exc:
        fail(str(exc))
    console.print(_("トークン {name} を失効させました").format(name=escape(name)))
