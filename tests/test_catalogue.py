"""The message catalogue (mailer/i18n.py): files current, translations
complete, placeholders kept, and the language switch doing what it says."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from mailer import i18n
from mailer.labels import SEND_LABELS
from mailer.models import SendStatus
from mailer.web.admin.common import admin_environment

ROOT = Path(__file__).resolve().parent.parent
PO_DIR = ROOT / "mailer" / "locale" / "en" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"\{(\w*)\}|%\((\w+)\)s")


def test_catalogue_files_are_current_and_complete() -> None:
    """Fails when code gained a message that is not in the .po files (or lost
    one still there), or an English text is missing: run `make messages`."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "messages.py"), "--check"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _entries() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted(PO_DIR.glob("*.po")):
        for message in read_po(io.BytesIO(path.read_bytes()), locale="en"):
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for string in strings:
                out.append((path.name, ids[0], string))
    return out


def test_translations_keep_every_placeholder() -> None:
    entries = _entries()
    assert entries, "the catalogue is empty"
    wrong = [
        f"{name}: {msgid!r} -> {string!r}"
        for name, msgid, string in entries
        if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(string))
    ]
    assert not wrong, "\n".join(wrong)


def test_japanese_is_the_source_and_english_comes_from_the_catalogue() -> None:
    with i18n.use_language("ja"):
        assert SEND_LABELS[SendStatus.DONE] == "完了"
    with i18n.use_language("en"):
        assert SEND_LABELS[SendStatus.DONE] == "Done"
        outside = "このメッセージはカタログにありません"
        assert i18n.gettext(outside) == outside


def test_pseudo_language_brackets_every_catalogued_text() -> None:
    with i18n.use_language(i18n.PSEUDO_LANGUAGE):
        assert SEND_LABELS[SendStatus.DONE] == "⟦完了⟧"


def test_templates_translate_through_the_catalogue() -> None:
    env = admin_environment(site_name="テスト")
    template = env.from_string(
        '{{ _("完了") }}／{% trans n=3 %}{{ n }} 件{% endtrans %}'
    )
    assert template.render() == "完了／3 件"
    with i18n.use_language("en"):
        assert template.render().startswith("Done／")


def test_unknown_language_is_refused_in_japanese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_LANGUAGE", "fr")
    with pytest.raises(i18n.UnknownLanguage, match="'fr': 使える言語は ja, en です"):
        i18n.configured_language()
