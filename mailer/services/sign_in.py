"""Signing in and out of the admin, API tokens' use, and their audit rows.

The web decides nothing here: it asks `sign_in` with what the form held,
keeps the lockout counters (web/admin_auth/store.py, with the policy below)
and sets cookies. Every row these use cases write is written here.

What a stranger types is not trusted with the audit log. The address of a
failed or locked-out attempt is stored cut to `ATTEMPT_TEXT_MAX` characters
with "…". During a lockout, an attempt writes an `auth.login_locked` row only
when no such row names its client IP or its address in the last
`LOCK_SECONDS`; that row says so, so the auditor reading it knows further
attempts of that lockout are refused but not listed one by one. Every
locked row thus follows `MAX_FAILURES` `auth.login_failed` rows of its own
IP or address, which bounds the log however fast attempts come. (One row per
window, not a counter row updated in place: audit rows are never changed.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, or_, select
from sqlmodel import Session

from mailer.db import session_scope
from mailer.i18n import N_, _
from mailer.models import ApiToken, AuditLog, User, UserRole
from mailer.services.accounts import (
    authenticate,
    bump_session_epoch,
    parse_roles,
    record_audit,
    token_hash,
)
from mailer.services.actors import Actor
from mailer.services.errors import ErrorKind, ServiceError

#: lockout policy: MAX_FAILURES failures for one account, or from one client
#: IP, within WINDOW_SECONDS lock it out for LOCK_SECONDS
MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60
LOCK_SECONDS = 15 * 60
#: how much of an address typed into the login form the audit log keeps
ATTEMPT_TEXT_MAX = 64
#: API tokens record their last use at most this often (one write per minute, not per call)
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)

LOCKED = "auth.login_locked"
LOCKED_NOTE = N_("ロック中のため拒否。ロックが続く間、このIPアドレスとアカウントへの試行は"
                  "個別に記録しません")


def attempted(text: str) -> str:
    """Return an address typed by anyone, as the audit log keeps it: at most
    ATTEMPT_TEXT_MAX characters, a longer one cut and ended with "…" ("-" if empty)."""
    text = text.strip() or "-"
    return text if len(text) <= ATTEMPT_TEXT_MAX else text[: ATTEMPT_TEXT_MAX - 1] + "…"


@dataclass(frozen=True)
class SignedIn:
    """The person a login succeeded for (the web issues their session)."""

    user_id: int
    email: str
    session_epoch: int


def sign_in(*, engine: Engine, email: str, password: str, ip: str) -> SignedIn | None:
    """Check the address and password; return who signed in, or None.

    Writes `auth.login` or `auth.login_failed` (address shortened, see
    `attempted`) in the same transaction as the login time.
    """
    with session_scope(engine) as session:
        user = authenticate(session=session, email=email, password=password)
        if user is None or user.id is None:
            record_audit(session, actor=attempted(email), action="auth.login_failed",
                         target_type="user", target_id=attempted(email),
                         detail=_("IPアドレス {ip}").format(ip=ip))
            return None
        record_audit(session, actor=user.email, action="auth.login", target_type="user",
                     target_id=user.email, detail=_("IPアドレス {ip}").format(ip=ip))
        return SignedIn(user_id=user.id, email=user.email, session_epoch=user.session_epoch)


def note_locked_out(*, engine: Engine, email: str, ip: str, now: datetime | None = None) -> bool:
    """Record a login refused during a lockout, at most once per lockout for
    its IP and its address (see the module docstring); return True if a row
    was written."""
    now = now or datetime.now(UTC)
    account = attempted(email)
    detail = _("IPアドレス {ip}; {note}").format(ip=ip, note=_(LOCKED_NOTE))
    audit = AuditLog.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        seen = conn.execute(
            select(audit.c.id).where(
                audit.c.action == LOCKED,
                audit.c.at >= now - timedelta(seconds=LOCK_SECONDS),
                or_(audit.c.detail == detail, audit.c.target_id == account),
            ).limit(1)
        ).first()
        if seen is not None:
            return False
        record_audit(conn, actor=account, action=LOCKED, target_type="user",
                     target_id=account, detail=detail)
    return True


def sign_out(*, engine: Engine, actor: Actor) -> None:
    """Record that the actor logged out (the web forgets the session)."""
    record_audit(engine, actor=actor.name, action="auth.logout", target_type="user",
                 target_id=actor.name)


def sign_out_everywhere(*, engine: Engine, actor: Actor) -> int:
    """End every session of the actor's account; return the new session epoch.

    Raises ServiceError(FORBIDDEN) for an actor without a staff account.
    """
    if actor.user_id is None:
        raise ServiceError(_("この操作はスタッフのアカウントでのみ行えます。"),
                           kind=ErrorKind.FORBIDDEN)
    with session_scope(engine) as session:
        epoch = bump_session_epoch(session=session, user_id=actor.user_id)
        record_audit(session, actor=actor.name, action="auth.logout_everywhere",
                     target_type="user", target_id=actor.name)
    return epoch


@dataclass(frozen=True)
class TokenHolder:
    """Who an API token speaks for, and with which roles."""

    token_name: str
    user_id: int
    roles: frozenset[UserRole]


def token_holder(*, engine: Engine, token: str, now: datetime | None = None) -> TokenHolder | None:
    """Return the holder of a live token of an active user, else None.

    The token's roles are cut to what its owner holds today (an admin's are
    kept). Its last use is written at most once per TOKEN_TOUCH_INTERVAL.
    """
    now = now or datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        row = session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)  # type: ignore[arg-type]
            .where(ApiToken.token_hash == token_hash(token))  # type: ignore[arg-type]
        ).first()
        if row is None:
            return None
        api_token, user = row
        if api_token.revoked_at is not None or not user.active or user.id is None:
            return None
        last = api_token.last_used_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        if last is None or now - last > TOKEN_TOUCH_INTERVAL:
            api_token.last_used_at = now
            session.add(api_token)
            session.commit()
        user_roles = parse_roles(user.roles)
        roles = parse_roles(api_token.roles)
        if UserRole.ADMIN not in user_roles:
            roles = roles & user_roles
        return TokenHolder(token_name=api_token.name, user_id=user.id, roles=roles)
