"""The status tables and the statements built from them.

The edges are written out here a second time on purpose: a change to the
table must be a change to this file too, seen in review.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from mailer.db import session_scope
from mailer.delivery import ledger, states
from mailer.delivery.dispatch import start_send
from mailer.delivery.ledger import D, Outcome
from mailer.delivery.states import (
    DELIVERY_TRANSITIONS,
    SEND_TRANSITIONS,
    Transition,
    TransitionError,
    check_delivery,
    check_send,
    delivery_transition,
    send_transition,
)
from mailer.models import DeliveryStatus as DS
from mailer.models import SendStatus as SS
from mailer.services.sends import create_send
from mailer.testing.seed import LIST, seed

DELIVERY_EDGES = {
    (DS.PENDING, DS.SENDING),
    (DS.PENDING, DS.CANCELLED),
    (DS.SENDING, DS.SENT),
    (DS.SENDING, DS.DEFERRED),
    (DS.SENDING, DS.FAILED),
    (DS.SENDING, DS.SKIPPED),
    (DS.SENDING, DS.UNKNOWN),  # no reply after the data: terminal, never sent again
    (DS.SENDING, DS.PENDING),
    (DS.DEFERRED, DS.SENDING),
    (DS.DEFERRED, DS.CANCELLED),
    (DS.FAILED, DS.PENDING),
}
SEND_EDGES = {
    (SS.SCHEDULED, SS.RUNNING),
    (SS.SCHEDULED, SS.PAUSED),
    (SS.SCHEDULED, SS.CANCELLED),
    (SS.RUNNING, SS.PAUSED),
    (SS.RUNNING, SS.DONE),
    (SS.RUNNING, SS.CANCELLED),
    (SS.PAUSED, SS.RUNNING),
    (SS.PAUSED, SS.SCHEDULED),
    (SS.PAUSED, SS.CANCELLED),
    (SS.DONE, SS.RUNNING),
}


@pytest.mark.parametrize(("old", "new"), list(itertools.product(DS, DS)))
def test_every_delivery_pair(old: DS, new: DS) -> None:
    if (old, new) in DELIVERY_EDGES:
        check_delivery(old, new)
        assert delivery_transition(new, from_=old).old == (old,)
    else:
        with pytest.raises(TransitionError):
            check_delivery(old, new)
        with pytest.raises(TransitionError, match=f"no edge {old} -> {new}"):
            delivery_transition(new, from_=old)


@pytest.mark.parametrize(("old", "new"), list(itertools.product(SS, SS)))
def test_every_send_pair(old: SS, new: SS) -> None:
    if (old, new) in SEND_EDGES:
        check_send(old, new)
        assert send_transition(new, from_=old).old == (old,)
    else:
        with pytest.raises(TransitionError):
            check_send(old, new)
        with pytest.raises(TransitionError, match=f"no edge {old} -> {new}"):
            send_transition(new, from_=old)


def test_the_tables_name_every_status() -> None:
    assert set(DELIVERY_TRANSITIONS) == set(DS)
    assert set(SEND_TRANSITIONS) == set(SS)


def test_without_from_every_status_that_may_become_the_new_one() -> None:
    assert delivery_transition(DS.SENDING).old == (DS.PENDING, DS.DEFERRED)
    assert delivery_transition(DS.CANCELLED).old == (DS.PENDING, DS.DEFERRED)
    assert send_transition(SS.RUNNING).old == (SS.SCHEDULED, SS.PAUSED, SS.DONE)
    # several new statuses: the rows that may take each of them
    assert delivery_transition((DS.SENT, DS.PENDING)).old == (DS.SENDING,)
    with pytest.raises(TransitionError, match="no delivery status may become"):
        delivery_transition((DS.SENT, DS.CANCELLED))  # no status has both edges
    with pytest.raises(TransitionError, match="no send status may become"):
        send_transition([])


def test_a_status_is_not_read_as_its_characters() -> None:
    # a StrEnum is iterable: "sent" must not become ("s", "e", "n", "t")
    t = delivery_transition(DS.SENT, from_=DS.SENDING)
    assert (t.old, t.new) == ((DS.SENDING,), (DS.SENT,))


def test_guard_and_set_as_core_and_as_text() -> None:
    one = delivery_transition(DS.SENT, from_=DS.SENDING)
    two = delivery_transition(DS.CANCELLED, from_=(DS.PENDING, DS.DEFERRED))
    assert one.sql_guard("d.status") == "d.status = 'sending'"
    assert two.sql_guard("d.status") == "d.status IN ('pending', 'deferred')"
    assert one.sql_set() == "status = 'sent'"
    assert one.sql_set("o.status") == "status = o.status"
    compiled = one.update(D, D.c.id == 1, updated_at=None).compile()
    assert str(compiled).startswith("UPDATE delivery SET status=")
    assert "WHERE delivery.status = " in str(compiled)
    assert compiled.params["status"] == "sent" and "sending" in compiled.params.values()
    in_guard = str(two.guard(D.c.status).compile(compile_kwargs={"literal_binds": True}))
    assert in_guard == "delivery.status IN ('pending', 'deferred')"


def test_several_targets_need_a_status_per_row_and_check_it() -> None:
    t = delivery_transition((DS.SENT, DS.FAILED), from_=DS.SENDING)
    with pytest.raises(TransitionError, match="say which per row"):
        t.values()
    with pytest.raises(TransitionError, match="say which per row"):
        t.sql_set()
    t.check_targets({DS.SENT, DS.FAILED})
    with pytest.raises(TransitionError, match="cannot become skipped"):
        t.check_targets([DS.SENT, DS.SKIPPED])


# -- every set-based writer refuses an edge the table lacks --------------------

WRITERS = ("mailer.delivery.ledger", "mailer.delivery.dispatch", "mailer.delivery.engine")


def _transitions(module: ModuleType) -> dict[str, Transition[Any]]:
    """The transitions a module declares (a constant, or a dict of them)."""
    out: dict[str, Transition[Any]] = {}
    for name, value in vars(module).items():
        if isinstance(value, Transition):
            out[name] = value
        elif (
            isinstance(value, dict)
            and value
            and all(isinstance(v, Transition) for v in value.values())
        ):
            out.update({f"{name}[{k}]": v for k, v in value.items()})
    return out


def test_the_writers_declare_their_moves() -> None:
    found = {mod: set(_transitions(importlib.import_module(mod))) for mod in WRITERS}
    assert found == {
        "mailer.delivery.ledger": {
            "CLAIM[pending]",
            "CLAIM[deferred]",
            "SKIP",
            "RECORD",
            "ACCEPTED",
            "TAKE_BACK",
            "CANCEL_LEFT",
        },
        "mailer.delivery.dispatch": {"START", "HOLD_FOR_PREFLIGHT", "FINISH"},
        "mailer.delivery.engine": {"AUTO_PAUSE"},
    }


WRITER_EDGES = sorted(
    {
        (mod, old, new)
        for mod in WRITERS
        for t in _transitions(importlib.import_module(mod)).values()
        for old in t.old
        for new in t.new
    }
)


def _load_copy(module: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Execute a module's source again under another name (the imported
    module, and everything holding on to it, stays as it was)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    name = f"_copy_of_{module.replace('.', '_')}"
    copy_spec = importlib.util.spec_from_file_location(name, spec.origin)
    assert copy_spec is not None and copy_spec.loader is not None
    copy = importlib.util.module_from_spec(copy_spec)
    monkeypatch.setitem(sys.modules, name, copy)
    copy_spec.loader.exec_module(copy)
    return copy


@pytest.mark.parametrize(("module", "old", "new"), WRITER_EDGES)
def test_a_writer_refuses_an_edge_the_table_lacks(
    module: str, old: DS | SS, new: DS | SS, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load_copy(module, monkeypatch)  # the real table: it loads
    table: dict[Any, frozenset[Any]] = (
        states.DELIVERY_TRANSITIONS if isinstance(old, DS) else states.SEND_TRANSITIONS
    )
    monkeypatch.setitem(table, old, table[old] - {new})
    with pytest.raises(TransitionError, match=f"no edge {old} -> {new}"):
        _load_copy(module, monkeypatch)


# -- the statements on a real database ------------------------------------------


def _send_with_rows(engine: Engine, statuses: list[DS]) -> tuple[int, list[int]]:
    """A started send whose ledger rows are in `statuses` (set directly: a fixture)."""
    data = seed(engine, len(statuses))
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        send_id = int(create_send(session=session, part_id=data.part_id, list_names=[LIST]).id)  # type: ignore[arg-type]
    assert start_send(engine, send_id, now=now)
    with engine.begin() as conn:
        ids = sorted(conn.execute(select(D.c.id).where(D.c.send_id == send_id)).scalars())
        for i, s in zip(ids, statuses, strict=True):
            conn.execute(update(D).where(D.c.id == i).values(status=s.value))
    return send_id, ids


def _statuses(engine: Engine, ids: list[int]) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(D.c.id, D.c.status).where(D.c.id.in_(ids))).all()
    got: dict[int, str] = {int(r.id): str(r.status) for r in rows}
    return [got[i] for i in ids]


def test_a_statement_moves_only_rows_on_its_edges(engine: Engine) -> None:
    every = list(DS)
    send_id, ids = _send_with_rows(engine, every)
    move = delivery_transition(DS.CANCELLED, from_=(DS.PENDING, DS.DEFERRED))
    with engine.begin() as conn:
        n = conn.execute(move.update(D, D.c.send_id == send_id)).rowcount
    assert n == 2
    expected = ["cancelled" if s in (DS.PENDING, DS.DEFERRED) else s.value for s in every]
    assert _statuses(engine, ids) == expected


def test_record_outcomes_refuses_a_status_a_sending_row_may_not_take(engine: Engine) -> None:
    _, ids = _send_with_rows(engine, [DS.SENDING, DS.SENDING])
    now = datetime.now(UTC)
    outcomes = [
        Outcome(ids[0], DS.SENT, relay="a:25", code=250),
        Outcome(ids[1], DS.CANCELLED, "not an outcome"),
    ]
    with pytest.raises(TransitionError, match="cannot become cancelled"), engine.begin() as conn:
        ledger.record_outcomes(conn, outcomes, now=now + timedelta(seconds=1))
    assert _statuses(engine, ids) == ["sending", "sending"]  # nothing written
    with engine.begin() as conn:
        assert ledger.record_outcomes(conn, outcomes[:1], now=now) == 1
    assert _statuses(engine, ids) == ["sent", "sending"]
