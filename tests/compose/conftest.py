"""Fixtures for the compose tests: a private copy of the sample issue to break."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from compose_helpers import IssueCopy

from mailer.samples import SAMPLE_ISSUE_DIR


@pytest.fixture
def issue(tmp_path: Path) -> IssueCopy:
    folder = tmp_path / "vol04"
    shutil.copytree(SAMPLE_ISSUE_DIR, folder)
    return IssueCopy(folder)
