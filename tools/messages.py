"""Rewrite the English catalogue from the code: `make messages`.

Babel's extractor finds every `_()`, `N_()`, `gettext()`, `ngettext()` in
`mailer/` and `workers/`, and every `{% trans %}` and `_()` in `templates/`.
Each message goes to one area's file (the area of the first place it is
used): `web.po` (templates, `mailer/web/`), `cli.po` (`mailer/cli/`, the
doctor's `mailer/ops/`, `workers/`) or `domain.po` (the rest of `mailer/`).
Existing translations are kept; new messages get an empty translation to fill in; messages no longer
used are dropped. The files are written sorted and without line numbers, so
two people adding messages rarely touch the same lines.

    python tools/messages.py           # rewrite the .po files
    python tools/messages.py --check   # exit 1 if they are stale or incomplete
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PO_DIR = ROOT / "mailer" / "locale" / "en" / "LC_MESSAGES"
AREAS = ("domain", "web", "cli")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
SOURCES = (
    ("mailer", [("locale/**", "ignore"), ("migrations/**", "ignore"), ("**.py", "python")]),
    ("workers", [("**.py", "python")]),
    ("templates", [("**.j2", "jinja2.ext:babel_extract")]),
)


def area_of(path: str) -> str:
    if path.startswith(("templates/", "mailer/web/")):
        return "web"
    if path.startswith(("mailer/cli/", "mailer/ops/", "workers/")):
        return "cli"
    return "domain"


def extracted() -> dict[str, tuple[str | tuple[str, str], list[str]]]:
    """msgid → (id as written, the files that use it)."""
    found: dict[str, tuple[str | tuple[str, str], list[str]]] = {}
    for folder, method_map in SOURCES:
        for filename, _lineno, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map, keywords=KEYWORDS,
            options_map={"**.j2": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}},
        ):
            path = f"{folder}/{filename}".replace("\\", "/")
            key = message[0] if isinstance(message, tuple) else message
            if not key:
                continue
            written, paths = found.setdefault(key, (message, []))
            if isinstance(message, tuple) and not isinstance(written, tuple):
                found[key] = (message, paths)
            if path not in paths:
                paths.append(path)
    return found


def existing(area: str) -> dict[str, str | tuple[str, ...]]:
    path = PO_DIR / f"{area}.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    out: dict[str, str | tuple[str, ...]] = {}
    for message in catalog:
        if message.id:
            key = message.id[0] if isinstance(message.id, tuple) else message.id
            out[key] = message.string
    return out


def rendered() -> dict[str, bytes]:
    """Each area's .po file as it should be."""
    messages = extracted()
    old: dict[str, str | tuple[str, ...]] = {}
    for area in AREAS:
        old.update(existing(area))
    catalogs = {area: Catalog(locale="en", project="mailer") for area in AREAS}
    for key, (message, paths) in messages.items():
        area = min((area_of(p) for p in paths), key=AREAS.index)
        string = old.get(key, "")
        if isinstance(message, tuple):
            if not isinstance(string, tuple):
                string = (string or "", "")
        elif isinstance(string, tuple):
            string = string[0]
        catalogs[area].add(message, string, locations=[(p, None) for p in sorted(paths)])
    out = {}
    for area, catalog in catalogs.items():
        buffer = io.BytesIO()
        write_po(buffer, catalog, omit_header=True, sort_output=True, include_lineno=False,
                 width=100)
        out[area] = buffer.getvalue()
    return out


def missing_translations(files: dict[str, bytes]) -> list[str]:
    missing = []
    for area, data in files.items():
        for message in read_po(io.BytesIO(data), locale="en"):
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if not all(strings):
                key = message.id[0] if isinstance(message.id, tuple) else message.id
                missing.append(f"{area}.po: {key}")
    return missing


def main(argv: list[str]) -> int:
    files = rendered()
    if "--check" in argv:
        stale = [
            area for area, data in files.items()
            if not (PO_DIR / f"{area}.po").exists()
            or (PO_DIR / f"{area}.po").read_bytes() != data
        ]
        for area in stale:
            print(f"mailer/locale/en/LC_MESSAGES/{area}.po は古いままです:"
                  " make messages を実行してください")
        missing = missing_translations(files)
        for line in missing:
            print(f"英訳がありません: {line}")
        return 1 if stale or missing else 0
    PO_DIR.mkdir(parents=True, exist_ok=True)
    for area, data in files.items():
        (PO_DIR / f"{area}.po").write_bytes(data)
    missing = missing_translations(files)
    total = sum(len(read_po(io.BytesIO(d), locale="en")) for d in files.values())
    print(f"{total} 件のメッセージ、英訳のないもの {len(missing)} 件")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
