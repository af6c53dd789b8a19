"""Use case: write a stored issue back out as an issue folder.

The folder holds what `load_issue` reads: `issue.yaml`, one `partN.md` per
part (written by `mailer.compose.serialize` from the stored documents) and
the images the documents use (from `issue_asset`). Loading the folder again
finds nothing changed; exporting twice gives the same bytes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy import Engine
from sqlmodel import Session, select

from mailer.compose.document import IssueDocument, PartDocument
from mailer.compose.images import asset_path
from mailer.compose.load import part_image_sources
from mailer.compose.serialize import NotWritable, issue_folder_texts
from mailer.models import Issue, IssueAsset, Part
from mailer.services.errors import ErrorKind, ServiceError, invalid, not_found


@dataclass(frozen=True)
class ExportedFolder:
    """What `export_issue` wrote: the folder and its files (relative paths)."""

    folder: Path
    files: list[str]


def stored_issue(engine: Engine, slug: str) -> IssueDocument:
    """Return the stored document of issue `slug` with its parts in sending order."""
    with Session(engine) as session:
        issue = session.exec(select(Issue).where(Issue.slug == slug)).first()
        if issue is None or issue.id is None:
            raise not_found(
                f"号「{slug}」は登録されていません(`mailer issue list` で確かめてください)"
            )
        data = json.loads(issue.document or "{}")
        if not data:
            raise ServiceError(f"号「{slug}」には原稿が保存されていません", kind=ErrorKind.CONFLICT)
        rows = session.exec(
            select(Part).where(Part.issue_id == issue.id).order_by(Part.position, Part.id)  # type: ignore[arg-type]
        ).all()
        parts = [PartDocument.model_validate_json(row.document) for row in rows]
    return IssueDocument.model_validate({**data, "slug": slug,
                                         "parts": [p.model_dump() for p in parts]})


def issue_folder_files(engine: Engine, slug: str) -> dict[str, bytes]:
    """Return every file of issue `slug`'s folder: relative path → bytes.

    Raises ServiceError: NOT_FOUND for an unknown slug, INVALID when a stored
    document cannot be written as a folder, CONFLICT when an image it uses is
    not stored.
    """
    document = stored_issue(engine, slug)
    try:
        texts = issue_folder_texts(document)
    except NotWritable as exc:
        raise invalid(f"号「{slug}」を原稿フォルダに書き出せません: {exc}") from None
    files = {name: text.encode("utf-8") for name, text in texts.items()}
    wanted = sorted({asset_path(src) for part in document.parts
                     for src in part_image_sources(part)})
    with Session(engine) as session:
        issue_id = session.exec(select(Issue.id).where(Issue.slug == slug)).one()
        stored = {
            path: data
            for path, data in session.exec(
                select(IssueAsset.path, IssueAsset.data).where(IssueAsset.issue_id == issue_id)
            )
        }
    missing = [path for path in wanted if path not in stored]
    if missing:
        raise ServiceError(
            f"号「{slug}」の画像 {'、'.join(missing)} が保存されていません"
            "(原稿フォルダを読み込み直してください)",
            kind=ErrorKind.CONFLICT,
        )
    for path in wanted:
        files[path] = stored[path]
    return files


def export_folder(directory: Path, slug: str) -> Path:
    """Return the folder an export of `slug` to `directory` writes: the
    directory itself when its name is the slug (a folder's name is its
    issue's slug when loaded), else `directory/slug`."""
    directory = Path(directory)
    return directory if directory.resolve().name == slug else directory / slug


def export_issue(*, engine: Engine, slug: str, directory: Path,
                 force: bool = False) -> ExportedFolder:
    """Write issue `slug` as a folder under `directory` (see `export_folder`
    and `write_issue_folder`). Everything is prepared before the first byte
    is written: a refusal writes nothing.
    """
    files = issue_folder_files(engine, slug)
    folder = export_folder(directory, slug)
    write_issue_folder(folder, files, force=force)
    return ExportedFolder(folder=folder, files=sorted(files))


def write_issue_folder(folder: Path, files: dict[str, bytes], *, force: bool = False) -> None:
    """Write `files` (relative path → bytes) as the issue folder `folder`.

    A folder that exists and is not empty is refused unless `force`; then
    the files are written over it and part files not among them are removed
    (they would be loaded as parts; other files are left alone). A new
    folder is written aside and moved into place, so an interrupted write
    leaves no half folder.
    """
    folder = Path(folder)
    try:
        _write_folder(folder, files, force=force)
    except OSError as exc:  # a parent that is a file, no permission, a full disk
        raise invalid(f"{folder} に書き出せません（{exc.strerror or exc}）。"
                      "書き出す場所と、そのフォルダの権限を確かめてください",
                      field="directory") from None


def _write_folder(folder: Path, files: dict[str, bytes], *, force: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise invalid(f"{folder} はフォルダではありません", field="directory")
    if folder.is_dir() and any(folder.iterdir()):
        if not force:
            raise ServiceError(
                f"{folder} は空ではありません。上書きするときは --force を付けてください",
                kind=ErrorKind.CONFLICT, field="directory",
            )
        for stale in folder.glob("part*.md"):
            if stale.name not in files and stale.is_file():
                stale.unlink()
        _write(folder, files)
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}-") as tmp:
        staged = Path(tmp) / folder.name
        _write(staged, files)
        if folder.is_dir():
            folder.rmdir()  # empty, checked above
        shutil.move(staged, folder)


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in sorted(files.items()):
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise invalid(f"{name}: 号のフォルダの外を指すパスには書き出せません")
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
