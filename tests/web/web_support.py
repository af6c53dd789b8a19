"""Helpers for the web tests: serving the app, seeding, reading the database back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from mailer.compose.load import load_issue
from mailer.db import session_scope
from mailer.models import Issue, Membership, Part, Subscriber, SubscriberEvent
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services.actors import Actor
from mailer.services.publication import publish_part
from mailer.services.subscribers import ensure_list, upsert_subscribers
from mailer.settings import Settings, load_settings
from mailer.testing.webserver import serve_app
from mailer.web.app import create_app

SECRET = "web-test-secret-key-0123456789abcdef"
BASE_URL = "https://mailer.example.com"
LIST = "cio-forum"
OTHER_LIST = "cio-forum-seminar"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    # Explicit values so that MAILER_* variables of the machine do not leak in.
    values: dict[str, Any] = {
        "database_url": database_url, "secret_key": SECRET, "base_url": BASE_URL,
        "redis_url": None, "old_secret_keys": "",
    }
    return load_settings(**{**values, **overrides})


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """Run `create_app(settings)` under uvicorn in a thread; yield its base URL."""
    with serve_app(create_app(settings)) as url:
        yield url


@dataclass(frozen=True)
class Seeded:
    slug: str
    labels: list[str]
    titles: list[str]
    list_id: int
    other_list_id: int
    alice: int  # on LIST only
    bob: int  # on LIST and OTHER_LIST
    carol: int  # on LIST only


#: the editor who publishes in tests (no staff account: a CLI operator)
PUBLISHER = Actor(name="editor@metro.example.jp", user_id=None, door="cli")


def publish_all(engine: Engine) -> None:
    """Publish every part not yet public, as an editor would (the publish gate)."""
    with Session(engine) as session:
        ids = session.execute(
            select(Part.id).where(Part.published_at.is_(None))  # type: ignore[call-overload, union-attr]
        ).scalars().all()
    for part_id in ids:
        publish_part(engine=engine, actor=PUBLISHER, part_id=part_id)


def seed_web(engine: Engine) -> Seeded:
    with session_scope(engine) as session:
        load_issue(session=session, path=SAMPLE_ISSUE_DIR)
    with session_scope(engine) as session:
        upsert_subscribers(session=session, list_name=LIST, rows=[
            {"email": "alice@city-a.example.jp", "name": "青木 花子", "organisation": "武蔵野市"},
            {"email": "bob@city-b.example.jp", "name": "馬場 太郎", "organisation": "三鷹市"},
            {"email": "carol@city-c.example.jp", "name": "倉田 恵", "organisation": "府中市"},
        ])
        upsert_subscribers(session=session, list_name=OTHER_LIST,
                           rows=[{"email": "bob@city-b.example.jp"}])
        ids = {s.email.split("@")[0]: s.id for s in session.execute(select(Subscriber)).scalars()}
        list_id = ensure_list(session=session, name=LIST).id
        other_id = ensure_list(session=session, name=OTHER_LIST).id
        issue = session.execute(select(Issue)).scalars().one()
        parts = session.execute(
            select(Part).where(Part.issue_id == issue.id).order_by(Part.position)  # type: ignore[arg-type]
        ).scalars().all()
        labels = [p.label for p in parts]
        titles = [p.title for p in parts]
    assert list_id is not None and other_id is not None
    return Seeded(
        slug=issue.slug, labels=labels, titles=titles, list_id=list_id, other_list_id=other_id,
        alice=ids["alice"] or 0, bob=ids["bob"] or 0, carol=ids["carol"] or 0,
    )


@dataclass(frozen=True)
class SubscriberState:
    status: str
    format: str
    charset: str
    lists: frozenset[int]
    events: tuple[tuple[str, str, str], ...]  # (kind, source, detail), oldest first


def subscriber_state(engine: Engine, subscriber_id: int) -> SubscriberState:
    with Session(engine) as session:
        sub = session.get(Subscriber, subscriber_id)
        assert sub is not None
        lists = session.execute(
            select(Membership.list_id).where(Membership.subscriber_id == subscriber_id)  # type: ignore[call-overload]
        ).scalars().all()
        events = session.execute(
            select(SubscriberEvent).where(SubscriberEvent.subscriber_id == subscriber_id)  # type: ignore[arg-type]
            .order_by(SubscriberEvent.id)  # type: ignore[arg-type]
        ).scalars().all()
        return SubscriberState(
            status=str(sub.status), format=sub.format, charset=sub.charset,
            lists=frozenset(lists), events=tuple((e.kind, e.source, e.detail) for e in events),
        )


def event_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(SubscriberEvent)).scalar_one()


def hidden_field(html: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)
