"""Staff accounts and API tokens: create, authenticate, disable, revoke; the audit log.

Keyword-only functions receiving the session; they never commit (the caller's
`session_scope` does). Every change writes an AuditLog row naming `actor`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.orm import Session
from sqlmodel import col

from mailer.i18n import _
from mailer.models import ApiToken, AuditLog, User, UserRole
from mailer.services.passwords import password_problem

TOKEN_PREFIX = "mlr_"

_hasher = PasswordHasher()
# Verified against when the account does not exist, so that an unknown address
# costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A refused account or token change; the message says why (one line)."""


# -- roles and passwords -------------------------------------------------------------


def parse_roles(text: str) -> frozenset[UserRole]:
    """Return the roles of a ";"-separated column value (unknown names are ignored)."""
    known = {r.value: r for r in UserRole}
    return frozenset(known[p.strip()] for p in text.split(";") if p.strip() in known)


def roles_text(roles: Iterable[UserRole | str]) -> str:
    """Return the column value for `roles` (sorted, ";"-separated).

    Raises AccountError for a name that is not a UserRole.
    """
    out = set()
    for role in roles:
        try:
            out.add(UserRole(role).value)
        except ValueError:
            names = ", ".join(r.value for r in UserRole)
            raise AccountError(_("知らない役割「{role}」です（使えるもの：{names}）").format(
                role=role, names=names)) from None
    return ";".join(sorted(out))


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password(password: str, *, user_inputs: Iterable[str] = ()) -> None:
    """Raise AccountError (a Japanese message saying why) if the password is too
    short, common or a trivial pattern (`mailer.services.passwords`);
    `user_inputs` are the account's address and name."""
    problem = password_problem(password, user_inputs=user_inputs)
    if problem is not None:
        raise AccountError(problem)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False


# -- audit ---------------------------------------------------------------------------


def record_audit(conn_or_session: Session | Connection | Engine, *, actor: str, action: str,
                 target_type: str, target_id: str | int, detail: str = "") -> None:
    """Write one AuditLog row in the caller's transaction (a Session or Connection:
    committed with it) or, given an Engine, in a transaction of its own."""
    values: dict[str, Any] = {
        "at": datetime.now(UTC), "actor": actor, "action": action,
        "target_type": target_type, "target_id": str(target_id), "detail": detail,
    }
    if isinstance(conn_or_session, Session):
        conn_or_session.add(AuditLog(**values))
    elif isinstance(conn_or_session, Connection):
        conn_or_session.execute(insert(AuditLog.__table__).values(**values))  # type: ignore[attr-defined]
    else:
        with conn_or_session.begin() as conn:
            conn.execute(insert(AuditLog.__table__).values(**values))  # type: ignore[attr-defined]


def note_audit_export(*, engine: Engine, actor: str, actor_filter: str,
                      action_filter: str) -> None:
    """Record that `actor` exported the audit log with these filters (the export is audited)."""
    record_audit(engine, actor=actor, action="audit.export", target_type="audit_log",
                 target_id="-", detail=_("実行者の絞り込み「{actor}」、操作の絞り込み「{action}」")
                 .format(
                     actor=actor_filter, action=action_filter))


# -- users ---------------------------------------------------------------------------


def get_user(*, session: Session, email: str) -> User | None:
    return session.execute(
        select(User).where(User.email == normalise_email(email))  # type: ignore[arg-type]
    ).scalars().first()


def _user_or_error(session: Session, email: str) -> User:
    user = get_user(session=session, email=email)
    if user is None:
        raise AccountError(_("ユーザー {email} はいません").format(email=normalise_email(email)))
    return user


def create_user(*, session: Session, email: str, roles: Iterable[UserRole | str],
                password: str, name: str = "", actor: str) -> User:
    """Create an active user; return it (with its id).

    Raises AccountError for a malformed or taken address, an unknown role,
    no role at all, or a weak password.
    """
    email = normalise_email(email)
    local, _at, domain = email.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in email):
        raise AccountError(_("「{email}」はメールアドレスではありません").format(email=email))
    text = roles_text(roles)
    if not text:
        raise AccountError(_("役割を 1 つ以上指定してください"))
    check_password(password, user_inputs=(email, name))
    if get_user(session=session, email=email) is not None:
        raise AccountError(_("ユーザー {email} はもういます").format(email=email))
    user = User(email=email, name=name, password_hash=hash_password(password), roles=text)
    session.add(user)
    session.flush()
    record_audit(session, actor=actor, action="user.create", target_type="user",
                 target_id=email, detail=_("役割: {roles}").format(roles=text))
    return user


def provision_user(*, session: Session, email: str, roles: Iterable[UserRole | str],
                   password: str, actor: str, name: str = "") -> User:
    """Create the user, or reset an existing one: active, exactly `roles`, this
    password, every old session ended. Return it. Used where a setup step hands
    out an account (`mailer demo --serve`). Raises AccountError as create_user."""
    user = get_user(session=session, email=email)
    if user is None:
        return create_user(session=session, email=email, roles=roles, password=password,
                           name=name, actor=actor)
    text = roles_text(roles)
    if not text:
        raise AccountError(_("役割を 1 つ以上指定してください"))
    set_password(session=session, email=email, password=password, actor=actor)
    set_active(session=session, email=email, active=True, actor=actor)
    if user.roles != text:
        user.roles = text
        session.add(user)
        record_audit(session, actor=actor, action="user.roles", target_type="user",
                     target_id=user.email, detail=_("役割: {roles}").format(roles=text))
    return user


