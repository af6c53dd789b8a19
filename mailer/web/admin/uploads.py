"""An issue folder uploaded as a .zip: unpacked safely into a temporary
directory, then stored with `load_issue` (the same path as `mailer issue load`)."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from sqlalchemy import Engine
from sqlmodel import Session

from mailer.compose.errors import IssueFolderError, Problem
from mailer.compose.load import LoadResult, load_issue
from mailer.compose.parse import ISSUE_FILE

MAX_ZIP_BYTES = 20 * 1024 * 1024
MAX_UNPACKED_BYTES = 60 * 1024 * 1024  # a zip bomb stops here, not on the disk
MAX_MEMBERS = 500


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


def unpack(data: bytes, into: Path) -> Path:
    """Unpack the zip `data` into `into`; return the issue folder inside it
    (the root, or its one top-level folder holding issue.yaml).

    Raises UploadError for a bad, oversized or unsafe archive.
    """
    if len(data) > MAX_ZIP_BYTES:
        raise UploadError(f"zip が大きすぎます（{MAX_ZIP_BYTES // 1024 // 1024} MB まで）")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UploadError("zip ファイルとして読めません") from None
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > MAX_MEMBERS:
        raise UploadError(f"ファイルが多すぎます（{MAX_MEMBERS} 個まで）")
    total = 0
    with archive:
        for member in members:
            if member.filename.startswith("__MACOSX/"):
                continue
            rel = _safe_name(member.filename)
            # the mode bits in external_attr mark symlinks (S_IFLNK) from Unix zips
            if rel is None or (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise UploadError(f"{member.filename}: フォルダの外を指すパスは使えません")
            total += member.file_size
            if total > MAX_UNPACKED_BYTES:
                raise UploadError("展開後のサイズが大きすぎます")
            target = into.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src:
                chunk = src.read(MAX_UNPACKED_BYTES + 1)
            if len(chunk) != member.file_size:
                raise UploadError(f"{member.filename}: 展開できません")
            target.write_bytes(chunk)
    if (into / ISSUE_FILE).is_file():
        return into
    tops = [p for p in into.iterdir() if p.is_dir() and (p / ISSUE_FILE).is_file()]
    if len(tops) == 1:
        return tops[0]
    raise UploadError(f"zip の中に {ISSUE_FILE} が見つかりません（号のフォルダをそのまま zip に）")


def load_uploaded_issue(*, engine: Engine, data: bytes) -> LoadResult:
    """Unpack and store an uploaded issue folder; return what `load_issue` did.

    Raises UploadError (bad archive) or IssueFolderError (every problem found).
    """
    with tempfile.TemporaryDirectory(prefix="mailer-upload-") as tmp:
        folder = unpack(data, Path(tmp))
        with Session(engine) as session:
            return load_issue(session=session, path=folder)


__all__ = ["IssueFolderError", "Problem", "UploadError", "load_uploaded_issue", "unpack"]
