"""Fixtures for the bounce tests: a ledger of sent deliveries."""

from __future__ import annotations

import pytest
from bounce_helpers import Ref, make_deliveries
from sqlalchemy import Engine


@pytest.fixture
def refs(engine: Engine) -> list[Ref]:
    """Eight subscribers on one list, each with a sent delivery of part 1."""
    return make_deliveries(engine)
