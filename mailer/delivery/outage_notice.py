"""One line per outage, not one per tick.

The dispatch tick runs every second and beat queues it every second: while
the database or the broker is down each would otherwise log an error with a
traceback each time. An `OutageNotice` logs one WARNING when the service stops
answering and one INFO when it answers again, so that an outage of any length
tells the operator what is down in one line, and when it is back in another.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable
from typing import Any

from mailer.i18n import N_, _

#: below this much free space, SQLite's "disk I/O error" is the disk being full
FULL_BELOW_BYTES = 1 << 20
_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk full")


def database_place(engine: Any) -> str:
    """Where the database is, for a line an operator reads: the SQLite file's
    path, or host:port/name (never the password)."""
    url = getattr(engine, "url", None)
    if url is None:
        return ""
    if url.get_backend_name() == "sqlite":
        return os.path.abspath(url.database or "")
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def _masked_place(url: str, default_port: int) -> str:
    """`host:port (URL with the password masked)`, as `mailer.cli.errors` shows it."""
    from urllib.parse import urlsplit

    from mailer.settings import redact_url

    try:
        parts = urlsplit(url)
        where = f"{parts.hostname or 'localhost'}:{parts.port or default_port}"
    except ValueError:
        return redact_url(url)
    return f"{where} ({redact_url(url)})"


def redis_place() -> str:
    """Where this process's Redis is: host:port and the masked URL from
    MAILER_REDIS_URL, or the embedded redis-server; "" when the settings do
    not load."""
    from mailer.settings import load_settings

    try:
        url = load_settings().redis_url
    except Exception:  # settings that do not load: no place
        return ""
    return _masked_place(url, 6379) if url else _("内蔵の redis-server")


def settings_database_place() -> str:
    """Where the configured database is (masked), for a line without an engine."""
    from mailer.settings import load_settings

    try:
        url = load_settings().effective_database_url
    except Exception:  # settings that do not load: no place
        return ""
    if url.startswith("sqlite"):
        return os.path.abspath(url.split("///", 1)[-1] or url)
    return _masked_place(url, 5432)


def disk_full(exc: BaseException, engine: Any = None) -> bool:
    """True if `exc` says the database's disk is full. SQLite often says only
    "disk I/O error" then: it counts as full when the file's folder has
    (almost) no free space left."""
    text = str(exc).lower()
    if any(t in text for t in _FULL_TEXTS):
        return True
    if "disk i/o error" not in text or engine is None:
        return False
    if getattr(getattr(engine, "url", None), "get_backend_name", lambda: "")() != "sqlite":
        return False
    try:
        free = shutil.disk_usage(os.path.dirname(database_place(engine)) or ".").free
    except OSError:
        return False
    return free < FULL_BELOW_BYTES


def describe(exc: BaseException, engine: Any = None) -> str:
    """One line for an outage: 「データベースのディスクが一杯です（パス）」 for a
    full disk, else the error's type and first line."""
    if disk_full(exc, engine):
        return f"データベースのディスクが一杯です（{database_place(engine) or 'データベース'}）"
    from mailer.logging_setup import redact

    first = redact((str(exc).splitlines() or [""])[0])[:200]
    return f"{type(exc).__name__}: {first}"


class OutageNotice:
    """Remembers, per process, whether `what` is down, and logs the changes.

    `what` and `meanwhile` are Japanese catalogue texts (marked with `N_()`),
    looked up when a line is written; `where` says where the service is
    (host:port, password masked) when no engine is at hand."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        meanwhile: str = N_("毎回の刻みで再試行します"),
        where: Callable[[], str] | None = None,
    ) -> None:
        self.logger = logger
        self.what = what
        self.meanwhile = meanwhile
        self.where = where
        self.down = False
        self._lock = threading.Lock()

    def _place(self, engine: Any) -> str:
        if engine is not None and getattr(engine, "url", None) is not None:
            return database_place(engine)
        if self.where is None:
            return ""
        try:
            return self.where()
        except Exception:  # naming the place must never hide the outage
            return ""

    def _what(self, engine: Any = None) -> str:
        place = self._place(engine)
        if not place:
            return _(self.what)
        return _("{what}（{where}）").format(what=_(self.what), where=place)

    def failed(self, exc: BaseException, *, engine: Any = None) -> None:
        """Note a failure: one WARNING (no traceback) if it was up until now.
        `engine` (the database's) lets a full disk be named as such."""
        with self._lock:
            if self.down:
                return
            self.down = True
        self.logger.warning(
            _("{what}が応答しません（{reason}）。{meanwhile}。戻るまでこの行は繰り返しません").format(
                what=self._what(engine),
                reason=describe(exc, engine),
                meanwhile=_(self.meanwhile),
            )
        )

    def ok(self) -> None:
        """Note a success: one INFO line if it was down."""
        with self._lock:
            if not self.down:
                return
            self.down = False
        self.logger.info(_("{what}がまた応答しています").format(what=self._what()))

    def reset(self) -> None:
        """Forget the state, silently (tests; a fresh process starts up)."""
        with self._lock:
            self.down = False


_log = logging.getLogger("mailer.outage")
#: Redis as this process sees it (the rate limiter, the accepted-journal, the
#: send-active marks, liveness notes, the broker): one WARNING per outage per
#: process, however many batches meet it, and one INFO when it answers again
REDIS = OutageNotice(
    _log,
    N_("Redis サーバ"),
    N_("メールは送らずに待ちます（宛先は未送信に戻します）。Redis が戻れば送ります。"
       "Redis が動いているか、MAILER_REDIS_URL が正しいか確かめてください"),
    redis_place,
)
#: the database, likewise (a batch's own details go to INFO)
DATABASE = OutageNotice(
    _log,
    N_("データベース"),
    N_("宛先は未送信に戻すか、リースが切れると戻ります。再試行を続けます。"
       "データベースが動いているか、ディスクに空きがあるか確かめてください"),
    settings_database_place,
)


def notice_for(exc: BaseException) -> OutageNotice:
    """REDIS for a Redis or broker error, DATABASE for the rest."""
    names = {c.__module__.split(".")[0] for c in type(exc).__mro__}
    return REDIS if names & {"redis", "kombu"} else DATABASE
