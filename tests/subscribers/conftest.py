from __future__ import annotations

import pytest
from sqlalchemy import Engine
from subscribers_support import Cli


@pytest.fixture
def cli(engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The subscribers/lists/segments CLI on the test's (migrated) database."""
    app = Cli(database_url, monkeypatch)
    code, out = app("lists", "create", "cio-forum", "--title", "CIOフォーラム通信")
    assert code == 0, out
    return app
