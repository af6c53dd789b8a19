"""No status of a send or a delivery is written past the transition table.

Reads the source of mailer/, workers/ and benchmarks/ (AST) and fails on a write of
`status` to the send or delivery table that does not come from
mailer.delivery.states: `update(D).values(status=…)`, `{"status": SendStatus…}`,
`send.status = SendStatus…`, or `UPDATE delivery SET status = …` in SQL text.
A set-based statement takes its status from a `Transition`
(`delivery_transition(...).update(D, …)`); a single-row change checks
`check_send` / `check_delivery` first, in the files allowed below.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("mailer", "workers", "benchmarks")

#: files that may write a status themselves, and why
ALLOWED = {
    "mailer/delivery/states.py": "builds every guarded statement from the table",
    # Pause, resume and cancel read the row, call check_send and update it
    # with the old status as guard (the lead's rewrite of this file).
    "mailer/services/sends.py": "single-row changes after check_send",
}

TABLE_CLASSES = {"Delivery", "Send"}
TABLE_NAMES = {"delivery", "send"}
LEDGER_ALIASES = {"D", "SEND"}  # what mailer.delivery.ledger calls the two tables
STATUS_ENUMS = {"SendStatus", "DeliveryStatus"}


def _is_table(node: ast.AST, aliases: set[str]) -> bool:
    """Is `node` the send or delivery table (or the ORM class of one)?"""
    if isinstance(node, ast.Attribute):
        if node.attr == "__table__":
            return isinstance(node.value, ast.Name) and node.value.id in TABLE_CLASSES
        return (
            isinstance(node.value, ast.Name)
            and node.value.id == "ledger"
            and node.attr in LEDGER_ALIASES
        )
    return isinstance(node, ast.Name) and (node.id in aliases or node.id in TABLE_CLASSES)


def _aliases(tree: ast.Module) -> set[str]:
    """Module-level names bound to the send or delivery table."""
    aliases: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "mailer.delivery.ledger":
            aliases |= {a.asname or a.name for a in node.names if a.name in LEDGER_ALIASES}
    while True:  # SEND = ledger.SEND; OTHER = SEND …
        more = {
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign) and _is_table(node.value, aliases)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        if more <= aliases:
            return aliases
        aliases |= more


def _mentions_status_enum(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Name) and n.id in STATUS_ENUMS)
        or (isinstance(n, ast.Attribute) and n.attr in STATUS_ENUMS)
        for n in ast.walk(node)
    )


def _updated_table(call: ast.Call, aliases: set[str]) -> bool | None:
    """For `<chain>.values(...)`: True if the chain starts at `update(<send or
    delivery>)` or `<table>.update()`, False if at another table's, None if unknown."""
    node: ast.AST = call.func
    while isinstance(node, (ast.Attribute, ast.Call)):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id == "update" and node.args:
                return _is_table(node.args[0], aliases)
            if isinstance(f, ast.Attribute) and f.attr == "update" and not node.args:
                return _is_table(f.value, aliases)
            node = f
        else:
            node = node.value
    return None


_SQL_UPDATE = re.compile(
    r"\bUPDATE\s+(?P<table>\S+)(?:\s+AS\s+\w+)?\s+SET\b(?P<set>.*?)(?:\bFROM\b|\bWHERE\b|$)",
    re.IGNORECASE | re.DOTALL,
)
_SQL_STATUS = re.compile(r"(?<![.\w])status\s*=(?!=)", re.IGNORECASE)


