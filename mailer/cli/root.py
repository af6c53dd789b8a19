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
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand

from mailer.cli.errors import TranslatingGroup


@dataclass(frozen=True)
class Verb:
    """A verb: `attr` of `module`, a typer app (a group of verbs) or a function."""

    module: str
    attr: str
    help: str  # the first sentence of the verb's own help, shown by `mailer --help`


#: every verb, in the order `mailer --help` lists them
VERBS: dict[str, Verb] = {
    "demo": Verb("mailer.cli.main", "demo",
                 "Run the whole job on embedded defaults: sample issue → 62 CIOs → "
                 "var/demo/outbox."),
    "db": Verb("mailer.cli.main", "db_app", "Database schema."),
    "issue": Verb("mailer.cli.parts", "issue_app",
                  "Issues: load, list and export issue folders; draft one from a Word file."),
    "part": Verb("mailer.cli.parts", "part_app",
                 "Parts: list, preflight check, preview, publish and unpublish."),
    "test-send": Verb("mailer.cli.parts", "test_send",
                      "Send a part to the given addresses now, marked as a test; not recorded "
                      "in the ledger."),
    "send": Verb("mailer.cli.main", "send",
                 "Send a part to one or more lists now (or at --at), after its preflight check."),
    "schedule": Verb("mailer.cli.main", "schedule",
                     "Schedule a part for a later time (kept in the database, started by the "
                     "dispatcher)."),
    "approve": Verb("mailer.cli.main", "approve",
                    "Approve a send (needed before it goes out when "
                    "MAILER_REQUIRE_APPROVAL=true)."),
    "status": Verb("mailer.cli.main", "status",
                   "Show counts per state, rate and ETA for every send of a part."),
    "pause": Verb("mailer.cli.main", "pause",
                  "Pause a send; batches in flight stop at their next check."),
    "resume": Verb("mailer.cli.main", "resume", "Resume a paused send."),
    "cancel": Verb("mailer.cli.main", "cancel",
                   "Cancel a send; deliveries not yet sent are cancelled."),
    "resend-failed": Verb("mailer.cli.main", "resend_failed_cmd",
                          "Queue the failed deliveries of a send again."),
    "worker": Verb("mailer.cli.main", "worker",
                   "Run a Celery worker that delivers batches (needs MAILER_REDIS_URL)."),
    "beat": Verb("mailer.cli.main", "beat",
                 "Run the beat scheduler that ticks the dispatcher (needs MAILER_REDIS_URL)."),
    "web": Verb("mailer.cli.web", "web",
                "Serve the web app with uvicorn (put a TLS-terminating proxy in front)."),
    "doctor": Verb("mailer.cli.ops", "doctor",
                   "Check configuration, database, Redis, SMTP relays and DKIM; print the DNS "
                   "records to publish."),
    "worker-health": Verb("mailer.cli.health", "worker_health",
                          "Ping the local Celery worker through the broker (like `celery inspect "
                          "ping -d celery@$HOSTNAME`)."),
    "bench": Verb("mailer.cli.bench", "bench",
                  "Send N messages through the real pipeline to a fast local SMTP sink and "
                  "compare with the ceiling (plain smtplib) and a naive design (a task per "
                  "message)."),
    "subscribers": Verb("mailer.cli.subscribers", "subscribers_app",
                        "Import and export subscribers (CSV)."),
    "lists": Verb("mailer.cli.subscribers", "lists_app", "Mailing lists."),
    "segments": Verb("mailer.cli.subscribers", "segments_app",
                     "Segments: saved filters over subscriber fields."),
    "bounces": Verb("mailer.cli.bounces", "bounces_app",
                    "Bounces, complaints and mailto unsubscribes (the VERP return-path domain)."),
    "users": Verb("mailer.cli.users", "users_app", "Staff accounts of the web admin."),
    "tokens": Verb("mailer.cli.users", "tokens_app", "REST API tokens."),
    "privacy": Verb("mailer.cli.privacy", "privacy_app",
                    "Data care: export or erase a subscriber's data; compact old delivery "
                    "records."),
}


def load_verb(name: str, verb: Verb) -> Any:
    """Import the verb's module and return its (click) command, named `name`."""
    target = getattr(importlib.import_module(verb.module), verb.attr)
    if isinstance(target, typer.Typer):
        command: Any = typer.main.get_group(target)
    else:
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


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
            return TyperCommand(cmd_name, help=verb.help or None)
        cached = self.commands.get(cmd_name)
        if cached is None:
            cached = self.commands[cmd_name] = load_verb(cmd_name, verb)
        return cached

    def format_help(self, ctx: Any, formatter: Any) -> Any:
        self.listing = True
        try:
            return super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(
    help="mailer: newsletter distribution for serial magazines.",
    no_args_is_help=True,
    cls=LazyGroup,  # lazily loaded verbs; one line for a service that is down (errors.py)
)


@app.callback()
def _options(
    debug: bool = typer.Option(
        False, "--debug", help="show the full traceback when a database or Redis fails"
    ),
) -> None:
    """mailer: newsletter distribution for serial magazines."""
    # Read by TranslatingGroup from the context; nothing to do here.
