"""`mailer/web` never writes to the database itself (docs/architecture.md): a
scan of its source for every way a write is spelt. Web code reads, and calls
a service for anything that changes a row; nothing is allowed here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "mailer" / "web"

#: methods of a Session, Connection or Engine that write or own a transaction
WRITE_METHODS = {"add", "add_all", "merge", "flush", "commit", "begin", "begin_nested",
                 "bulk_save_objects", "bulk_insert_mappings", "bulk_update_mappings"}
#: statement builders (sqlalchemy.insert/update/delete, Table.insert()...) and
#: the status transitions' `.update(...)`
STATEMENTS = {"insert", "update", "delete", "values", "upsert", "on_conflict_do_update",
              "on_conflict_do_nothing"}
#: helpers that write rows or open a committing transaction: services only
WRITE_HELPERS = {"session_scope", "record_audit"}
DML = ("insert", "update", "delete", "merge", "truncate", "alter", "create", "drop")


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _names_in_chain(node: ast.AST) -> set[str]:
    """Every called or attribute name in an expression such as
    `T.update().where(...).values(...)` or `insert(T).values(...)`."""
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            names.add(_name(sub.func))
        elif isinstance(sub, ast.Attribute):
            names.add(sub.attr)
    return names


def _sql_text_writes(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if (isinstance(sub, ast.Call) and _name(sub.func) == "text" and sub.args
                and isinstance(sub.args[0], ast.Constant) and isinstance(sub.args[0].value, str)
                and sub.args[0].value.lstrip().lower().startswith(DML)):
            return True
    return False


def _receiver(node: ast.Attribute) -> str:
    return _name(node.value).lower()


def writes_in(source: str, filename: str = "<source>") -> list[str]:
    """Return `file:line: what` for every database write spelt in `source`."""
    found: list[str] = []

    def say(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for alias in node.names:
                if alias.name in WRITE_HELPERS:
                    say(node, f"imports {alias.name}")
                elif alias.name in {"insert", "update", "delete"} and module.startswith(
                        ("sqlalchemy", "sqlmodel")):
                    say(node, f"imports {module}.{alias.name}")
        elif isinstance(node, ast.Call):
            func = node.func
            if _name(func) in WRITE_HELPERS:
                say(node, f"calls {_name(func)}")
            if not isinstance(func, ast.Attribute):
                continue
            if func.attr in WRITE_METHODS:
                say(node, f"calls .{func.attr}()")
            elif func.attr == "delete" and "redis" not in _receiver(func) and \
                    _receiver(func) != "pipe":
                say(node, "calls .delete()")  # Session.delete; Redis keys are not rows
            elif func.attr in {"execute", "exec", "scalar", "scalars", "executemany"}:
                args = [*node.args, *(k.value for k in node.keywords)]
                if any(_names_in_chain(a) & STATEMENTS for a in args):
                    say(node, f"executes a write statement (.{func.attr})")
                elif any(_sql_text_writes(a) for a in args):
                    say(node, f"executes write SQL text (.{func.attr})")
    return found


def test_mailer_web_writes_nothing() -> None:
    found = []
    for path in sorted(WEB.rglob("*.py")):
        found += writes_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == [], "\n".join(["mailer/web writes to the database; call a service:", *found])


def test_the_scan_finds_every_spelling_of_a_write() -> None:
    samples = {
        "from mailer.db import session_scope": "imports session_scope",
        "from mailer.services.accounts import record_audit": "imports record_audit",
        "from sqlalchemy import insert": "imports sqlalchemy.insert",
        "from sqlmodel import delete": "imports sqlmodel.delete",
        "session.add(row)": "calls .add()",
        "session.add_all(rows)": "calls .add_all()",
        "s.commit()": "calls .commit()",
        "session.flush()": "calls .flush()",
        "session.delete(row)": "calls .delete()",
        "with engine.begin() as conn: pass": "calls .begin()",
        "conn.execute(T.update().where(x).values(a=1))": "executes a write statement",
        "conn.execute(sa.insert(T).values(a=1))": "executes a write statement",
        "conn.execute(AUTO_PAUSE.update(SEND, SEND.c.id == 1))": "executes a write statement",
        "session.exec(stmt.on_conflict_do_nothing())": "executes a write statement",
        "conn.execute(text(' UPDATE t SET a = 1'))": "executes write SQL text",
        "mailer.services.accounts.record_audit(engine, actor='x')": "calls record_audit",
    }
    for source, what in samples.items():
        found = writes_in(source)
        assert len(found) >= 1 and what in found[0], (source, found)
    reads = [
        "session.execute(select(User).where(User.id == 1))",
        "conn.execute(text('SELECT 1'))",
        "self._redis.delete(key)",
        "pipe.delete(count_key)",
        "response.headers.update(h)",
        "with Session(engine) as session: session.get(User, 1)",
    ]
    for source in reads:
        assert writes_in(source) == [], source
