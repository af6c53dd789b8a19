"""Every line the command line prints for a person goes through the message
catalogue (issue #14).

Each command runs in a fresh interpreter (help texts are looked up when a
verb's module is imported, once per process, as MAILER_LANGUAGE is read)
against a temporary SQLite database holding ASCII data only. With the
test-only language `qps` every catalogued text shows inside ⟦ ⟧, so a
Japanese character outside them is a text that bypassed the catalogue, and an
English word outside them is a sentence nobody wrapped (command names,
options, ids, URLs and file paths aside). With `en` the same commands speak
English: no Japanese at all.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.cli.root import VERBS
from mailer.i18n import PSEUDO_CLOSE, PSEUDO_OPEN
from mailer.testing.stack import TEST_SECRET

JAPANESE = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
BRACKETED = re.compile(f"{PSEUDO_OPEN}[^{PSEUDO_OPEN}{PSEUDO_CLOSE}]*{PSEUDO_CLOSE}")
#: what may stay English outside ⟦ ⟧: URLs, e-mail addresses, paths, options,
#: `quoted commands`, DNS record values and names, and then the words below
NOT_PROSE = re.compile(
    r"https?://\S+|\S+@\S+|\S*/\S*|--?[\w-]+|`[^`]*`|\"[^\"]*\"|\w+=\S*|<[^>]*>"
    r"|[\w-]*(?:\.[\w-]+)+"  # domain names
)
#: the data this test writes and the words of the command line itself
ALLOWED_WORDS = {
    "mailer", "alpha", "Alpha", "people", "csv", "qps", "db", "sqlite",
    # the usage line's metavars and a verb's arguments as click names them
    "OPTIONS", "COMMAND", "ARGS", "name", "file", "part_id", "slug", "directory", "source",
    "missing", "docx", "draft",
    "str", "bool", "int", "float", "path", "choice", "public", "internal",
    # the configuration's own words: variable values, DNS record types
    "TXT", "MX", "UTF", "BOM", "local", "example", "com",
}
#: verbs, their sub-commands and option values are the command line's words
ALLOWED_WORDS |= {part for name in VERBS for part in name.split("-")}
ALLOWED_WORDS |= {"upgrade", "create", "show", "list", "load", "check", "preview", "publish",
                  "unpublish", "import", "export", "set", "visibility", "serve", "erase",
                  "compact", "disable", "enable", "password", "revoke", "nope"}

CSV = "email,name\nann@example.com,Ann Lee\nbob@example.com,Bob Ray\n"


def _mailer(env: dict[str, str], *args: str, language: str = "") -> tuple[int, str]:
    """Run `mailer ARGS`; `language` (qps) is set in-process, as Settings
    accepts only the languages a person may choose in MAILER_LANGUAGE."""
    code = ("import contextlib, sys\nfrom mailer.i18n import use_language\n"
            "with use_language(sys.argv[1]) if sys.argv[1] else contextlib.nullcontext():\n"
            "    from mailer.cli import app\n"
            "    app(args=sys.argv[2:], prog_name='mailer')\n")
    result = subprocess.run([sys.executable, "-c", code, language, *args], capture_output=True,
                            text=True, timeout=120, env=env, cwd=env["HOME"])
    return result.returncode, result.stdout + result.stderr


@pytest.fixture
def base_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update({
        "HOME": str(tmp_path),
        "COLUMNS": "200",
        "MAILER_DATABASE_URL": f"sqlite:///{tmp_path / 'mailer.db'}",
        "MAILER_SECRET_KEY": TEST_SECRET,
        "MAILER_BASE_URL": "https://mailer.example.com",
    })
    (tmp_path / "people.csv").write_text(CSV, encoding="utf-8")
    yield env


#: (arguments, expected exit status) in the order a new installation runs them
SESSION: list[tuple[tuple[str, ...], int]] = [
    (("lists", "show"), 78),  # no database yet: one line from mailer.cli.errors
    (("db", "upgrade"), 0),
    (("lists", "show"), 0),  # no lists yet
    (("lists", "create", "alpha", "--title", "Alpha"), 0),
    (("subscribers", "import", "people.csv", "--list", "alpha"), 0),
    (("subscribers", "import", "people.csv", "--list", "alpha", "--dry-run"), 0),
    (("lists", "set-visibility", "alpha", "public"), 0),
    (("lists", "show"), 0),
    (("issue", "list"), 0),
    (("part", "list"), 0),
    (("status", "999"), 1),  # a part without sends
    (("part", "preview", "1", "--format", "pdf"), 1),
    (("schedule", "1", "--list", "alpha", "--at", "someday"), 1),
    (("doctor",), 1),  # no Redis configured: an error line
    (("--help",), 0),
    (("lists", "--help"), 0),
    (("lists", "create", "--help"), 0),
    (("subscribers", "import", "--help"), 0),
    (("part", "--help"), 0),
    (("send", "--help"), 0),
    (("issue", "export", "--help"), 0),
    (("issue", "import-docx", "--help"), 0),
    (("issue", "import-docx", "missing.docx", "draft"), 1),  # no such file
    (("nope",), 2),  # not a verb: typer's usage errors
    (("lists", "show", "--bogus"), 2),
    (("lists", "show", "extra"), 2),
    (("lists", "create"), 2),
]


def _run_session(env: dict[str, str], language: str = "") -> list[tuple[tuple[str, ...], str]]:
    outputs = []
    for args, status in SESSION:
        code, out = _mailer(env, *args, language=language)
        assert code == status, (args, out)
        outputs.append((args, out))
    return outputs


def _outside_brackets(text: str) -> str:
    while True:
        inner = BRACKETED.sub(" ", text)
        if inner == text:
            return text
        text = inner


def test_every_line_goes_through_the_catalogue(base_env: dict[str, str]) -> None:
    outputs = _run_session(base_env, language="qps")
    problems = []
    for args, out in outputs:
        assert PSEUDO_OPEN in out, (args, out)  # the command said something catalogued
        rest = _outside_brackets(out)
        for line in rest.splitlines():
            if JAPANESE.search(line):
                problems.append(f"mailer {' '.join(args)}: Japanese outside ⟦⟧: {line.strip()}")
            words = set(re.findall(r"[A-Za-z][\w']+", NOT_PROSE.sub(" ", line)))
            english = words - ALLOWED_WORDS
            if english:
                problems.append(f"mailer {' '.join(args)}: English {sorted(english)}: "
                                f"{line.strip()}")
    assert not problems, "\n".join(problems)


def test_english_is_english(base_env: dict[str, str]) -> None:
    outputs = dict(_run_session({**base_env, "MAILER_LANGUAGE": "en"}))
    for args, out in outputs.items():
        assert not JAPANESE.search(out), (args, out)
    assert "created list alpha (Alpha)" in outputs[("lists", "create", "alpha", "--title",
                                                     "Alpha")]
    assert "created 2, updated 0, unchanged 0" in outputs[
        ("subscribers", "import", "people.csv", "--list", "alpha")]
    assert "dry run: nothing written" in outputs[
        ("subscribers", "import", "people.csv", "--list", "alpha", "--dry-run")]
    assert "error: part 999: no sends" in outputs[("status", "999")]
    assert "Usage: mailer lists create" in outputs[("lists", "create", "--help")]
    assert "Create a mailing list (internal unless --public)." in outputs[
        ("lists", "create", "--help")]
    assert "ok     configuration: loads (MAILER_ENV=local)" in outputs[("doctor",)]
    assert "No such option: --bogus" in outputs[("lists", "show", "--bogus")]
    assert "Missing argument 'name'." in outputs[("lists", "create")]


def test_japanese_is_the_default(base_env: dict[str, str]) -> None:
    code, out = _mailer(base_env, "lists", "create", "--help")
    assert code == 0
    assert "使い方: mailer lists create" in out and "配信リストを作成します" in out
    code, out = _mailer(base_env, "status", "1")
    assert code == 78 and out.startswith("エラー: SQLite のデータベースファイルがありません")
