"""One typed Settings object, read from MAILER_* variables (and `.env`).

Every I/O function receives what it needs from here as arguments; nothing else
reads the environment.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mailer.delivery.relay import RelayConfig, parse_smtp_urls
from mailer.secrets_check import BUILT_IN_KEY, KEY_RECIPE, key_weakness
from mailer.textcheck import control_char, describe_char


class Environment(StrEnum):
    LOCAL = "local"
    STAGING = "staging"
    PRODUCTION = "production"


class SettingsError(ValueError):
    """A MAILER_* value is missing or wrong; the message is one line per problem."""


def default_var_dir() -> Path:
    return Path.cwd() / "var"


class Settings(BaseSettings):
    """The service's configuration. Field `x` is read from `MAILER_X`."""

    model_config = SettingsConfigDict(
        env_prefix="MAILER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    env: Environment = Environment.LOCAL
    var_dir: Path = Field(default_factory=default_var_dir)
    database_url: str = ""  # empty: SQLite file var/mailer.db
    redis_url: str | None = None  # None: an embedded redis-server (demo and tests)
    smtp_url: str | None = None  # None: no relay (`mailer demo` runs its own sink, var/demo/outbox)
    smtp_timeout: float = Field(default=30.0, gt=0)
    smtp_ca_file: str | None = None  # a private CA bundle for the relays' certificates
    from_: str = Field(
        default="CIOフォーラム事務局 <forum@mailer.example.com>", alias="MAILER_FROM"
    )
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = BUILT_IN_KEY
    rate_limit: str = "50/s"
    batch_size: int = Field(default=200, ge=1, le=5000)
    dispatch_interval: float = Field(default=1.0, gt=0, le=60)
    # short: a batch renews it while it works (docs/delivery.md, "Leases")
    lease_seconds: int = Field(default=30, ge=10)
    retry_deadline_seconds: int = Field(default=6 * 3600, ge=1)
    retry_base_seconds: float = Field(default=60.0, gt=0)
    relay_backoff_seconds: float = Field(default=30.0, gt=0)
    parallelism: int = Field(default=4, ge=1, le=256)
    # A send goes out only once someone other than its creator approved it.
    require_approval: bool = False
    # comma-separated retired keys: they still verify unsubscribe and preference
    # links (and VERP addresses) of mail already sent, never sessions or CSRF tokens
    old_secret_keys: str = ""
    # Proxies whose X-Forwarded-For / -Proto the web app believes (comma-separated
    # addresses or networks, "*" for any). Empty: none, the peer address is the client.
    trusted_proxies: str = ""
    bounce_domain: str = ""  # empty: the From address's domain
    list_id: str = "cio-forum.mailer.example.com"
    list_name: str = "CIOフォーラム通信"
    publisher_address: str = "〒163-8001 東京都新宿区西新宿二丁目8番1号"
    log_format: Literal["text", "json"] = "text"
    # the language staff and readers see; mailer.i18n reads it from the environment
    # itself (so that a message needs no settings object), this field validates it
    language: Literal["ja", "en"] = "ja"
    templates_dir: Path | None = None  # read by mailer.render.html at import (see there)
    dkim_key_file: Path | None = None
    dkim_selector: str = "mailer"

    @field_validator("*", mode="before")
    @classmethod
    def _one_line(cls, v: Any) -> Any:
        # Several values become mail headers (From, List-Id, the List-Unsubscribe
        # URL); a CR or LF would add a header of its own (e.g. Bcc:). No
        # MAILER_* value has a use for any control character.
        if isinstance(v, str):
            bad = control_char(v)
            if bad is not None:
                raise ValueError(f"制御文字 {describe_char(bad)} を含んでいます。"
                                 "改行のない 1 行の値にしてください")
        return v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an absolute http(s) URL, got {v!r}")
        return v.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        if v and not v.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError(f"must be a sqlite:/// or postgresql:// URL, got {v!r}")
        if v.startswith("postgres://"):
            v = "postgresql://" + v[len("postgres://") :]
        if v.startswith("postgresql://"):
            v = "postgresql+psycopg://" + v[len("postgresql://") :]
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if urlsplit(v).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"must be a redis:// URL, got {v!r}")
        return v

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        parse_smtp_urls(v)  # raises ValueError naming the bad part
        return v

    @field_validator("from_")
    @classmethod
    def _from(cls, v: str) -> str:
        from email.utils import parseaddr

        _, addr = parseaddr(v)
        if "@" not in addr:
            raise ValueError(f"must be an address like 'Name <addr@example.com>', got {v!r}")
        return v

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, v: str) -> str:
        from mailer.delivery.ratelimit import parse_rate

        parse_rate(v)
        return v

    @model_validator(mode="after")
    def _secret(self) -> Settings:
        if self.env is Environment.LOCAL:
            return self  # checked when a process starts (mailer.exposure.weak_key_refusal)
        reason = key_weakness(self.secret_key)
        if reason is not None:
            raise ValueError(
                f"MAILER_SECRET_KEY: {reason}。MAILER_ENV={self.env.value} では推測できない鍵が"
                f"必要です（作り方: {KEY_RECIPE}）"
            )
        return self

    # -- derived values -------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'mailer.db'}"

    @property
    def from_name(self) -> str:
        from email.utils import parseaddr

        return parseaddr(self.from_)[0]

    @property
    def from_address(self) -> str:
        from email.utils import parseaddr

        return parseaddr(self.from_)[1]

    @property
    def return_path_domain(self) -> str:
        return self.bounce_domain or self.from_address.rsplit("@", 1)[1]

    @property
    def secret_keys(self) -> list[str]:
        """The keys that verify unsubscribe and preference links and VERP addresses
        (mail already sent carries them): the retired ones, oldest first, then the
        current one, which signs. Sessions and CSRF tokens use `secret_key` alone."""
        old = [k.strip() for k in self.old_secret_keys.split(",") if k.strip()]
        return [*old, self.secret_key]

    def relays(self) -> list[RelayConfig]:
        """Return the configured relays in failover order ([]: none configured)."""
        return parse_smtp_urls(self.smtp_url) if self.smtp_url else []


