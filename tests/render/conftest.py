"""Fixtures for rendering tests (builders live in render_fixtures.py)."""

from __future__ import annotations

import pytest
from render_fixtures import build_issue, make_config, make_slots

from mailer.compose.document import IssueDocument
from mailer.render.message import RenderConfig, Slots


@pytest.fixture
def issue() -> IssueDocument:
    return build_issue()


@pytest.fixture
def variant_issue() -> IssueDocument:
    return build_issue(variant_kanji=True)


@pytest.fixture
def config() -> RenderConfig:
    return make_config()


@pytest.fixture
def slots() -> Slots:
    return make_slots()
