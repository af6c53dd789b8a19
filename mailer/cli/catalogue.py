"""`mailer issue list` and `mailer part list`: what is stored, as a table or
as JSON for scripts. Read models come from `mailer.services.listings`."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from mailer.cli.common import console, fail, open_engine, says, settings_or_exit
from mailer.i18n import _
from mailer.labels import PART_STATE_LABELS, tokyo


def _print_json(data: Any) -> None:
    # print(), not rich: scripts read exactly these bytes (no wrapping, no markup).
    print(json.dumps(data, ensure_ascii=False, indent=2))


JSON_HELP = _("JSON で出力します（スクリプト用）")


@says(_("号の一覧: 番号、スラッグ、題名、パート数。新しい順。"))
def issue_list(
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    from mailer.services.listings import issues

    engine = open_engine(settings_or_exit())
    rows = issues(engine)
    engine.dispose()
    if json_out:
        _print_json([{"id": r.id, "number": r.number, "slug": r.slug, "title": r.title,
                      "series": r.series, "parts": len(r.parts)} for r in rows])
        return
    if not rows:
        console.print(_("号はまだありません（`mailer issue load フォルダ` で読み込みます）。"))
        return
    table = Table(_("番号"), _("スラッグ"), _("題名"), _("パート数"))
    for r in rows:
        table.add_row(_("第{number}号").format(number=r.number), r.slug, r.title,
                      str(len(r.parts)))
    console.print(table)


@says(_("パートの一覧: ID、号、ラベル、題名、予定の日時（東京）、状態。"))
def part_list(
    issue: str | None = typer.Option(
        None, "--issue", help=_("この号だけ（番号またはスラッグ）")),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
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
        console.print(_("パートはまだありません（`mailer issue load フォルダ` で読み込みます）。"))
        return
    headers = ["ID", _("号"), _("パート"), _("題名"), _("予定"), _("状態")] + (
        [_("公開")] if with_published else [])
    table = Table(*headers)
    for r in rows:
        cells = [str(r.id),
                 _("第{number}号").format(number=r.issue_number) + f" {r.issue_slug}",
                 r.label, r.title, tokyo(r.scheduled_at),
                 PART_STATE_LABELS[r.state.value]]
        if with_published:
            cells.append(_("公開") if r.published else _("非公開"))
        table.add_row(*cells)
    console.print(table)
