"""The images of a loaded issue are kept in the database (`issue_asset`):
inserted, updated, deleted with the issue, all or nothing; an unchanged
folder writes nothing; a file that is not the image its name says is refused.

Runs on SQLite and, when MAILER_TEST_POSTGRES_URL is set, PostgreSQL (the
`engine` fixture of tests/conftest.py).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import pytest
from compose_helpers import IssueCopy
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from mailer.compose import load as load_module
from mailer.compose.errors import IssueFolderError
from mailer.compose.load import LoadStatus, load_issue
from mailer.models import Issue, IssueAsset
from mailer.samples.placeholders import png_bytes
from mailer.testing.sql import WriteCounter

SAMPLE_IMAGES = {
    "images/header-part1.png",
    "images/header-part2.png",
    "images/photo01.png",
    "images/slide01.png",
    "images/slide02.png",
    "images/slide03.png",
}
#: a 1×1 GIF
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
#: the start of a JPEG (JFIF) file: enough for the magic-bytes check
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
PHOTO_FIGURE = (
    "![業務改善の実践研修の様子の写真。職員が模造紙に貼った付箋を囲んで議論している。]"
    "(images/photo01.png)\n画像1:業務改善の実践研修の様子(令和8年7月撮影)\n\n"
)


def _assets(engine: Engine) -> dict[str, IssueAsset]:
    with Session(engine) as session:
        return {a.path: a for a in session.exec(select(IssueAsset)).all()}


def _load(engine: Engine, issue: IssueCopy) -> Any:
    with Session(engine) as session:
        return load_issue(session=session, path=issue.folder)


def test_loading_stores_every_image_the_documents_use(engine: Engine, issue: IssueCopy) -> None:
    (issue.folder / "images" / "unused.png").write_bytes(png_bytes(8, 8, (0, 0, 0), (9, 9, 9)))
    result = _load(engine, issue)
    assets = _assets(engine)
    assert set(assets) == SAMPLE_IMAGES  # unused.png is not referenced: not stored
    for path, asset in assets.items():
        data = (issue.folder / path).read_bytes()
        assert asset.issue_id == result.issue_id
        assert bytes(asset.data) == data
        assert (asset.media_type, asset.size) == ("image/png", len(data))
        assert asset.sha256 == hashlib.sha256(data).hexdigest()


def test_reloading_an_unchanged_folder_writes_nothing(engine: Engine, issue: IssueCopy) -> None:
    _load(engine, issue)
    counter = WriteCounter(engine)
    assert _load(engine, issue).status is LoadStatus.UNCHANGED
    assert counter.writes == []


def test_a_changed_image_is_updated_and_nothing_else(engine: Engine, issue: IssueCopy) -> None:
    _load(engine, issue)
    before = _assets(engine)
    new = png_bytes(480, 270, (0x33, 0x33, 0x33), (0xFF, 0xCC, 0x00))
    (issue.folder / "images" / "slide01.png").write_bytes(new)
    counter = WriteCounter(engine)
    result = _load(engine, issue)
    assert result.status is LoadStatus.UPDATED
    assert result.parts == {"part1": LoadStatus.UNCHANGED, "part2": LoadStatus.UNCHANGED}
    assert counter.on("issue_asset") == ["UPDATE issue_asset SET"]
    after = _assets(engine)
    slide = after["images/slide01.png"]
    assert bytes(slide.data) == new and slide.size == len(new)
    assert slide.sha256 == hashlib.sha256(new).hexdigest()
    assert slide.id == before["images/slide01.png"].id
    assert _stamp(slide.updated_at) > _stamp(before["images/slide01.png"].updated_at)
    for path in SAMPLE_IMAGES - {"images/slide01.png"}:
        assert after[path].sha256 == before[path].sha256
        assert _stamp(after[path].updated_at) == _stamp(before[path].updated_at)


def _stamp(value: datetime) -> datetime:
    return value.replace(tzinfo=None)  # SQLite gives the stored time back without its zone


def test_a_removed_figure_deletes_its_image(engine: Engine, issue: IssueCopy) -> None:
    _load(engine, issue)
    issue.replace("part1.md", PHOTO_FIGURE, "")
    counter = WriteCounter(engine)
    result = _load(engine, issue)
    assert result.parts["part1"] is LoadStatus.UPDATED
    assert counter.on("issue_asset") == ["DELETE FROM issue_asset"]
    assert set(_assets(engine)) == SAMPLE_IMAGES - {"images/photo01.png"}


def test_a_new_figure_inserts_its_image(engine: Engine, issue: IssueCopy) -> None:
    _load(engine, issue)
    (issue.folder / "images" / "photo02.gif").write_bytes(GIF)
    figure = PHOTO_FIGURE.replace("images/photo01.png", "images/photo02.gif").replace(
        "画像1:", "画像2:"
    )
    issue.replace("part1.md", PHOTO_FIGURE, PHOTO_FIGURE + figure)
    _load(engine, issue)
    assets = _assets(engine)
    assert set(assets) == SAMPLE_IMAGES | {"images/photo02.gif"}
    gif = assets["images/photo02.gif"]
    assert (gif.media_type, bytes(gif.data)) == ("image/gif", GIF)


def test_an_image_used_twice_is_stored_once(engine: Engine, issue: IssueCopy) -> None:
    issue.replace("part2.md", "(images/slide03.png)", "(./images/slide01.png)")
    _load(engine, issue)
    assert set(_assets(engine)) == SAMPLE_IMAGES - {"images/slide03.png"}


@pytest.mark.parametrize("loaded_before", [False, True])
def test_a_file_that_is_not_its_image_type_is_refused(
    engine: Engine, issue: IssueCopy, loaded_before: bool
) -> None:
    if loaded_before:
        _load(engine, issue)
    before = _assets(engine)
    (issue.folder / "images" / "slide02.png").write_bytes(JPEG_HEAD + b"\x00" * 64)
    issue.replace("part2.md", "どうぞお楽しみに。", "どうぞご期待ください。")
    line = issue.line_of("part1.md", "(images/slide02.png)")
    counter = WriteCounter(engine)
    with pytest.raises(IssueFolderError) as info:
        _load(engine, issue)
    assert [str(p) for p in info.value.problems] == [
        f"part1.md:{line}: 画像 images/slide02.png は名前が .png ですが中身は JPEG ファイルです："
        "名前を .jpg に変えるか、PNG で保存してください"
    ]
    assert counter.writes == []
    assert {p: a.sha256 for p, a in _assets(engine).items()} == {
        p: a.sha256 for p, a in before.items()
    }


def test_a_failure_while_storing_images_stores_nothing(
    engine: Engine, issue: IssueCopy, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = load_module._store_assets

    def flaky(session: Session, issue_id: int, images: dict[str, bytes]) -> None:
        real(session, issue_id, images)
        session.flush()  # the rows reached the database, in the open transaction
        raise RuntimeError("disk full")

    monkeypatch.setattr(load_module, "_store_assets", flaky)
    with pytest.raises(RuntimeError, match="disk full"):
        _load(engine, issue)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Issue)).one() == 0
        assert session.exec(select(func.count()).select_from(IssueAsset)).one() == 0