def _field_env_name(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "MAILER_*"
    name = str(loc[0])
    if name == "from_":
        return "MAILER_FROM"
    return name if name.startswith("MAILER_") else f"MAILER_{name.upper()}"


#: variables whose value may instead come from a file named by VAR_FILE
FILE_VARIABLES = {
    "MAILER_SECRET_KEY": "secret_key",
    "MAILER_OLD_SECRET_KEYS": "old_secret_keys",
    "MAILER_DATABASE_URL": "database_url",
    "MAILER_REDIS_URL": "redis_url",
    "MAILER_SMTP_URL": "smtp_url",
}


def _file_overrides() -> dict[str, str]:
    """Read `MAILER_X_FILE` secrets (Docker/Kubernetes secrets)."""
    found: dict[str, str] = {}
    for var, field_name in FILE_VARIABLES.items():
        path = os.environ.get(f"{var}_FILE")
        if not path or os.environ.get(var):
            continue
        try:
            found[field_name] = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"{var}_FILE: cannot read {path} ({exc.strerror})") from None
    return found


def load_settings(**overrides: Any) -> Settings:
    """Return Settings from the environment (and `.env`), with overrides.

    Raises SettingsError with one line per bad variable, each naming it.
    """
    from mailer.validation_messages import japanese

    try:
        return Settings(**{**_file_overrides(), **overrides})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err.get("type") != "value_error":
                msg = japanese(err)
            if msg.startswith("MAILER_"):
                lines.append(msg)
            else:
                lines.append(f"{_field_env_name(tuple(err['loc']))}: {msg}")
        raise SettingsError("\n".join(lines)) from None


def redact_url(url: str) -> str:
    """Return `url` with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
