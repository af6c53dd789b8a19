"""`--part-kb`: the bench cuts the sample part to the longest run of leading
blocks whose personalised message fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.bench.data import prepare_database
from mailer.bench.message import RECIPIENT, _sample_slots, render_sample, trim_part
from mailer.compose.stored import load_documents
from mailer.db import make_engine
from mailer.render.message import personalize, prepare_part
from mailer.runtime import render_config
from mailer.settings import Settings


@pytest.mark.parametrize("kb", [12, 20, 30])
def test_trim_keeps_the_longest_prefix_that_fits(tmp_path: Path, kb: int) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bench.db'}")
    seeded = prepare_database(engine, 3)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        base_url="https://mailer.example.com",
        secret_key="bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
    )
    _, whole = load_documents(engine, seeded.part_id)
    full_size = render_sample(engine, settings, seeded.part_id).size

    kept = trim_part(engine, settings, seeded.part_id, kb * 1024)

    _, part = load_documents(engine, seeded.part_id)
    assert part.blocks == whole.blocks[:kept]
    assert render_sample(engine, settings, seeded.part_id).size <= kb * 1024 < full_size
    # one block more would not fit
    trim_longer = whole.model_copy(update={"blocks": whole.blocks[: kept + 1]})
    issue, _ = load_documents(engine, seeded.part_id)
    prepared = prepare_part(issue=issue, part=trim_longer, config=render_config(settings))
    longer = personalize(prepared, RECIPIENT, _sample_slots(settings, seeded.part_id))
    assert len(longer) > kb * 1024
    engine.dispose()
