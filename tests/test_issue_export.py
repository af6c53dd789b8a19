"""`mailer issue export`: a stored issue written back as a folder that loads unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from mailer.cli import app
from mailer.compose.load import LoadStatus, load_issue
from mailer.db import make_engine, upgrade
from mailer.models import IssueAsset, Part
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.issue_export import export_issue, stored_issue
from mailer.testing.stack import TEST_SECRET


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _load(engine: Engine, folder: Path) -> LoadStatus:
    with Session(engine) as session:
        return load_issue(session=session, path=folder).status


@pytest.fixture
def second_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'second.db'}")
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


def test_export_load_export_is_byte_identical(
    engine: Engine, second_engine: Engine, tmp_path: Path
) -> None:
    assert _load(engine, SAMPLE_ISSUE_DIR) == LoadStatus.CREATED
    first = export_issue(engine=engine, slug="vol04", directory=tmp_path / "a").folder
    assert first == tmp_path / "a" / "vol04"  # the folder is named after the slug

    # The export loads back unchanged into the database it came from ...
    assert _load(engine, first) == LoadStatus.UNCHANGED
    # ... and into a second database, which exports the same bytes again.
    assert _load(second_engine, first) == LoadStatus.CREATED
    second = export_issue(engine=second_engine, slug="vol04", directory=tmp_path / "b").folder
    assert _files(first) == _files(second)
    assert stored_issue(engine, "vol04") == stored_issue(second_engine, "vol04")
    for eng in (engine, second_engine):
        with Session(eng) as session:
            assert [p.label for p in session.exec(select(Part).order_by(Part.position))] \
                == ["part1", "part2"]

    # Against the authored sample: the part files are the same text, the images
    # the parts use the same bytes; issue.yaml loses only its comment line.
    exported = _files(first)
    authored = _files(SAMPLE_ISSUE_DIR)
    for name in ("part1.md", "part2.md"):
        assert exported[name] == authored[name]
    images = sorted(n for n in exported if n.startswith("images/"))
    with Session(engine) as session:
        assert images == sorted(session.exec(select(IssueAsset.path)))
    assert images and all(exported[n] == authored[n] for n in images)
    assert exported["issue.yaml"].decode() == authored["issue.yaml"].decode().split("\n", 1)[1]


def test_export_refuses_a_folder_that_is_not_empty(engine: Engine, tmp_path: Path) -> None:
    _load(engine, SAMPLE_ISSUE_DIR)
    target = tmp_path / "vol04"
    target.mkdir()
    (target / "memo.txt").write_text("残す", encoding="utf-8")
    (target / "part9.md").write_text("古い部", encoding="utf-8")
    with pytest.raises(ServiceError) as info:
        export_issue(engine=engine, slug="vol04", directory=target)
    assert info.value.kind == ErrorKind.CONFLICT and "--force" in info.value.message
    assert sorted(p.name for p in target.iterdir()) == ["memo.txt", "part9.md"]  # nothing written

    export_issue(engine=engine, slug="vol04", directory=target, force=True)
    # A stale part file would be loaded as a part of the issue: it is removed.
    assert not (target / "part9.md").exists()
    assert (target / "memo.txt").read_text(encoding="utf-8") == "残す"
    assert _load(engine, target) == LoadStatus.UNCHANGED


def test_unknown_slug_is_not_found(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ServiceError) as info:
        export_issue(engine=engine, slug="vol99", directory=tmp_path / "out")
    assert info.value.kind == ErrorKind.NOT_FOUND
    assert "号「vol99」は登録されていません" in info.value.message
    assert not (tmp_path / "out").exists()


def test_cli_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("MAILER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MAILER_BASE_URL", "https://mailer.example.com")

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    assert run("db", "upgrade")[0] == 0
    assert run("issue", "load", str(SAMPLE_ISSUE_DIR))[0] == 0
    out_dir = tmp_path / "out"
    code, out = run("issue", "export", "vol04", str(out_dir))
    assert code == 0, out
    assert f"{out_dir / 'vol04'}" in out and "part1.md" in out and "images/slide01.png" in out
    code, out = run("issue", "load", str(out_dir / "vol04"))
    assert code == 0 and "変更なし" in out, out  # the load found nothing to change

    code, out = run("issue", "export", "vol04", str(out_dir))
    assert code == 1 and "空ではありません" in out and "--force" in out
    code, out = run("issue", "export", "vol04", str(out_dir), "--force")
    assert code == 0, out

    code, out = run("issue", "export", "vol99", str(tmp_path / "x"))
    assert code == 1 and "号「vol99」は登録されていません" in out
    assert not (tmp_path / "x").exists()

    # a place that cannot hold a folder (under a file): one Japanese line, no traceback;
    # import-docx writes through the same function
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out = run("issue", "export", "vol04", str(blocker / "out"))
    assert code == 1 and f"{blocker / 'out' / 'vol04'} に書き出せません" in out, out
    assert "権限を確かめてください" in out
