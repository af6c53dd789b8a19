"""Shared fixtures of the admin and API tests (no tests here): a served app on
the seeded database, one user (and API token) per role, and helpers to start
a send without a worker."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from admin_support import hidden, login, make_token, make_user
from sqlalchemy import Engine, select, update
from web_support import Seeded

from mailer.db import session_scope
from mailer.delivery import ledger
from mailer.models import Delivery, DeliveryStatus, Send, SendStatus, UserRole
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services.sends import create_send
from mailer.settings import Settings

ROLES = {
    "editor": UserRole.EDITOR, "approver": UserRole.APPROVER, "list_admin": UserRole.LIST_ADMIN,
    "viewer": UserRole.VIEWER, "admin": UserRole.ADMIN,
}
PERSONAS = list(ROLES)


def email_of(persona: str) -> str:
    return f"{persona.replace('_', '-')}@metro.example.jp"


@dataclass
class Site:
    url: str
    engine: Engine
    seeded: Seeded
    settings: Settings
    tokens: dict[str, str]
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, persona: str | None = None) -> httpx.Client:
        """Return an httpx client, logged in as `persona` (anonymous if None)."""
        c = httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)
        self._clients.append(c)
        if persona is not None:
            login(c, self.url, email_of(persona))
        return c

    def api(self, persona: str | None) -> httpx.Client:
        """Return a client sending the persona's bearer token (none if None)."""
        headers = {"Authorization": f"Bearer {self.tokens[persona]}"} if persona else {}
        c = httpx.Client(base_url=self.url, timeout=30, headers=headers)
        self._clients.append(c)
        return c

    def close(self) -> None:
        for c in self._clients:
            c.close()


def add_personas(engine: Engine) -> dict[str, str]:
    """Create one user per role; return a bearer token per persona."""
    tokens = {}
    for persona, role in ROLES.items():
        make_user(engine, email=email_of(persona), roles=[role], name=persona)
        tokens[persona] = make_token(engine, email=email_of(persona), roles=[role],
                                     name=f"{persona}-token")
    return tokens


@pytest.fixture
def site(live_url: str, engine: Engine, seeded: Seeded, settings: Settings) -> Iterator[Site]:
    s = Site(url=live_url, engine=engine, seeded=seeded, settings=settings,
             tokens=add_personas(engine))
    try:
        yield s
    finally:
        s.close()


def part_ids(engine: Engine) -> list[int]:
    from mailer.models import Part

    with session_scope(engine) as session:
        return [p.id for p in session.execute(select(Part).order_by(Part.position)).scalars()]  # type: ignore[arg-type, misc]


def schedule(engine: Engine, *, part_id: int, lists: list[str], by: str = "someone") -> int:
    """Create a scheduled send directly (as the CLI would); return its id."""
    with session_scope(engine) as session:
        send = create_send(session=session, part_id=part_id, list_names=lists,
                           at=datetime(2030, 1, 1, tzinfo=UTC), created_by=by)
        assert send.id is not None
        return send.id


def start(engine: Engine, send_id: int) -> int:
    """Freeze the recipients and mark the send running, as the dispatcher does."""
    now = datetime.now(UTC)
    send_t = Send.__table__  # type: ignore[attr-defined]
    from mailer.models import SendList

    with engine.begin() as conn:
        part_id, = conn.execute(select(send_t.c.part_id).where(send_t.c.id == send_id)).one()
        sl = SendList.__table__  # type: ignore[attr-defined]
        list_ids = list(conn.execute(select(sl.c.list_id).where(sl.c.send_id == send_id))
                        .scalars())
        n = ledger.freeze_recipients(conn, send_id=send_id, part_id=part_id, list_ids=list_ids,
                                     now=now)
        conn.execute(update(send_t).where(send_t.c.id == send_id).values(
            status=SendStatus.RUNNING.value, started_at=now, recipients=n))
    return n


def set_outcome(engine: Engine, send_id: int, email: str, status: DeliveryStatus,
                error: str = "") -> None:
    d = Delivery.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(update(d).where(d.c.send_id == send_id, d.c.email == email).values(
            status=status.value, last_error=error, attempts=1,
            sent_at=datetime.now(UTC) if status is DeliveryStatus.SENT else None))


def finish(engine: Engine, send_id: int) -> None:
    send_t = Send.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(update(send_t).where(send_t.c.id == send_id).values(
            status=SendStatus.DONE.value, finished_at=datetime.now(UTC)))


def send_status(engine: Engine, send_id: int) -> tuple[str, str]:
    send_t = Send.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        row = conn.execute(select(send_t.c.status, send_t.c.approved_by)
                           .where(send_t.c.id == send_id)).one()
    return str(row.status), row.approved_by


def zip_folder(folder: Path, *, replace: dict[str, str] | None = None,
               prefix: str = "") -> bytes:
    """Return a zip of `folder` (files under `prefix/`), with some files' text replaced."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                rel = path.relative_to(folder).as_posix()
                data = path.read_bytes()
                if replace and rel in replace:
                    data = replace[rel].encode("utf-8")
                zf.writestr(f"{prefix}{rel}", data)
    return buf.getvalue()


def sample_zip(**kwargs: object) -> bytes:
    return zip_folder(SAMPLE_ISSUE_DIR, **kwargs)  # type: ignore[arg-type]


def post_form(client: httpx.Client, page: str, action: str,
              data: dict[str, object] | None = None) -> httpx.Response:
    """GET `page`, then POST `action` with its CSRF token and `data`."""
    r = client.get(page)
    assert r.status_code == 200, (page, r.status_code)
    return client.post(action, data={"csrf_token": hidden(r.text), **(data or {})})
