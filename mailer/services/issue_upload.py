"""An issue folder uploaded as a .zip: unpacked safely into a temporary
directory, then stored with `load_issue` (the same path as `mailer issue load`):
the documents and the bytes of every image they use, so the public app serves
the images once the temporary directory is gone."""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from sqlalchemy import Engine
from sqlmodel import Session

from mailer.compose.errors import IssueFolderError, Problem
from mailer.compose.load import LoadResult, load_issue
from mailer.compose.parse import ISSUE_FILE
from mailer.i18n import _

MAX_ZIP_BYTES = 20 * 1024 * 1024
MAX_UNPACKED_BYTES = 60 * 1024 * 1024  # a zip bomb stops here, not on the disk
MAX_MEMBERS = 500
#: an issue's slug is its folder's name (as for `mailer issue load DIR`)
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class UploadError(ValueError):
    """The upload is not a usable zip of an issue folder; the message says why."""


def _safe_name(name: str) -> PurePosixPath | None:
    """Return the member path if it stays inside the folder, else None."""
    if "\\" in name or "\0" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or any(p in ("..", "") for p in path.parts):
        return None
    return path


def slug_of(filename: str) -> str:
    """Return the folder name an upload of `filename` stands for ("vol04.zip" → "vol04").

    Raises UploadError if it cannot be a slug.
    """
    stem = PurePosixPath(filename.replace("\\", "/")).name
    stem = stem[:-4] if stem.lower().endswith(".zip") else stem
    if not SLUG.match(stem):
        raise UploadError(
            _("{filename}: ファイル名を号の識別名（英数字・._-）にしてください"
              "（例：vol04.zip）").format(filename=filename)
        )
    return stem


def unpack(data: bytes, into: Path, *, filename: str = "") -> Path:
    """Unpack the zip `data` into `into`; return the issue folder inside it:
    its one top-level folder holding issue.yaml, or, when the files sit at the
    zip's root, a folder named after the zip (`vol04.zip` → `vol04`).

    Raises UploadError for a bad, oversized or unsafe archive.
    """
    into.mkdir(parents=True, exist_ok=True)
    if len(data) > MAX_ZIP_BYTES:
        raise UploadError(_("zip が大きすぎます（{max} MB まで）").format(
                              max=MAX_ZIP_BYTES // 1024 // 1024))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UploadError(_("zip ファイルとして読めません")) from None
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > MAX_MEMBERS:
        raise UploadError(_("ファイルが多すぎます（{max} 個まで）").format(
                              max=MAX_MEMBERS))
    total = 0
    with archive:
        for member in members:
            if member.filename.startswith("__MACOSX/"):
                continue
            rel = _safe_name(member.filename)
            # the mode bits in external_attr mark symlinks (S_IFLNK) from Unix zips
            if rel is None or (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise UploadError(_("{filename}: フォルダの外を指すパスは使えません").format(
                                      filename=member.filename))
            total += member.file_size
            if total > MAX_UNPACKED_BYTES:
                raise UploadError(_("展開後のサイズが大きすぎます"))
            target = into.joinpath(*rel.parts)
            with archive.open(member) as src:
                chunk = src.read(MAX_UNPACKED_BYTES + 1)
            if len(chunk) != member.file_size:
                raise UploadError(_("{filename}: 展開できません").format(filename=member.filename))
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(chunk)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                # "a" as a file and "a/b" in one zip: a name is both file and folder
                raise UploadError(_("{filename}: 同じ名前のファイルとフォルダがあります"
                                    "（どちらかの名前を変えてください）").format(
                                      filename=member.filename)) from None
    tops = [p for p in into.iterdir() if p.is_dir() and (p / ISSUE_FILE).is_file()]
    if (into / ISSUE_FILE).is_file():
        folder = into.parent / slug_of(filename or "issue.zip")
        into.rename(folder)
        return folder
    if len(tops) == 1:
        if not SLUG.match(tops[0].name):
            raise UploadError(
                _("{name}: フォルダ名を号の識別名（英数字・._-）にしてください").format(
                    name=tops[0].name)
            )
        return tops[0]
    raise UploadError(_("zip の中に {file} が見つかりません（号のフォルダをそのまま zip に）")
                      .format(file=ISSUE_FILE))


def load_uploaded_issue(*, engine: Engine, data: bytes, filename: str) -> LoadResult:
    """Unpack and store an uploaded issue folder; return what `load_issue` did.

    Raises UploadError (bad archive) or IssueFolderError (every problem found).
    """
    with tempfile.TemporaryDirectory(prefix="mailer-upload-") as tmp:
        folder = unpack(data, Path(tmp) / "unpacked", filename=filename)
        with Session(engine) as session:
            return load_issue(session=session, path=folder)


__all__ = ["IssueFolderError", "Problem", "UploadError", "load_uploaded_issue", "unpack"]
