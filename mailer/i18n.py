"""The message catalogue: every sentence a staff member or reader sees.

Japanese is the source language: a message is written in Japanese where it is
used, wrapped in `_()` (templates: `{% trans %}…{% endtrans %}` or
`{{ _("…") }}`), and that Japanese text is the message id. English, the
second language, lives in `mailer/locale/en/LC_MESSAGES/*.po`, one file per
area (`domain.po`, `web.po`, `cli.po`) so that work on one area does not touch
another's file. `make messages` (tools/messages.py, Babel's extractor)
rewrites those files from the code; `tests/test_catalogue.py` fails when they
are out of date or a translation is missing.

Which language: `MAILER_LANGUAGE` (`ja`, the default, or `en`), read once per
process; `use_language()` changes it for a block (tests, one request).

Rules for writers:

- Placeholders: Python uses `str.format` names after the lookup,
  `_("{count} 件を取り込みました").format(count=n)`; never an f-string inside
  `_()` (the extractor cannot see it). Templates use `{% trans name=x %}…{{ name
  }}…{% endtrans %}`.
- A text computed at import time (a module constant, a label table) is marked
  with `N_()` and looked up with `_()` where it is shown, so that a change of
  language reaches it.

Why the .po files are read with Babel at run time instead of compiled `.mo`
files with the standard library's `gettext`: there is no build step to forget
(a clean clone and an editable install both work), and the files are small.
Japanese needs no lookup at all, so the default language never loads Babel.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE_LANGUAGE = "ja"
#: the languages a person can choose (`MAILER_LANGUAGE`)
LANGUAGES = ("ja", "en")
#: a test-only language that shows every catalogued text inside ⟦ ⟧, so that a
#: page's text outside those brackets is text that bypassed the catalogue
PSEUDO_LANGUAGE = "qps"
PSEUDO_OPEN, PSEUDO_CLOSE = "⟦", "⟧"

_override: ContextVar[str | None] = ContextVar("mailer_language", default=None)


class UnknownLanguage(ValueError):
    pass


def configured_language() -> str:
    """`MAILER_LANGUAGE` (default Japanese); an unknown value is an error."""
    value = os.environ.get("MAILER_LANGUAGE", "").strip().lower() or SOURCE_LANGUAGE
    if value not in LANGUAGES and value != PSEUDO_LANGUAGE:
        raise UnknownLanguage(
            f"MAILER_LANGUAGE={value!r}: 使える言語は {', '.join(LANGUAGES)} です"
        )
    return value


def current_language() -> str:
    """The language of the next lookup. An unknown `MAILER_LANGUAGE` speaks
    Japanese here (texts are looked up at import, before anything could say
    what is wrong); loading the settings refuses it with a clear line."""
    override = _override.get()
    if override:
        return override
    try:
        return configured_language()
    except UnknownLanguage:
        return SOURCE_LANGUAGE


@contextmanager
def use_language(language: str) -> Iterator[None]:
    """Speak `language` inside the block (this thread or task only)."""
    if language not in LANGUAGES and language != PSEUDO_LANGUAGE:
        raise UnknownLanguage(language)
    token = _override.set(language)
    try:
        yield
    finally:
        _override.reset(token)


@cache
def catalogue(language: str) -> dict[str, str | tuple[str, ...]]:
    """Every translated message of `language`: msgid (or singular) → text
    (or plural forms). Untranslated entries are left out, so they fall back
    to the Japanese source."""
    from babel.messages.pofile import read_po

    merged: dict[str, str | tuple[str, ...]] = {}
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=language):
                if not message.id or not message.string:
                    continue
                key = str(message.id[0] if isinstance(message.id, (tuple, list)) else message.id)
                text = message.string
                if isinstance(text, (tuple, list)):
                    if not all(text):
                        continue
                    merged[key] = tuple(str(t) for t in text)
                else:
                    merged[key] = str(text)
    return merged


def gettext(message: str) -> str:
    """The text of `message` (its Japanese source) in the current language."""
    language = current_language()
    if language == SOURCE_LANGUAGE:
        return message
    if language == PSEUDO_LANGUAGE:
        return f"{PSEUDO_OPEN}{message}{PSEUDO_CLOSE}"
    found = catalogue(language).get(message)
    if isinstance(found, str):
        return found
    if isinstance(found, tuple):
        return found[0]
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """Plural-aware lookup. Japanese has one form (the singular text is used
    for every count, `plural` only tells the extractor); English has two."""
    del plural
    language = current_language()
    if language == SOURCE_LANGUAGE:
        return singular
    if language == PSEUDO_LANGUAGE:
        return f"{PSEUDO_OPEN}{singular}{PSEUDO_CLOSE}"
    found = catalogue(language).get(singular)
    if isinstance(found, tuple):
        return found[0] if count == 1 else found[-1]
    if isinstance(found, str):
        return found
    return singular


def N_(message: str) -> str:
    """Mark `message` for the catalogue without looking it up (module
    constants); look it up with `_()` where it is shown."""
    return message


_ = gettext


def install(env: object) -> None:
    """Give a Jinja2 environment `_`, `gettext`, `ngettext` and `{% trans %}`
    from this catalogue (the `jinja2.ext.i18n` extension must be loaded)."""
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=gettext, ngettext=ngettext, newstyle=True
    )
