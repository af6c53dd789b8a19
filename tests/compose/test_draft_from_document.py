"""A stored document opened in the browser editor (`draft_from_document`)
writes out as a folder that reads back as the same document, so publishing
the unchanged draft changes nothing."""

from __future__ import annotations

from pathlib import Path

from test_serialize import EVERY_KIND, _issue

from mailer.compose.document import IssueDocument, Paragraph, PartDocument, Span
from mailer.compose.draft import draft_from_document, write_folder
from mailer.compose.parse import parse_issue_folder
from mailer.samples import SAMPLE_ISSUE_DIR

IMAGES = {f"images/{p.name}": p.read_bytes() for p in (SAMPLE_ISSUE_DIR / "images").iterdir()}


def _through_the_editor(issue: IssueDocument, tmp_path: Path) -> IssueDocument:
    folder = tmp_path / issue.slug
    write_folder(draft_from_document(issue), folder, IMAGES)
    return parse_issue_folder(folder)


def test_the_sample_issue_reads_back_the_same(tmp_path: Path) -> None:
    issue = parse_issue_folder(SAMPLE_ISSUE_DIR)
    assert _through_the_editor(issue, tmp_path) == issue


def test_every_block_kind_reads_back_the_same(tmp_path: Path) -> None:
    second = PartDocument(label="part-2", title="後編", subject="後編の件名",
                          blocks=[Paragraph(spans=[Span(text="短い部")])], source_file="part2.md")
    issue = _issue(EVERY_KIND, second)
    back = _through_the_editor(issue, tmp_path)
    for mine, theirs in zip(issue.parts, back.parts, strict=True):
        assert theirs.header_image == mine.header_image
        for a, b in zip(mine.blocks, theirs.blocks, strict=True):
            assert b == a
    assert back == issue


def test_consecutive_notes_are_one_block_a_line_each() -> None:
    draft = draft_from_document(_issue(EVERY_KIND))
    notes = [b for b in draft.parts[0].blocks if b.kind == "note"]
    assert [n.text for n in notes] == ["※CIO:Chief Information Officer\n※※二重の注記 **太字**"]
