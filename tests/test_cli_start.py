"""`mailer` loads a verb only when it runs (reliability #17, fast start).

The time itself is a benchmark (docs/operations.md, `python -X importtime`),
not a timed test; this checks what makes it fast: `mailer --help` imports no
verb module, `mailer lists show` imports the lists module but neither Celery,
the web app nor the renderer, and the help lines of the verb table are the
verbs' own.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from mailer.cli.root import VERBS, load_verb

HEAVY = ("celery", "workers.app", "mailer.web", "mailer.render.html", "dkim", "uvicorn",
         "fastapi")


def _first_paragraph(text: str) -> str:
    return text.strip().split("\n\n")[0].strip()


@pytest.mark.parametrize("name", list(VERBS))
def test_the_table_says_what_the_verb_says(name: str) -> None:
    command = load_verb(name, VERBS[name])
    assert command.name == name
    assert VERBS[name].help == _first_paragraph(command.help or "")


def _imported_after(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """Run `mailer ARGS` in a fresh interpreter; return the modules it imported."""
    code = ("import sys\nfrom mailer.cli import app\n"
            "try:\n    app(args=sys.argv[1:], prog_name='mailer')\n"
            "except SystemExit:\n    pass\n"
            "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                            text=True, timeout=60, env=env)
    return set(result.stderr.split())


def test_help_imports_no_verb() -> None:
    modules = _imported_after("--help")
    loaded = {m for m in modules if m.startswith("mailer.") and m not in (
        "mailer.cli", "mailer.cli.root", "mailer.cli.errors", "mailer.i18n")}
    assert loaded == set()
    assert not {m for m in modules for h in HEAVY if m == h or m.startswith(h + ".")}


def test_lists_show_imports_what_it_uses(tmp_path: object) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_DATABASE_URL"] = "sqlite:////nonexistent/mailer.db"  # refused, after import
    modules = _imported_after("lists", "show", env=env)
    assert "mailer.cli.subscribers" in modules
    assert "mailer.cli.main" not in modules
    heavy = {m for m in modules for h in HEAVY if m == h or m.startswith(h + ".")}
    assert heavy == set()
