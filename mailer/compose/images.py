"""Image files referenced by an issue: where they may live, what they are and
how big they are.

A figure's `src` is a path relative to the issue folder (images/slide6.png).
The file must exist inside the folder and be the image its name says: when
the issue is loaded its bytes are stored in the database (`issue_asset`), the
web app serves them under the base URL, and mail never carries attachments.
"""

from __future__ import annotations

import struct
from pathlib import Path, PurePosixPath

from mailer.i18n import _

#: media type by file suffix: every image the web app serves, raster only
#: (an SVG may carry script)
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
#: suffixes an issue's documents may use: WebP is left out, as not every mail
#: reader shows it
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")
#: the longest `src` an issue may use (the stored asset's `path` column)
MAX_SRC_CHARS = 500
#: the largest image an issue may use: every reader's mail client fetches it
#: (closed municipal networks on slow links among them), and it is stored in
#: the database; a slide or photo for a 600 px mail is well under 1 MB
MAX_IMAGE_BYTES = 5 * 1024 * 1024

_TYPE_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP"}
_DOCUMENT_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif"}


def media_type(src: str) -> str | None:
    """Return the media type the suffix of `src` stands for, or None."""
    return IMAGE_TYPES.get(PurePosixPath(src).suffix.lower())


def asset_path(src: str) -> str:
    """Return the key an image is stored and served under: `src` as a POSIX
    path without `.` segments or doubled slashes (`./images//a.png` → `images/a.png`)."""
    return PurePosixPath(src).as_posix()


def sniff_media_type(head: bytes) -> str | None:
    """Return the media type the first bytes of a file show (PNG, JPEG, GIF,
    WebP), or None for anything else."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_image_src(folder: Path, src: str) -> tuple[str | None, Path | None]:
    """Return (problem, resolved path): exactly one of the two is None."""
    if "://" in src or src.startswith(("/", "\\", "data:")):
        return (
            _("画像の src は号のフォルダの中のファイルにしてください（例：images/x.png）：{src}")
            .format(src=src),
            None,
        )
    rel = PurePosixPath(src)
    if ".." in rel.parts:
        return _("画像の src が号のフォルダの外を指しています：{src}").format(src=src), None
    if rel.suffix.lower() not in IMAGE_SUFFIXES:
        return _("画像は PNG、JPEG、GIF のどれかにしてください：{src}").format(src=src), None
    if len(src) > MAX_SRC_CHARS:
        return _("画像の src が長すぎます（{length} 文字、{max} 文字まで）").format(
            length=len(src), max=MAX_SRC_CHARS), None
    path = folder.joinpath(*rel.parts)
    if not path.is_file():
        return _("画像がありません：{src}").format(src=src), None
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return _("画像を読めません：{src}（{error}）").format(
            src=src, error=exc.strerror or exc), None
    if size > MAX_IMAGE_BYTES:
        return (
            _("画像 {src} は {size} MB あり、{max} MB を超えています："
              "小さくしてください（幅 600 px のメールなら 1,200 px ほどで足ります）").format(
                src=src, size=f"{size / 2**20:.1f}", max=MAX_IMAGE_BYTES // 2**20),
            None,
        )
    problem = _content_problem(src, rel.suffix, sniff_media_type(head))
    return (problem, None) if problem else (None, path)


def _content_problem(src: str, suffix: str, found: str | None) -> str | None:
    """Return why a file named `src` whose bytes show `found` is refused, or None."""
    expected = IMAGE_TYPES[suffix.lower()]
    if found == expected:
        return None
    name = _TYPE_NAMES[expected]
    if found is None:
        return _("画像 {src} は {name} ファイルではありません："
                 "中身が PNG、JPEG、GIF の画像ではありません").format(src=src, name=name)
    if found not in _DOCUMENT_SUFFIX:
        return _("画像 {src} は {found} ファイルです：PNG、JPEG、GIF のどれかで保存してください"
                 ).format(src=src, found=_TYPE_NAMES[found])
    return _("画像 {src} は名前が {suffix} ですが中身は {found} ファイルです："
             "名前を {rename} に変えるか、{name} で保存してください").format(
        src=src, suffix=suffix, found=_TYPE_NAMES[found], rename=_DOCUMENT_SUFFIX[found],
        name=name)


def image_size(path: Path) -> tuple[int, int] | None:
    """Return (width, height) read from a PNG, GIF or JPEG header, or None."""
    with path.open("rb") as fh:
        return image_size_of_bytes(fh.read())


def image_size_of_bytes(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) of the PNG, GIF or JPEG image `data`, or None."""
    head = data[:32]
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", head[6:10])
        return int(width), int(height)
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(data[2:])
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 0
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + length
    return None