def _sql_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # f"…{D.name}…": the holes stay holes
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def status_writes(source: str, path: str = "<source>") -> list[str]:
    """Return `path:line: what` for every direct status write in `source`."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found: list[str] = []
    inside_fstring = {
        id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values
    }
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr != "values":
                continue
            status = [k.value for k in node.keywords if k.arg == "status"]
            status += [
                v
                for d in node.args
                if isinstance(d, ast.Dict)
                for k, v in zip(d.keys, d.values, strict=True)
                if isinstance(k, ast.Constant) and k.value == "status"
            ]
            table = _updated_table(node, aliases)
            if status and (table or (table is None and _mentions_status_enum(status[0]))):
                found.append(f"{path}:{line}: .values(status=…) on the send or delivery table")
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == "status" and _mentions_status_enum(v):
                    found.append(f"{path}:{line}: {{'status': …}} with a send or delivery status")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if (
                node.value is not None
                and any(isinstance(t, ast.Attribute) and t.attr == "status" for t in targets)
                and _mentions_status_enum(node.value)
            ):
                found.append(f"{path}:{line}: .status = … on a send or delivery")
        elif id(node) not in inside_fstring and (text := _sql_text(node)) is not None:
            for m in _SQL_UPDATE.finditer(text):
                name = m.group("table").strip('"').lower()
                if (name in TABLE_NAMES or "{}" in name) and _SQL_STATUS.search(m.group("set")):
                    found.append(f"{path}:{line}: UPDATE … SET status = … in SQL text")
    return found


def _sources() -> Iterator[tuple[str, str]]:
    for top in SOURCES:
        for file in sorted((ROOT / top).rglob("*.py")):
            rel = file.relative_to(ROOT).as_posix()
            yield rel, file.read_text(encoding="utf-8")


def test_no_status_write_bypasses_the_table() -> None:
    found = [
        hit
        for rel, source in _sources()
        if rel not in ALLOWED
        for hit in status_writes(source, rel)
    ]
    assert found == [], "write statuses through mailer.delivery.states:\n" + "\n".join(found)


def test_the_allowed_files_exist() -> None:
    # a stale allowance would silently cover a new file of the same name
    assert all((ROOT / rel).is_file() for rel in ALLOWED)


# -- the scanner itself finds what it must -----------------------------------------

FLAGGED = {
    "core keyword": """
from mailer.models import Delivery, DeliveryStatus
D = Delivery.__table__
conn.execute(update(D).where(D.c.id == 1).values(status=DeliveryStatus.SENT.value))
""",
    "alias of the ledger's name": """
from mailer.delivery import ledger
SEND = ledger.SEND
stmt = update(SEND).where(SEND.c.id == 1).values(status="done", updated_at=now)
""",
    "imported from the ledger, a bound parameter": """
from mailer.delivery.ledger import D as ROWS
stmt = update(ROWS).values(status=bindparam("b_status"))
""",
    "table method": """
stmt = Send.__table__.update().values({"status": "running"})
""",
    "an unknown statement with a status enum": """
conn.execute(stmt.values(status=SendStatus.PAUSED.value))
""",
    "a dict of values": """
values = {"status": SendStatus.RUNNING.value, "note": ""}
""",
    "ORM attribute": """
send.status = SendStatus.CANCELLED
""",
    "SQL text": """
text("UPDATE delivery SET status = 'sent' WHERE id = :id")
""",
    "SQL f-string": """
text(f'''UPDATE {D.name} AS d SET
    relay = o.relay, status = o.status
    FROM unnest(:ids) AS o(id) WHERE d.id = o.id''')
""",
}

CLEAN = {
    "through a transition": """
from mailer.delivery.ledger import D
conn.execute(CANCEL_LEFT.update(D, D.c.send_id == 1, status=None, updated_at=now))
stmt = update(D).where(D.c.id == 1).values(**CLAIM.values(attempts=D.c.attempts + 1))
""",
    "a guard and a SET from the table in SQL text": """
text(f'''UPDATE {D.name} AS d SET {RECORD.sql_set("o.status")}, relay = o.relay
    FROM unnest(:ids) AS o(id) WHERE d.id = o.id AND {RECORD.sql_guard("d.status")}''')
""",
    "the subscriber table": """
SUB = Subscriber.__table__
conn.execute(update(SUB).values(status=SubscriberStatus.BOUNCED.value))
sub.status = SubscriberStatus.ACTIVE
text("UPDATE subscriber SET status = 'bounced' WHERE id = :id")
""",
    "reads and other columns": """
from mailer.delivery.ledger import D, SEND
select(D).where(D.c.status == DeliveryStatus.SENT.value)
update(SEND).where(SEND.c.id == 1).values(recipients=3)
text("SELECT status FROM delivery WHERE status = 'sent'")
View(status=SendStatus(row.status))
""",
}


@pytest.mark.parametrize("name", FLAGGED)
def test_the_scanner_finds(name: str) -> None:
    assert len(status_writes(FLAGGED[name])) == 1


@pytest.mark.parametrize("name", CLEAN)
def test_the_scanner_passes(name: str) -> None:
    assert status_writes(CLEAN[name]) == []


def test_the_allowed_files_do_write_statuses() -> None:
    # sends.py is allowed because it writes statuses itself; once it no longer
    # does (the set-based ones can use delivery_transition), drop it from ALLOWED.
    assert status_writes((ROOT / "mailer/services/sends.py").read_text(encoding="utf-8"))
