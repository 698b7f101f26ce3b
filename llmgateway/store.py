"""The Redis shared by all workers: rate limiter, circuit breaker and metrics keep state there.

`REDIS_URL` (or a Redis `CELERY_BROKER_URL`) names it. Without one (the embedded default: one
process, tasks run in process) the limiter and the breaker are off and metrics stay in process.
"""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings
from redis.commands.core import Script

KEY_PREFIX = "llmgw:"


def redis_url() -> str:
    if settings.REDIS_URL:
        return settings.REDIS_URL
    broker = settings.CELERY_BROKER_URL or ""
    return broker if broker.startswith(("redis://", "rediss://")) else ""


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)


def shared_redis() -> redis.Redis | None:
    url = redis_url()
    return _client(url) if url else None


@cache
def _script(url: str, source: str) -> Script:
    return _client(url).register_script(source)


def shared_script(source: str) -> Script | None:
    """A Lua script registered once per process with the shared Redis, None without one.

    Calls send only its sha1 (EVALSHA); when Redis has lost it (a restart), redis-py loads it
    again and retries.
    """
    url = redis_url()
    return _script(url, source) if url else None


def key(*parts: str) -> str:
    return KEY_PREFIX + ":".join(parts)
