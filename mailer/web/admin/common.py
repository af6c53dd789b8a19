"""What every admin page shares: roles per action, the page environment,
Japanese labels, Tokyo time, and the response headers of admin pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from mailer.i18n import _
from mailer.i18n import install as install_catalogue
from mailer.labels import DELIVERY_LABELS, ROLE_LABELS, SEND_LABELS, SUBSCRIBER_LABELS, tokyo
from mailer.models import DeliveryStatus, SendStatus, UserRole
from mailer.render.html import TEMPLATES_DIR
from mailer.services.errors import ServiceError
from mailer.services.sends import can_approve, can_resend_failed
from mailer.web.auth import Principal, csrf_token
from mailer.web.service_errors import staff_message, status_of

TOKYO = ZoneInfo("Asia/Tokyo")

R = UserRole
#: who may do what; ADMIN is listed explicitly so the table reads whole
READ_SENDS = (R.VIEWER, R.EDITOR, R.APPROVER, R.LIST_ADMIN, R.ADMIN)
COMPOSE = (R.EDITOR, R.ADMIN)  # upload issues, test-send, schedule
CONTROL = (R.EDITOR, R.ADMIN)  # pause, resume, cancel, resend-failed
APPROVE = (R.APPROVER, R.ADMIN)
READ_SUBSCRIBERS = (R.VIEWER, R.LIST_ADMIN, R.ADMIN)
EDIT_SUBSCRIBERS = (R.LIST_ADMIN, R.ADMIN)  # create, edit, import, export

#: admin pages run one script of ours (the progress poller) and frame only
#: `srcdoc` previews, which inherit this policy: no script runs inside them
ADMIN_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' {origin}; "
    "style-src 'unsafe-inline'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
ADMIN_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


def duration(seconds: float | None) -> str:
    """Return a Japanese duration ("3分20秒"), "—" for None."""
    if seconds is None:
        return "—"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return _("{h}時間{m}分").format(h=h, m=m)
    return _("{m}分{s}秒").format(m=m, s=sec) if m else _("{s}秒").format(s=sec)


def datetime_local(value: datetime | None) -> str:
    """Return `value` as a `datetime-local` input's value in Tokyo time ("" for None)."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")


def admin_environment(*, site_name: str) -> jinja2.Environment:
    """Return the Jinja2 environment of `templates/admin/` (autoescape, strict)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    install_catalogue(env)
    env.globals.update(
        site_name=site_name, send_labels=SEND_LABELS, delivery_labels=DELIVERY_LABELS,
        subscriber_labels=SUBSCRIBER_LABELS, role_labels=ROLE_LABELS,
        SendStatus=SendStatus, DeliveryStatus=DeliveryStatus,
        # whether resend-failed has anything to do: the service's rule, not the template's
        can_resend_failed=can_resend_failed,
    )
    env.filters["tokyo"] = tokyo
    env.filters["duration"] = duration
    env.filters["datetime_local"] = datetime_local
    return env


def admin_csp(request: Request) -> str:
    base = request.app.state.web.settings.base_url
    origin = "/".join(base.split("/")[:3])
    return ADMIN_CSP.format(origin=origin)


def admin_page(
    request: Request, principal: Principal | None, name: str, *, status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Return `templates/admin/{name}.html.j2` rendered for `principal`."""
    env: jinja2.Environment = request.app.state.admin_pages
    html = env.get_template(f"admin/{name}.html.j2").render(
        principal=principal, csrf=csrf_token(request) if principal else "",
        path=request.url.path, can=_can(principal), **context,
    )
    headers = {**ADMIN_HEADERS, "Content-Security-Policy": admin_csp(request)}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def admin_message(
    request: Request, principal: Principal | None, *, title: str, lines: list[str],
    status_code: int = 200, back: str = "/admin",
) -> HTMLResponse:
    """Return a page with one heading and a few paragraphs (errors, refusals)."""
    return admin_page(request, principal, "message", status_code=status_code, title=title,
                      lines=lines, back=back)


def admin_refusal(
    request: Request, principal: Principal | None, exc: ServiceError, *, title: str,
    back: str = "/admin",
) -> HTMLResponse:
    """The admin's one page for a refused request: the kind's status and the
    message as staff read it (field labels, never a field key)."""
    return admin_message(request, principal, status_code=status_of(exc), title=title,
                         lines=[staff_message(exc)], back=back)


def _can(principal: Principal | None) -> dict[str, Any]:
    """What the principal may do: by role, and `approve_send(s)` whether the
    four-eyes rule lets them approve send `s` (services.sends.can_approve)."""
    def any_of(roles: tuple[UserRole, ...]) -> bool:
        return principal is not None and any(principal.has(r) for r in roles)

    def approve_send(send: Any) -> bool:
        return principal is not None and can_approve(principal.as_actor(), send)

    return {
        "compose": any_of(COMPOSE), "control": any_of(CONTROL), "approve": any_of(APPROVE),
        "subscribers": any_of(READ_SUBSCRIBERS), "read": any_of(READ_SENDS),
        "edit_subscribers": any_of(EDIT_SUBSCRIBERS), "audit": any_of((R.ADMIN,)),
        "approve_send": approve_send,
    }


def parse_tokyo(text: str) -> datetime | None:
    """Return an aware datetime from a form's `datetime-local` value (Asia/Tokyo
    unless it carries an offset); None for an empty value. Raises ValueError."""
    text = text.strip()
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("/", "-"))
    return to_utc(value)


def to_utc(value: datetime) -> datetime:
    """Return `value` in UTC, reading a naive value as Asia/Tokyo.

    Raises ValueError for a time that cannot be expressed (year 1 or 9999 edges).
    """
    try:
        return (value if value.tzinfo else value.replace(tzinfo=TOKYO)).astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range") from None
