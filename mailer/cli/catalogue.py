"""`mailer issue list` and `mailer part list`: what is stored, as a table or
as JSON for scripts. Read models come from `mailer.services.listings`."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from mailer.cli.common import console, fail, open_engine, settings_or_exit
from mailer.labels import PART_STATE_LABELS, tokyo


def _print_json(data: Any) -> None:
    # print(), not rich: scripts read exactly these bytes (no wrapping, no markup).
    print(json.dumps(data, ensure_ascii=False, indent=2))


def issue_list(
    json_out: bool = typer.Option(False, "--json", help="print JSON (for scripts)"),
) -> None:
    """List the issues: number, slug, title and how many parts, newest first."""
    from mailer.services.listings import issues

    engine = open_engine(settings_or_exit())
    rows = issues(engine)
    engine.dispose()
    if json_out:
        _print_json([{"id": r.id, "number": r.number, "slug": r.slug, "title": r.title,
                      "series": r.series, "parts": len(r.parts)} for r in rows])
        return
    if not rows:
        console.print("号はまだありません（`mailer issue load フォルダ` で読み込みます）。")
        return
    table = Table("番号", "スラッグ", "題名", "パート数")
    for r in rows:
        table.add_row(f"第{r.number}号", r.slug, r.title, str(len(r.parts)))
    console.print(table)


def part_list(
    issue: str | None = typer.Option(None, "--issue", help="only this issue (number or slug)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON (for scripts)"),
) -> None:
    """List the parts: id, issue, label, title, planned time (Tokyo) and state."""
    from mailer.services.listings import part_listings

    engine = open_engine(settings_or_exit())
    try:
        rows = part_listings(engine, issue=issue)
    except LookupError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    with_published = any(r.published is not None for r in rows)
    if json_out:
        _print_json([{
            "id": r.id, "issue_id": r.issue_id, "issue_number": r.issue_number,
            "issue_slug": r.issue_slug, "label": r.label, "title": r.title,
            "scheduled_at": r.scheduled_at.isoformat() if r.scheduled_at else None,
            "state": r.state.value,
            **({"published": r.published} if with_published else {}),
        } for r in rows])
        return
    if not rows:
        console.print("パートはまだありません（`mailer issue load フォルダ` で読み込みます）。")
        return
    headers = ["ID", "号", "パート", "題名", "予定", "状態"] + (["公開"] if with_published else [])
    table = Table(*headers)
    for r in rows:
        cells = [str(r.id), f"第{r.issue_number}号 {r.issue_slug}", r.label, r.title,
                 tokyo(r.scheduled_at),
                 PART_STATE_LABELS[r.state.value]]
        if with_published:
            cells.append("公開" if r.published else "非公開")
        table.add_row(*cells)
    console.print(table)
