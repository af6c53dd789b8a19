"""The `mailer` command: a table of verbs, each loaded only when it is run.

Every verb used to be imported at start (Celery, the web app, the renderer,
DKIM and DNS), so `mailer --help` took about a second and 160 MB. Here the
top-level group knows each verb by name, module and one line of help;
`mailer --help` lists them from this table without importing any, and
`mailer lists show` imports `mailer.cli.subscribers` only. Click documents
this pattern ("lazily loading subcommands"); typer has no switch for it, so
`LazyGroup` overrides the two methods click asks (`list_commands`,
`get_command`). `tests/test_cli_start.py` keeps the table's help lines equal
to the verbs' own and checks what `--help` imports.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand

from mailer.cli.errors import TranslatingGroup
from mailer.i18n import N_, _


@dataclass(frozen=True)
class Verb:
    """A verb: `attr` of `module`, a typer app (a group of verbs) or a function."""

    module: str
    attr: str
    help: str  # the first paragraph of the verb's own help (a catalogue id), for `mailer --help`


#: every verb, in the order `mailer --help` lists them; the help lines are
#: catalogue texts (`N_`), looked up when the list is shown
VERBS: dict[str, Verb] = {
    "demo": Verb("mailer.cli.main", "demo", N_(
        "組み込みの既定値で一連の仕事を実行します: 見本の号 → 62 名の CIO → var/demo/outbox。")),
    "db": Verb("mailer.cli.main", "db_app", N_("データベースのスキーマ。")),
    "issue": Verb("mailer.cli.parts", "issue_app", N_(
        "号: 号のフォルダの読み込み、一覧、書き出し。Word の原稿から下書きを作ります。")),
    "part": Verb("mailer.cli.parts", "part_app",
                 N_("パート: 一覧、事前チェック、プレビュー、公開と公開の取り消し。")),
    "test-send": Verb("mailer.cli.parts", "test_send", N_(
        "パートを指定のアドレスへ今すぐ、テストとして送ります。配信記録には残りません。")),
    "send": Verb("mailer.cli.main", "send", N_(
        "パートを一つ以上のリストへ、事前チェックの後、今すぐ（または --at に）送ります。")),
    "schedule": Verb("mailer.cli.main", "schedule", N_(
        "パートを後の日時に予約します（データベースに保存され、配信係が始めます）。")),
    "approve": Verb("mailer.cli.main", "approve", N_(
        "送信を承認します（MAILER_REQUIRE_APPROVAL=true のとき、送る前に必要です）。")),
    "status": Verb("mailer.cli.main", "status", N_(
        "パートの送信ごとに、状態ごとの件数、速さ、残り時間を表示します。")),
    "pause": Verb("mailer.cli.main", "pause", N_(
        "送信を一時停止します。処理中のバッチは次の確認で止まります。")),
    "resume": Verb("mailer.cli.main", "resume", N_("一時停止した送信を再開します。")),
    "cancel": Verb("mailer.cli.main", "cancel", N_(
        "送信を取り消します。まだ送っていない配信は取り消されます。")),
    "resend-failed": Verb("mailer.cli.main", "resend_failed_cmd", N_(
        "送信の失敗した配信をもう一度キューに入れます。")),
    "worker": Verb("mailer.cli.main", "worker", N_(
        "バッチを配信する Celery ワーカーを動かします（MAILER_REDIS_URL が必要）。")),
    "beat": Verb("mailer.cli.main", "beat", N_(
        "配信係を定期的に起こす beat スケジューラを動かします（MAILER_REDIS_URL が必要）。")),
    "web": Verb("mailer.cli.web", "web", N_(
        "uvicorn でウェブアプリを動かします（前に TLS を終端するプロキシを置いてください）。")),
    "doctor": Verb("mailer.cli.ops", "doctor", N_(
        "設定、データベース、Redis、SMTP リレー、DKIM を確かめ、公開する DNS レコードを"
        "表示します。")),
    "worker-health": Verb("mailer.cli.health", "worker_health", N_(
        "ブローカー経由でこのホストの Celery ワーカーに応答を求めます"
        "（`celery inspect ping -d celery@$HOSTNAME` と同じ）。")),
    "bench": Verb("mailer.cli.bench", "bench", N_(
        "N 通のメールを本物の配信経路で手元の速い SMTP の受け口へ送り、上限（素の smtplib）と"
        "素朴な設計（メール 1 通に 1 タスク）と比べます。")),
    "subscribers": Verb("mailer.cli.subscribers", "subscribers_app",
                        N_("購読者の取り込みと書き出し（CSV）。")),
    "lists": Verb("mailer.cli.subscribers", "lists_app", N_("配信リスト。")),
    "segments": Verb("mailer.cli.subscribers", "segments_app",
                     N_("セグメント: 購読者の項目で絞り込む、保存した条件。")),
    "bounces": Verb("mailer.cli.bounces", "bounces_app",
                    N_("バウンス、苦情、mailto による配信停止（VERP の返送先ドメイン）。")),
    "users": Verb("mailer.cli.users", "users_app", N_("管理画面のスタッフのアカウント。")),
    "tokens": Verb("mailer.cli.users", "tokens_app", N_("REST API のトークン。")),
    "privacy": Verb("mailer.cli.privacy", "privacy_app", N_(
        "データの手入れ: 購読者のデータの書き出しと消去、古い配信記録の圧縮。")),
}


def load_verb(name: str, verb: Verb) -> Any:
    """Import the verb's module and return its (click) command, named `name`."""
    target = getattr(importlib.import_module(verb.module), verb.attr)
    if isinstance(target, typer.Typer):
        command: Any = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)  # the verb, not a program
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


