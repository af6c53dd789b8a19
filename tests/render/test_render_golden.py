"""Golden files: the exact bytes we send for the fixture and the sample parts.

Regenerate after an intended change with MAILER_UPDATE_GOLDEN=1, then read the
diff (and open the .html files) before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from render_fixtures import PERSONAS, SAMPLE_DIR, build_issue, make_config, make_slots

from mailer.compose.document import IssueDocument, PartDocument
from mailer.render.html import render_web_part
from mailer.render.message import fill_html, fill_text, personalize, prepare_part

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MAILER_UPDATE_GOLDEN") == "1"


def cases() -> list[tuple[str, IssueDocument, PartDocument]]:
    out = [(f"fixture-{p.label}", build_issue(), p) for p in build_issue().parts]
    if SAMPLE_DIR.exists():
        from mailer.compose.parse import parse_issue_folder

        sample = parse_issue_folder(SAMPLE_DIR)
        out += [(f"sample-{p.label}", sample, p) for p in sample.parts]
    return out


CASES = cases()


def check(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    assert path.exists(), f"{path} missing: run with MAILER_UPDATE_GOLDEN=1"
    assert data == path.read_bytes(), f"{name} differs from golden (MAILER_UPDATE_GOLDEN=1)"


@pytest.mark.parametrize(("name", "issue", "part"), CASES, ids=[c[0] for c in CASES])
def test_golden(name: str, issue: IssueDocument, part: PartDocument) -> None:
    config = make_config()
    prepared = prepare_part(issue=issue, part=part, config=config)
    who, slots = PERSONAS["html_utf8"], make_slots()
    check(f"{name}.email.html", fill_html(prepared, who, slots).encode())
    check(f"{name}.txt", fill_text(prepared, who, slots).encode())
    check(f"{name}.eml", personalize(prepared, who, slots))
    check(f"{name}.web.html", render_web_part(issue=issue, part=part, config=config).encode())
    if not prepared.iso2022jp_problems:
        check(f"{name}.iso-2022-jp.eml", personalize(prepared, PERSONAS["text_iso"], slots))
