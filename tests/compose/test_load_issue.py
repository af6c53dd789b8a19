"""Storing an issue folder: create, unchanged, update, refuse; all or nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from compose_helpers import IssueCopy
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from mailer.compose import load as load_module
from mailer.compose.document import IssueDocument, PartDocument
from mailer.compose.errors import IssueFolderError
from mailer.compose.load import LoadStatus, load_issue
from mailer.db import create_all, make_engine
from mailer.models import Issue, Part
from mailer.testing.sql import WriteCounter


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'mailer.db'}")
    create_all(engine)
    yield engine
    engine.dispose()


def _counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        issues = session.exec(select(func.count()).select_from(Issue)).one()
        parts = session.exec(select(func.count()).select_from(Part)).one()
    return issues, parts


def test_create_then_unchanged(engine: Engine, issue: IssueCopy) -> None:
    with Session(engine) as session:
        result = load_issue(session=session, path=issue.folder)
    assert result.status is LoadStatus.CREATED
    assert result.parts == {"part1": LoadStatus.CREATED, "part2": LoadStatus.CREATED}

    with Session(engine) as session:
        stored = session.exec(select(Issue)).one()
        assert (stored.slug, stored.number, stored.title) == ("vol04", 4, "武蔵野市×都CIO座談会")
        assert stored.source_digest == result.digest
        head = IssueDocument.model_validate({**json.loads(stored.document), "parts": []})
        assert head.publisher.name == "東京都 デジタルサービス局 戦略部"
        parts = session.exec(select(Part).order_by(col(Part.position))).all()
        assert [(p.label, p.position, p.subject) for p in parts] == [
            ("part1", 1, "【CIOフォーラム通信】第4回 武蔵野市×都CIO座談会(前編)"),
            ("part2", 2, "【CIOフォーラム通信】第4回 武蔵野市×都CIO座談会(後編)"),
        ]
        part1 = PartDocument.model_validate_json(parts[0].document)
        assert part1.header_image is not None and part1.blocks
        assert parts[0].scheduled_at is not None

    counter = WriteCounter(engine)
    with Session(engine) as session:
        again = load_issue(session=session, path=issue.folder)
    assert again.status is LoadStatus.UNCHANGED
    assert again.parts == {"part1": LoadStatus.UNCHANGED, "part2": LoadStatus.UNCHANGED}
    assert counter.writes == []


def test_issue_document_excludes_parts(engine: Engine, issue: IssueCopy) -> None:
    with Session(engine) as session:
        load_issue(session=session, path=issue.folder)
        stored = session.exec(select(Issue)).one()
    assert '"parts"' not in stored.document
    assert '"back_numbers"' in stored.document


def test_update_touches_only_changed_part(engine: Engine, issue: IssueCopy) -> None:
    with Session(engine) as session:
        first = load_issue(session=session, path=issue.folder)
    issue.replace("part2.md", "どうぞお楽しみに。", "どうぞご期待ください。")
    with Session(engine) as session:
        result = load_issue(session=session, path=issue.folder)
    assert result.status is LoadStatus.UPDATED
    assert result.issue_id == first.issue_id
    assert result.parts == {"part1": LoadStatus.UNCHANGED, "part2": LoadStatus.UPDATED}
    with Session(engine) as session:
        part2 = session.exec(select(Part).where(Part.label == "part2")).one()
    assert "どうぞご期待ください。" in part2.document
    assert _counts(engine) == (1, 2)


def test_new_part_is_added(engine: Engine, issue: IssueCopy) -> None:
    with Session(engine) as session:
        load_issue(session=session, path=issue.folder)
    text = issue.text("part2.md").replace("label: part2", "label: part3")
    issue.write("part3.md", text)
    with Session(engine) as session:
        result = load_issue(session=session, path=issue.folder)
    assert result.parts["part3"] is LoadStatus.CREATED
    assert _counts(engine) == (1, 3)


def test_replaced_image_counts_as_a_change(engine: Engine, issue: IssueCopy) -> None:
    with Session(engine) as session:
        load_issue(session=session, path=issue.folder)
    image = issue.folder / "images" / "slide01.png"
    image.write_bytes(image.read_bytes())  # rewritten, same bytes
    with Session(engine) as session:
        assert load_issue(session=session, path=issue.folder).status is LoadStatus.UNCHANGED
    from mailer.samples.placeholders import png_bytes

    image.write_bytes(png_bytes(480, 270, (0, 0, 0), (255, 255, 255)))
    with Session(engine) as session:
        assert load_issue(session=session, path=issue.folder).status is LoadStatus.UPDATED


def test_part_missing_from_folder_is_refused(engine: Engine, issue: IssueCopy) -> None:
    with Session(engine) as session:
        load_issue(session=session, path=issue.folder)
    (issue.folder / "part2.md").unlink()
    issue.replace("part1.md", "お届けします。", "お届けする予定です。")
    with Session(engine) as session, pytest.raises(IssueFolderError) as info:
        load_issue(session=session, path=issue.folder)
    assert [str(p) for p in info.value.problems] == [
        "part2.md:1: 配信回「part2」は保存済みですがフォルダにありません。"
        "配信済みかもしれないので消せません（ファイルを戻してください）"
    ]
    with Session(engine) as session:
        part1 = session.exec(select(Part).where(Part.label == "part1")).one()
    assert "お届けする予定です。" not in part1.document  # nothing written


def test_bad_folder_stores_nothing(engine: Engine, issue: IssueCopy) -> None:
    issue.replace("part1.md", "【中村】", "【中田】")
    with Session(engine) as session, pytest.raises(IssueFolderError):
        load_issue(session=session, path=issue.folder)
    assert _counts(engine) == (0, 0)


def test_failure_while_writing_rolls_back(
    engine: Engine, issue: IssueCopy, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = load_module._store_part
    calls: list[str] = []

    def flaky(session: Session, issue_id: int, position: int, part: PartDocument, row: Any) -> Any:
        calls.append(part.label)
        if part.label == "part2":
            raise RuntimeError("disk full")
        return real(session, issue_id, position, part, row)

    monkeypatch.setattr(load_module, "_store_part", flaky)
    with Session(engine) as session, pytest.raises(RuntimeError, match="disk full"):
        load_issue(session=session, path=issue.folder)
    assert calls == ["part1", "part2"]
    assert _counts(engine) == (0, 0)
