"""The part as the product renders it: prepared once, one personalised sample.

The ceiling sends the sample's bytes; the naive design gets the rendered
text and HTML (with slot markers) and builds its own MIME message per task.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, update

from mailer.compose.stored import load_documents
from mailer.delivery.verp import make_return_path
from mailer.models import Part
from mailer.render.message import PreparedPart, Recipient, Slots, personalize, prepare_part
from mailer.runtime import delivery_config, render_config
from mailer.settings import Settings
from mailer.tokens import message_id, unsubscribe_token


@dataclass(frozen=True)
class RenderedSample:
    prepared: PreparedPart
    data: bytes  # one complete personalised message (html+text, utf-8)
    envelope_from: str
    prepare_seconds: float

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def text_bytes(self) -> int:
        return len(self.prepared.text.encode())

    @property
    def html_bytes(self) -> int:
        return len(self.prepared.html.encode())


RECIPIENT = Recipient(email="cio0000000@city000.example.jp", name="髙橋 太郎0")


def _sample_slots(settings: Settings, part_id: int) -> Slots:
    cfg = delivery_config(settings)
    token = unsubscribe_token(cfg.secrets, subscriber_id=1, list_id=1)
    return Slots(
        message_id=message_id(
            delivery_id=1, part_id=part_id, secret=cfg.secrets[-1], domain=cfg.message_id_domain
        ),
        unsubscribe_url=f"{cfg.base_url}/u/{token}",
        unsubscribe_mailto=f"mailto:unsubscribe+{token}@{cfg.return_path_domain}",
        preferences_url=f"{cfg.base_url}/p/{token}",
        date=datetime.now(UTC),
    )


def render_sample(engine: Engine, settings: Settings, part_id: int) -> RenderedSample:
    import time

    t0 = time.perf_counter()
    issue, part = load_documents(engine, part_id)
    prepared = prepare_part(issue=issue, part=part, config=render_config(settings))
    seconds = time.perf_counter() - t0
    data = personalize(prepared, RECIPIENT, _sample_slots(settings, part_id))
    cfg = delivery_config(settings)
    envelope_from = make_return_path(
        1, secret=cfg.secrets[-1].encode(), domain=cfg.return_path_domain
    )
    return RenderedSample(prepared, data, envelope_from, seconds)


def trim_part(engine: Engine, settings: Settings, part_id: int, max_bytes: int) -> int:
    """Cut the stored part to its longest run of leading blocks whose
    personalised message (both formats) is at most `max_bytes`; return how
    many blocks it keeps. The header, lead and footer stay, so the part keeps
    the magazine's shape at the size the benchmark asks for."""
    issue, part = load_documents(engine, part_id)
    slots = _sample_slots(settings, part_id)
    config = render_config(settings)

    def size(k: int) -> int:
        cut = part.model_copy(update={"blocks": part.blocks[:k]})
        prepared = prepare_part(issue=issue, part=cut, config=config)
        return len(personalize(prepared, RECIPIENT, slots))

    lo, hi = 1, len(part.blocks)  # find the largest k with size(k) <= max_bytes
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(mid) <= max_bytes:
            lo = mid
        else:
            hi = mid - 1
    cut = part.model_copy(update={"blocks": part.blocks[:lo]})
    with engine.begin() as conn:
        conn.execute(
            update(Part).where(Part.id == part_id).values(document=cut.model_dump_json())  # type: ignore[arg-type]
        )
    return lo


def write_naive_template(sample: RenderedSample, settings: Settings, path: Path) -> Path:
    """What the naive worker loads once per process: subject, bodies, headers."""
    p = sample.prepared
    path.write_text(
        json.dumps(
            {
                "subject": p.subject,
                "text": p.text,
                "html": p.html,
                "from": settings.from_,
                "list_id": f"{settings.list_name} <{settings.list_id}>",
                "base_url": settings.base_url,
                "envelope_from": sample.envelope_from,
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return path