#: typer's own words around every help page and usage error, said in the
#: catalogue's language (typer asks the standard library's gettext, which
#: knows no Japanese, or writes them as constants)
FRAMEWORK_TEXTS = {
    "Arguments": N_("引数"),
    "Options": N_("オプション"),
    "Commands": N_("コマンド"),
    "Error": N_("エラー"),
    "Aborted.": N_("中断しました。"),
    "[default: {}]": N_("[既定: {}]"),
    "[required]": N_("[必須]"),
    "[env var: {}]": N_("[環境変数: {}]"),
    "Try [blue]'{command_path} {help_option}'[/] for help.":
        N_("ヘルプは [blue]'{command_path} {help_option}'[/] で表示します。"),
    "No such command {name!r}.": N_("コマンド {name!r} はありません。"),
}
USAGE = N_("使い方:")
HELP_OPTION = N_("このヘルプを表示して終了します。")


#: typer's usage errors (written as English f-strings), matched and said again
USAGE_ERRORS = (
    (re.compile(r"No such option: (?P<name>\S+)(?: \(Possible options: (?P<options>.*)\))?"),
     N_("オプション {name} はありません")),
    (re.compile(r"Got unexpected extra argument(?:\(s\)|s)? \((?P<args>.*)\)"),
     N_("余分な引数があります（{args}）")),
    (re.compile(r"Missing argument (?P<name>\S+)\.(?P<rest>.*)", re.S),
     N_("引数 {name} を指定してください。")),
    (re.compile(r"Missing option (?P<name>.+?)\.(?P<rest>.*)", re.S),
     N_("オプション {name} を指定してください。")),
    (re.compile(r"Invalid value for (?P<name>.+?): (?P<reason>.*)", re.S),
     N_("{name} の値が正しくありません: {reason}")),
)
CHOOSE_FROM = N_("次から選んでください:")
POSSIBLE_OPTIONS = N_("（候補: {options}）")


def usage_error_text(english: str) -> str:
    """A typer usage error's line in the catalogue's language (unknown ones as
    they are)."""
    for pattern, template in USAGE_ERRORS:
        match = pattern.fullmatch(english)
        if match is None:
            continue
        parts = match.groupdict()
        text = _(template).format(**{k: v for k, v in parts.items() if v is not None})
        if parts.get("options"):
            text += _(POSSIBLE_OPTIONS).format(options=parts["options"])
        rest = (parts.get("rest") or "").strip()
        if rest:
            text += " " + rest.replace("Choose from:", _(CHOOSE_FROM))
        return text
    return english


def _framework_text(message: str) -> str:
    found = FRAMEWORK_TEXTS.get(message)
    return _(found) if found is not None else message


