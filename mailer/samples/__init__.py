"""Sample content: the fictional issue 第4回 and a subscriber list for demos and tests."""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR: Path = Path(__file__).resolve().parent
SAMPLE_ISSUE_DIR: Path = SAMPLES_DIR / "issues" / "vol04"
SAMPLE_SUBSCRIBERS_CSV: Path = SAMPLES_DIR / "subscribers.csv"

__all__ = ["SAMPLES_DIR", "SAMPLE_ISSUE_DIR", "SAMPLE_SUBSCRIBERS_CSV"]
