"""The complete example in docs/authoring.md parses as documented."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from mailer.compose.document import Turn
from mailer.compose.parse import parse_issue_folder
from mailer.samples import SAMPLE_ISSUE_DIR

DOC = Path(__file__).resolve().parents[2] / "docs" / "authoring.md"


def _complete_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## 6. 完全な例") :]
    match = re.search(r"```markdown\n(.*?)\n```\n", section, re.DOTALL)
    assert match is not None
    return match[1] + "\n"


def test_complete_example_parses(tmp_path: Path) -> None:
    folder = tmp_path / "vol04"
    folder.mkdir()
    shutil.copy(SAMPLE_ISSUE_DIR / "issue.yaml", folder / "issue.yaml")
    shutil.copytree(SAMPLE_ISSUE_DIR / "images", folder / "images")
    (folder / "part1.md").write_text(_complete_example(), encoding="utf-8")
    doc = parse_issue_folder(folder)
    [part] = doc.parts
    kinds = [b.kind for b in part.blocks]
    assert kinds[:5] == ["lead", "note", "note", "event_date", "participants"]
    assert kinds[-2:] == ["next_part", "credits"]
    turns = [b for b in part.blocks if isinstance(b, Turn)]
    assert [(t.speaker, t.first) for t in turns] == [
        ("髙橋", True),
        ("中村", True),
        ("髙橋", False),
    ]
    assert part.header_image is not None
