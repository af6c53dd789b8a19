"""Build the long-lived objects a process needs from Settings.

Workers call these once per process (after fork); nothing here imports Celery.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta

import redis
from sqlalchemy import Engine

from mailer.compose.stored import load_documents
from mailer.db import make_engine
from mailer.delivery.dispatch import Coordinator
from mailer.delivery.engine import DeliveryConfig, DeliveryContext
from mailer.delivery.journal import RedisJournal
from mailer.delivery.ratelimit import Rate, RateLimiter, parse_rate
from mailer.delivery.relays import AllRelaysDown, RedisRelayHealth, RelayHealth, RelayPool
from mailer.delivery.retry import RetryPolicy
from mailer.delivery.smtp import FailureKind, SmtpTransport, TransportError
from mailer.metrics import MetricsSink, RedisMetrics
from mailer.render.message import PreparedPart, RenderConfig, prepare_part
from mailer.settings import Settings


def render_config(settings: Settings) -> RenderConfig:
    return RenderConfig(
        base_url=settings.base_url,
        from_name=settings.from_name,
        from_address=settings.from_address,
        list_id=settings.list_id,
        list_name=settings.list_name,
    )


class PartCache:
    """Prepared parts by id, rendered once per process (a part's content is
    fixed once a send has started)."""

    def __init__(self, engine: Engine, config: RenderConfig) -> None:
        self.engine = engine
        self.config = config
        self._get = functools.lru_cache(maxsize=32)(self._prepare)

    def _prepare(self, part_id: int) -> PreparedPart:
        issue, part = load_documents(self.engine, part_id)
        return prepare_part(issue=issue, part=part, config=self.config)

    def __call__(self, part_id: int) -> PreparedPart:
        return self._get(part_id)


def redis_client(settings: Settings) -> redis.Redis:
    if not settings.redis_url:
        raise RuntimeError("MAILER_REDIS_URL is not set (only `mailer demo` starts its own Redis)")
    return redis.Redis.from_url(
        settings.redis_url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        base_seconds=settings.retry_base_seconds,
        deadline_seconds=settings.retry_deadline_seconds,
        relay_backoff_seconds=settings.relay_backoff_seconds,
    )


def delivery_config(settings: Settings) -> DeliveryConfig:
    return DeliveryConfig(
        batch_size=settings.batch_size,
        lease=timedelta(seconds=settings.lease_seconds),
        retry=retry_policy(settings),
        secrets=tuple(settings.secret_keys),
        return_path_domain=settings.return_path_domain,
        message_id_domain=settings.from_address.rsplit("@", 1)[1],
        base_url=settings.base_url,
    )


def tokens_per_call(rate: Rate) -> int:
    """Tokens to take from Redis at once: one call per message at magazine
    rates, up to 100 at bulk rates, never more than 2 % of a second's worth
    (so no one-second window exceeds the limit by more than that)."""
    return max(1, min(100, int(rate.per_second // 50)))


class PrepaidTokens:
    """Takes rate-limit tokens in small bulk and hands them out one by one."""

    def __init__(self, limiter: RateLimiter, chunk: int) -> None:
        self.limiter = limiter
        self.chunk = chunk
        self.left = 0

    def take(self) -> float:
        """Take one token; return the seconds spent waiting for the limiter."""
        waited = 0.0
        if self.left == 0:
            waited = self.limiter.acquire(self.chunk)
            self.left = self.chunk
        self.left -= 1
        return waited


class Runtime:
    """Per-process singletons: DB engine, Redis client, part cache."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.effective_database_url)
        self.redis = redis_client(settings)
        self.parts = PartCache(self.engine, render_config(settings))
        self.coordinator = Coordinator(self.redis)
        self.journal = RedisJournal(self.redis)
        self.metrics = RedisMetrics(self.redis)
        self.rate = parse_rate(settings.rate_limit)

    def delivery_context(self) -> DeliveryContext:
        """A fresh context per task: new SMTP connections, shared caches."""
        s = self.settings
        if not s.relays():
            raise RuntimeError("MAILER_SMTP_URL is not set (only `mailer demo` starts a sink)")
        buckets: dict[str, PrepaidTokens] = {}

        def before_send(relay_name: str) -> None:
            if relay_name not in buckets:
                limiter = RateLimiter(self.redis, key=f"mailer:rate:{relay_name}", rate=self.rate)
                buckets[relay_name] = PrepaidTokens(limiter, tokens_per_call(self.rate))
            try:
                waited = buckets[relay_name].take()
            except redis.RedisError as exc:
                # No limiter, no sending: the batch hands its rows back for later.
                raise AllRelaysDown(
                    TransportError(FailureKind.RELAY, f"rate limiter unavailable: {exc}")
                ) from exc
            if waited:
                self.metrics.rate_wait(relay_name, waited)

        delivery_metrics = RedisMetrics(self.redis, buffered=True)
        pool = relay_pool(
            s, RedisRelayHealth(self.redis), before_send=before_send, metrics=delivery_metrics
        )
        ctx = DeliveryContext(
            engine=self.engine,
            config=delivery_config(s),
            pool=pool,
            prepared_part=self.parts,
            journal=self.journal,
            metrics=delivery_metrics,
        )
        sign = dkim_signer(s)
        if sign is not None:
            ctx.sign = sign
        return ctx

    def preflight(self, send_id: int) -> list[str]:
        """Errors that stop a due send from starting (it is paused with them)."""
        from mailer.services.parts import send_preflight_errors

        return send_preflight_errors(engine=self.engine, send_id=send_id, config=self.parts.config)

    def dispose(self) -> None:
        self.engine.dispose()


def relay_pool(
    settings: Settings,
    health: RelayHealth,
    *,
    before_send: Callable[[str], None] | None = None,
    metrics: MetricsSink | None = None,
) -> RelayPool:
    """The configured relays (MAILER_SMTP_URL) in failover order, one SMTP
    connection each, opened on first use. The delivery engine and test sends
    both send through it."""
    transports = [
        SmtpTransport(r, timeout=settings.smtp_timeout, ca_file=settings.smtp_ca_file)
        for r in settings.relays()
    ]
    return RelayPool(
        transports,
        health,
        backoff_seconds=settings.relay_backoff_seconds,
        before_send=before_send,
        metrics=metrics,
    )


def dkim_signer(settings: Settings) -> Callable[[bytes], bytes] | None:
    """The DKIM signing function for MAILER_DKIM_KEY_FILE, or None when unset.

    Raises DkimKeyError naming the file when it cannot be read or used.
    """
    if not settings.dkim_key_file:
        return None
    from mailer.delivery.dkim import load_dkim_key, sign

    key = load_dkim_key(
        settings.dkim_key_file,
        selector=settings.dkim_selector,
        domain=settings.from_address.rsplit("@", 1)[1],
    )
    return lambda data: sign(data, key)
