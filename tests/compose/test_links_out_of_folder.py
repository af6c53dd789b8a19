"""A symbolic link in an issue folder that leads outside it is refused (security
#15.8): it would store, and publish, a file the author never put there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailer.compose.errors import IssueFolderError
from mailer.compose.parse import parse_issue_folder
from mailer.samples import SAMPLE_ISSUE_DIR


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "vol04"
    shutil.copytree(SAMPLE_ISSUE_DIR, copy)
    return copy


def test_an_image_linked_from_outside_is_refused(folder: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    header = next((folder / "images").glob("header-part1.*"))
    secret.write_bytes(header.read_bytes())
    header.unlink()
    header.symlink_to(secret)
    with pytest.raises(IssueFolderError) as caught:
        parse_issue_folder(folder)
    found = [p for p in caught.value.problems if p.file == f"images/{header.name}"]
    assert found and "フォルダの外を指すシンボリックリンク" in found[0].message


def test_a_part_file_linked_from_outside_is_refused(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "part2.md"
    (folder / "part2.md").rename(outside)
    (folder / "part2.md").symlink_to(outside)
    with pytest.raises(IssueFolderError) as caught:
        parse_issue_folder(folder)
    assert any(p.file == "part2.md" for p in caught.value.problems)


def test_a_link_inside_the_folder_is_fine(folder: Path) -> None:
    header = next((folder / "images").glob("header-part1.*"))
    (folder / "images" / f"copy{header.suffix}").symlink_to(header.name)
    parse_issue_folder(folder)  # no problem raised


def test_a_folder_that_is_no_issue_is_not_walked(tmp_path: Path) -> None:
    """`mailer issue load ~` (a wrong folder): the answer is that it has no
    issue.yaml and no part files, at once, not a walk through everything
    under it listing every link found there."""
    wrong = tmp_path / "home"
    deep = wrong / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "python").symlink_to("/usr/bin/env")
    with pytest.raises(IssueFolderError) as caught:
        parse_issue_folder(wrong)
    assert [p.message for p in caught.value.problems] == [
        "issue.yaml not found", "no part files: add part1.md, part2.md, …"]

    (wrong / "part1.md").write_text("---\nlabel: part1\n---\n", encoding="utf-8")
    with pytest.raises(IssueFolderError) as caught:  # a folder meant as an issue still is
        parse_issue_folder(wrong)
    assert any(p.file == "a/b/c/python" for p in caught.value.problems)
