"""Helpers for the subscriber tests: a CLI app built from the sub-apps, counts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from mailer.cli.subscribers import lists_app, segments_app, subscribers_app
from mailer.models import Membership, Subscriber, SubscriberEvent, Suppression

HEADER = "メールアドレス,氏名,敬称,団体名,団体区分,役職,役割,形式,文字コード"
ROWS = [
    "cio@chiyoda.example.jp,佐藤 一郎,様,千代田区,特別区,副区長(CIO),CIO,HTML,UTF-8",
    "cio@minato.example.jp,髙橋 健太,様,港区,特別区,政策経営部長(CIO補佐、CISO),CIO補佐;CISO,"
    "テキスト,ISO-2022-JP",
    "cio@hachioji.example.jp,山﨑 直子,様,八王子市,市,副市長(CIO),CIO,HTML,UTF-8",
    "cio@okutama.example.jp,中村 誠,様,奥多摩町,町,総務課長(CIO補佐),CIO補佐,HTML,UTF-8",
]


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\r\n".join([header, *rows]) + "\r\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def table_counts(engine: Engine) -> dict[str, int]:
    """Row counts of every table an import writes."""
    with engine.connect() as conn:
        return {model.__name__: conn.execute(select(func.count()).select_from(model)).scalar_one()
                for model in (Subscriber, Membership, SubscriberEvent, Suppression)}


def make_cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(subscribers_app, name="subscribers")
    app.add_typer(lists_app, name="lists")
    app.add_typer(segments_app, name="segments")
    return app


class Cli:
    """Runs the sub-apps in-process against one database, as a user would."""

    def __init__(self, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        for key in list(os.environ):
            if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
                monkeypatch.delenv(key)
        monkeypatch.setenv("MAILER_DATABASE_URL", url)
        monkeypatch.setenv("USER", "tester")
        self.app = make_cli()
        self.runner = CliRunner()

    def __call__(self, *args: str) -> tuple[int, str]:
        result = self.runner.invoke(self.app, list(args))
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output

    def stdout_bytes(self, *args: str) -> bytes:
        result = self.runner.invoke(self.app, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout_bytes
