"""A stored document opened in the browser editor (`draft_from_document`)
writes out as a folder that reads back as the same document, so publishing
the unchanged draft changes nothing."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from test_serialize import _FIELD, EVERY_KIND, _figure, _issue, _spans

from mailer.compose.document import (
    Credit,
    Credits,
    IssueDocument,
    Lead,
    Note,
    Paragraph,
    PartDocument,
    Participant,
    Participants,
    Span,
    Turn,
)
from mailer.compose.draft import draft_from_document, write_folder
from mailer.compose.parse import parse_issue_folder
from mailer.compose.serialize import NotWritable, issue_folder_texts
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


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lead=_spans(), note=_spans(), said=_spans(), name=_FIELD, short=_FIELD,
       organisation=_FIELD, titles=_FIELD, alt=_FIELD, caption=_FIELD, role=_FIELD)
def test_generated_documents_read_back_the_same(
    tmp_path: Path, lead: list[Span], note: list[Span], said: list[Span], name: str,
    short: str, organisation: str, titles: str, alt: str, caption: str, role: str,
) -> None:
    for spans in (lead, note, said):
        assume(spans and not any(s.href is None and "://" in s.text for s in spans))
        assume(all(not (a.strong and b.strong) for a, b in itertools.pairwise(spans)))
    part = PartDocument(
        label="part1", title="t", subject="s", source_file="part1.md",
        blocks=[
            Lead(paragraphs=[lead]),
            Note(spans=note),
            Participants(people=[Participant(name=name, short=short,
                                             organisation=organisation, titles=titles)]),
            Turn(speaker=short, label=f"{organisation} {titles}:{name}(以下「{short}」)",
                 first=True, paragraphs=[said]),
            _figure("images/slide01.png", alt=alt, label="スライド1", caption=caption),
            Credits(entries=[Credit(role=role, name=name, department=organisation)]),
        ],
    )
    issue = _issue(part)
    try:
        issue_folder_texts(issue)
    except NotWritable:
        assume(False)
    folder = tmp_path / f"vol{abs(hash(str(issue))) % 10**8}"
    write_folder(draft_from_document(issue), folder, IMAGES)
    assert parse_issue_folder(folder).model_copy(update={"slug": "vol09"}) == issue