def list_users(*, session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.email)).scalars())  # type: ignore[arg-type]


def set_active(*, session: Session, email: str, active: bool, actor: str) -> User:
    """Enable or disable a user; disabling also ends every session of theirs.

    Raises AccountError for an unknown user.
    """
    user = _user_or_error(session, email)
    if user.active != active:
        user.active = active
        if not active:
            user.session_epoch += 1
        session.add(user)
        record_audit(session, actor=actor, action="user.enable" if active else "user.disable",
                     target_type="user", target_id=user.email)
    return user


def set_password(*, session: Session, email: str, password: str, actor: str) -> User:
    """Replace a user's password and end their sessions. Raises AccountError."""
    user = _user_or_error(session, email)
    check_password(password, user_inputs=(user.email, user.name))
    user.password_hash = hash_password(password)
    user.session_epoch += 1
    session.add(user)
    record_audit(session, actor=actor, action="user.password", target_type="user",
                 target_id=user.email)
    return user


def bump_session_epoch(*, session: Session, user_id: int) -> int:
    """End every session of the user (the caller may issue a fresh one); return the epoch."""
    user = session.get(User, user_id)
    if user is None:
        raise AccountError(_("ID {user_id} のユーザーはいません").format(user_id=user_id))
    user.session_epoch += 1
    session.add(user)
    session.flush()
    return user.session_epoch


def authenticate(*, session: Session, email: str, password: str) -> User | None:
    """Return the active user with this address and password, else None (the same
    work is done for an unknown address, a disabled user and a wrong password)."""
    user = get_user(session=session, email=email)
    ok = verify_password(user.password_hash if user is not None else "", password)
    if user is None or not ok or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = datetime.now(UTC)
    session.add(user)
    return user


# -- API tokens ----------------------------------------------------------------------


def token_hash(token: str) -> str:
    """Return the stored form of an API token (SHA-256 hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(*, session: Session, email: str, name: str, roles: Iterable[UserRole | str],
                 actor: str) -> tuple[ApiToken, str]:
    """Create a token for a user; return (the row, the token itself, shown only once).

    Raises AccountError for an unknown or disabled user, an empty or taken
    name, or roles the user does not hold.
    """
    name = name.strip()
    if not name:
        raise AccountError(_("トークンに名前を付けてください"))
    user = _user_or_error(session, email)
    if not user.active:
        raise AccountError(_("ユーザー {email} は無効にされています").format(email=user.email))
    text = roles_text(roles)
    if not text:
        raise AccountError(_("役割を 1 つ以上指定してください"))
    held = parse_roles(user.roles)
    if UserRole.ADMIN not in held:
        extra = parse_roles(text) - held
        if extra:
            missing = ", ".join(sorted(r.value for r in extra))
            raise AccountError(_("ユーザー {email} は次の役割を持っていません：{missing}").format(
                email=user.email, missing=missing))
    taken = session.execute(
        select(ApiToken.id).where(ApiToken.name == name,  # type: ignore[call-overload]
                                  ApiToken.revoked_at.is_(None))  # type: ignore[union-attr]
    ).first()
    if taken is not None:
        raise AccountError(_("トークン「{name}」はもうあります").format(name=name))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert user.id is not None
    row = ApiToken(user_id=user.id, name=name, token_hash=token_hash(token), roles=text)
    session.add(row)
    session.flush()
    record_audit(session, actor=actor, action="token.create", target_type="token",
                 target_id=name, detail=_("ユーザー: {email}、役割: {roles}").format(
                     email=user.email, roles=text))
    return row, token


def list_tokens(*, session: Session) -> list[tuple[ApiToken, str]]:
    """Return every token with its owner's address, newest first."""
    rows = session.execute(
        select(ApiToken, col(User.email)).join(User, col(User.id) == col(ApiToken.user_id))
        .order_by(col(ApiToken.id).desc())
    ).all()
    return [(t, e) for t, e in rows]


def revoke_token(*, session: Session, name: str, actor: str) -> int:
    """Revoke the live token called `name`; return how many were revoked.

    Raises AccountError if there is none.
    """
    rows = session.execute(
        select(ApiToken).where(ApiToken.name == name.strip(),  # type: ignore[arg-type]
                               ApiToken.revoked_at.is_(None))  # type: ignore[union-attr]
    ).scalars().all()
    if not rows:
        raise AccountError(_("有効なトークン「{name}」はありません").format(name=name))
    now = datetime.now(UTC)
    for row in rows:
        row.revoked_at = now
        session.add(row)
    record_audit(session, actor=actor, action="token.revoke", target_type="token",
                 target_id=name.strip())
    return len(rows)
