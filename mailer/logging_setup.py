"""Logging for every mailer process: text or JSON lines, delivery ids, redaction.

`configure_logging(fmt=..., level=...)` installs one stderr handler on the root
logger. Each record gets the ids of the send/part/delivery being worked on
(from `extra=` or from `log_context`), and passes a redaction filter first, so
no password, token or message body reaches a log, whatever the caller wrote.
The caller reads the format from Settings (MAILER_LOG_FORMAT); nothing here
reads the environment.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]

#: ids a record may carry; nothing else from `extra=` is ever written
CONTEXT_FIELDS = ("send_id", "part_id", "delivery_id")

#: a log line longer than this is cut (no legitimate line is; a message body is)
MAX_MESSAGE_CHARS = 2000

_context: contextvars.ContextVar[Mapping[str, int | str]] = contextvars.ContextVar(
    "mailer_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**ids: int | str | None) -> Iterator[None]:
    """Attach ids (send_id, part_id, delivery_id) to every record logged inside.

    Nested contexts add to the outer one. Raises TypeError for any other name,
    so personal data cannot be slipped in by accident.
    """
    unknown = set(ids) - set(CONTEXT_FIELDS)
    if unknown:
        raise TypeError(
            f"log_context accepts only {', '.join(CONTEXT_FIELDS)}, not {sorted(unknown)}"
        )
    merged = {**_context.get(), **{k: v for k, v in ids.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


# -- redaction ----------------------------------------------------------------

_URL_PASSWORD = re.compile(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/?#@]*):[^\s/?#]*@")
_KEY_VALUE = re.compile(
    # `(?<![A-Za-z0-9])` rather than \b so that MAILER_SECRET_KEY=… and smtp_password=… match
    r"(?i)(?P<key>(?<![A-Za-z0-9])(?:password|passwd|pwd|secret(?:_keys?)?|token|"
    r"api[_-]?key|access[_-]?key|authorization|auth)(?![A-Za-z0-9])[\"']?\s*[=:]\s*[\"']?)"
    r"(?P<scheme>(?:bearer|basic)\s+)?[^\s\"',;&)}]+"
)
_TOKEN_PATH = re.compile(r"(?P<pre>/(?:u|p|unsubscribe|preferences)/)[A-Za-z0-9_\-.=]{8,}")
_MESSAGE_BODY = re.compile(
    r"(?ims)^(?:(?:from|to|subject|date|message-id|mime-version|content-type|"
    r"received|return-path|dkim-signature|list-unsubscribe)[ \t]*:.*?)(?:\r?\n\r?\n)(?P<body>.+)"
)


def redact(text: str) -> str:
    """Return `text` without URL passwords, secret-looking values, unsubscribe
    tokens in paths, or the body of an RFC 5322 message; cut to MAX_MESSAGE_CHARS."""
    text = _URL_PASSWORD.sub(r"\g<pre>:***@", text)
    text = _KEY_VALUE.sub(lambda m: f"{m['key']}{m['scheme'] or ''}***", text)
    text = _TOKEN_PATH.sub(r"\g<pre>***", text)
    body = _MESSAGE_BODY.search(text)
    if body:
        n = len(body["body"])
        text = text[: body.start("body")] + f"[message body omitted: {n} characters]"
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + f"… [{len(text) - MAX_MESSAGE_CHARS} characters cut]"
    return text


class _Omitted:
    """Stands in for raw bytes (message data, never worth logging) under %s and %r."""

    def __init__(self, size: int) -> None:
        self.text = f"<{size} bytes>"

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def _safe_arg(arg: object) -> object:
    if isinstance(arg, bytes | bytearray | memoryview):
        return _Omitted(len(arg))
    return arg


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) through `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args
            if isinstance(args, Mapping):
                record.args = {k: _safe_arg(v) for k, v in args.items()}
            else:
                record.args = tuple(_safe_arg(a) for a in args)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class ContextFilter(logging.Filter):
    """Copies the `log_context` ids onto a record (an explicit `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


def _ids(record: logging.LogRecord) -> dict[str, Any]:
    found = {}
    for key in CONTEXT_FIELDS:
        value = getattr(record, key, None)
        if value is not None:
            found[key] = value if isinstance(value, int) else redact(str(value))
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_ids(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [send_id=… part_id=…]` for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        ids = _ids(record)
        if ids:
            line += " [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]"
        return line


def make_formatter(fmt: str) -> logging.Formatter:
    """Return the formatter for "text" or "json"; raise ValueError otherwise."""
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return TextFormatter()
    raise ValueError(f"log format must be 'text' or 'json', got {fmt!r}")


def add_filters(handler: logging.Handler) -> None:
    """Give `handler` the context and redaction filters (once)."""
    kinds = {type(f) for f in handler.filters}
    if ContextFilter not in kinds:
        handler.addFilter(ContextFilter())
    if RedactingFilter not in kinds:
        handler.addFilter(RedactingFilter())


class _MailerHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler configure_logging installed, so a second call replaces it."""


def configure_logging(
    *, fmt: str = "text", level: str | int = "INFO", stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record to `stream` (stderr) as text or JSON lines, with
    ids and redaction. Replaces a handler installed by an earlier call; leaves
    other handlers alone. Returns the handler. Raises ValueError for an unknown
    format or level."""
    formatter = make_formatter(fmt)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _MailerHandler)]:
        root.removeHandler(old)
    handler = _MailerHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    add_filters(handler)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.captureWarnings(True)
    return handler