def speak_the_catalogue_language() -> None:
    """Make typer's fixed words (Usage, Options, --help's line, …) go through
    the catalogue. typer's rich help reads module constants made at its
    import, so they are set here; the usage prefix and the --help option's
    line are written by its click core, wrapped here. `test_catalogue_cli`
    fails if a typer upgrade moves them."""
    from typer import core as typer_core
    from typer import rich_utils
    from typer._click import core as click_core
    from typer._click import exceptions as click_exceptions
    from typer._click import formatting as click_formatting
    from typer.exceptions import TyperException

    typer_core._ = _framework_text  # type: ignore[attr-defined]
    for name, english in (("ARGUMENTS_PANEL_TITLE", "Arguments"),
                          ("OPTIONS_PANEL_TITLE", "Options"),
                          ("COMMANDS_PANEL_TITLE", "Commands"),
                          ("ERRORS_PANEL_TITLE", "Error"), ("ABORTED_TEXT", "Aborted."),
                          ("DEFAULT_STRING", "[default: {}]"),
                          ("REQUIRED_LONG_STRING", "[required]"),
                          ("ENVVAR_STRING", "[env var: {}]"),
                          ("RICH_HELP", "Try [blue]'{command_path} {help_option}'[/] for help.")):
        setattr(rich_utils, name, _framework_text(english))
    formatter = click_formatting.HelpFormatter
    if not getattr(formatter.write_usage, "catalogued", False):
        write_usage = formatter.write_usage

        def usage_in_language(self: Any, prog: str, args: str = "",
                              prefix: str | None = None) -> None:
            write_usage(self, prog, args, _(USAGE) + " " if prefix is None else prefix)

        usage_in_language.catalogued = True  # type: ignore[attr-defined]
        formatter.write_usage = usage_in_language  # type: ignore[method-assign]
    for error_class in (TyperException, click_exceptions.NoSuchOption,
                        click_exceptions.BadParameter, click_exceptions.MissingParameter):
        if "format_message" in vars(error_class) and not getattr(
                error_class.format_message, "catalogued", False):
            error_class.format_message = _catalogued_message(  # type: ignore[method-assign]
                error_class.format_message)
    command = click_core.Command
    if not getattr(command.get_help_option, "catalogued", False):
        get_help_option = command.get_help_option

        def help_option_in_language(self: Any, ctx: Any) -> Any:
            option = get_help_option(self, ctx)
            if option is not None:
                option.help = _(HELP_OPTION)
            return option

        help_option_in_language.catalogued = True  # type: ignore[attr-defined]
        command.get_help_option = help_option_in_language  # type: ignore[method-assign]


def _catalogued_message(format_message: Any) -> Any:
    def in_language(self: Any) -> str:
        return usage_error_text(format_message(self))

    in_language.catalogued = True  # type: ignore[attr-defined]
    return in_language


class LazyGroup(TranslatingGroup):
    """The top-level group: verbs from `VERBS`, imported when run.

    While it prints its own help it hands out stand-ins carrying the table's
    help line, so listing the verbs imports none of them.
    """

    listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        verb = VERBS.get(cmd_name)
        if verb is None:
            return None
        if self.listing:
            return TyperCommand(cmd_name, help=_(verb.help) if verb.help else None)
        cached = self.commands.get(cmd_name)
        if cached is None:
            cached = self.commands[cmd_name] = load_verb(cmd_name, verb)
        return cached

    def main(self, *args: Any, **kwargs: Any) -> Any:
        speak_the_catalogue_language()
        return super().main(*args, **kwargs)

    def format_help(self, ctx: Any, formatter: Any) -> Any:
        self.listing = True
        try:
            return super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(
    help=_("mailer: 連載誌のメールマガジン配信。"),
    no_args_is_help=True,
    add_completion=False,  # its options' help is typer's English (and undocumented here)
    cls=LazyGroup,  # lazily loaded verbs; one line for a service that is down (errors.py)
)


@app.callback()
def _options(
    debug: bool = typer.Option(
        False, "--debug",
        help=_("データベースや Redis の障害のとき、トレースバックをすべて表示します"),
    ),
) -> None:
    del debug  # read by TranslatingGroup from the context; nothing to do here