class QuietTasksFilter(logging.Filter):
    """Moves Celery's own INFO lines about some tasks down to DEBUG.

    Celery logs "received" and "succeeded" for every task and beat logs
    "Sending due task" for every entry, at INFO. For the dispatch tick (every
    second) that is 86,400 lines a day of nothing, hiding the lines that
    matter; for a batch task the same lines are worth keeping. A record about
    one of `task_names` is kept as DEBUG when its logger is enabled for DEBUG,
    else dropped.
    """

    def __init__(self, task_names: frozenset[str]) -> None:
        super().__init__()
        self.task_names = task_names

    def _about_quiet_task(self, record: logging.LogRecord) -> bool:
        args = record.args
        names: list[object] = []
        if isinstance(args, Mapping):
            names.append(args.get("name"))
        elif isinstance(args, tuple):
            names.extend(args)
        data = getattr(record, "data", None)
        if isinstance(data, Mapping):
            names.append(data.get("name"))
        return any(isinstance(n, str) and n in self.task_names for n in names)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self._about_quiet_task(record):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


#: the Celery loggers that write a line per task or per beat entry
CELERY_PER_TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy", "celery.beat")


def quiet_task_logs(task_names: Iterable[str]) -> None:
    """Log Celery's per-task INFO lines for `task_names` at DEBUG (see
    QuietTasksFilter). Filters sit on the loggers themselves, so they hold
    whatever handlers Celery installs when a worker or beat starts."""
    names = frozenset(task_names)
    for logger_name in CELERY_PER_TASK_LOGGERS:
        logger = logging.getLogger(logger_name)
        for old in [f for f in logger.filters if isinstance(f, QuietTasksFilter)]:
            logger.removeFilter(old)
        logger.addFilter(QuietTasksFilter(names))


def install_celery_logging(app: Any, *, fmt: str = "text") -> None:
    """Make Celery's worker and beat log through our formatter and filters.

    Celery configures logging itself when a worker or beat starts; the
    `after_setup_logger` / `after_setup_task_logger` signals then hand us each
    logger it set up, and we swap the formatter of its handlers and add the
    filters. `app` scopes the connection (one per app). Celery is imported
    here only, lazily: the rest of `mailer/` never imports it.
    """
    from celery.signals import after_setup_logger, after_setup_task_logger

    formatter = make_formatter(fmt)

    def reformat(logger: logging.Logger | None = None, **_: Any) -> None:
        if logger is None:
            return
        for handler in logger.handlers:
            handler.setFormatter(formatter)
            add_filters(handler)

    uid = f"mailer-logging-{id(app)}"
    after_setup_logger.connect(reformat, weak=False, dispatch_uid=uid)
    after_setup_task_logger.connect(reformat, weak=False, dispatch_uid=uid + "-task")
