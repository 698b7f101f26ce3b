"""A token bucket per provider/model in Redis, for requests and tokens per minute, shared by all
workers and adapting to the providers' rate-limit headers.

Limits start from `LLM_RATE_LIMIT_REQUESTS_PER_MINUTE` / `LLM_RATE_LIMIT_TOKENS_PER_MINUTE`
(0: no limit until a provider states one). Every answer's headers (`*-limit-*`, `*-remaining-*`)
replace the limits and lower the bucket to what the provider says remains; a 429 blocks the
bucket for its Retry-After. One Lua call takes up to n requests at once (a bundle's share), so the
limiter costs one Redis round trip per task, not per comparison. A caller that gets fewer than it
asked for defers the rest by the returned wait (a Celery countdown, never a sleep).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from llmgateway.providers.base import RateLimitInfo
from llmgateway.store import key, shared_script

_ACQUIRE = """
local h = redis.call('HMGET', KEYS[1], 'rpm', 'tpm', 'r', 't', 'ts', 'blocked_until')
local now, n, per = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rpm = tonumber(h[1]) or tonumber(ARGV[4])
local tpm = tonumber(h[2]) or tonumber(ARGV[5])
local blocked = tonumber(h[6]) or 0
if now < blocked then return {0, tostring(blocked - now)} end
if rpm <= 0 and tpm <= 0 then return {n, '0'} end
local r = tonumber(h[3]) or rpm
local t = tonumber(h[4]) or tpm
local dt = math.max(0, now - (tonumber(h[5]) or now))
if tpm > 0 and per > tpm then per = tpm end
if rpm > 0 then r = math.min(rpm, r + dt * rpm / 60) end
if tpm > 0 then t = math.min(tpm, t + dt * tpm / 60) end
local k = n
if rpm > 0 then k = math.min(k, math.floor(r)) end
if tpm > 0 and per > 0 then k = math.min(k, math.floor(t / per)) end
if k < 0 then k = 0 end
if rpm > 0 then r = r - k end
if tpm > 0 then t = t - k * per end
local wait = 0
if k < n then
  local w1, w2 = 0, 0
  if rpm > 0 then w1 = (1 - r) * 60 / rpm end
  if tpm > 0 and per > 0 then w2 = (per - t) * 60 / tpm end
  wait = math.max(w1, w2, 0.05)
end
redis.call('HSET', KEYS[1], 'r', r, 't', t, 'ts', now)
redis.call('EXPIRE', KEYS[1], 3600)
return {k, tostring(wait)}
"""

_OBSERVE = """
local now = tonumber(ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'rpm', ARGV[2]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'tpm', ARGV[4]) end
local h = redis.call('HMGET', KEYS[1], 'r', 't')
if ARGV[3] ~= '' and (tonumber(h[1]) == nil or tonumber(ARGV[3]) < tonumber(h[1])) then
  redis.call('HSET', KEYS[1], 'r', ARGV[3])
end
if ARGV[5] ~= '' and (tonumber(h[2]) == nil or tonumber(ARGV[5]) < tonumber(h[2])) then
  redis.call('HSET', KEYS[1], 't', ARGV[5])
end
if ARGV[6] ~= '' then
  local until_ = now + tonumber(ARGV[6])
  local current = tonumber(redis.call('HGET', KEYS[1], 'blocked_until')) or 0
  if until_ > current then redis.call('HSET', KEYS[1], 'blocked_until', until_) end
end
redis.call('HSETNX', KEYS[1], 'ts', now)
redis.call('EXPIRE', KEYS[1], 3600)
return 1
"""


@dataclass(frozen=True)
class Grant:
    granted: int
    wait_seconds: float  # how long the rest should wait (0 when all were granted)


def _bucket(provider: str, model: str) -> str:
    return key("ratelimit", provider, model)


def rate_acquire(*, provider: str, model: str, requests: int, tokens_each: int) -> Grant:
    """Take up to `requests` calls of about `tokens_each` tokens from the bucket."""
    script = shared_script(_ACQUIRE)
    if script is None or requests <= 0:
        return Grant(granted=max(0, requests), wait_seconds=0.0)
    granted, wait = script(
        keys=[_bucket(provider, model)],
        args=[
            time.time(),
            requests,
            tokens_each,
            settings.LLM_RATE_LIMIT_REQUESTS_PER_MINUTE,
            settings.LLM_RATE_LIMIT_TOKENS_PER_MINUTE,
        ],
    )
    return Grant(granted=int(granted), wait_seconds=float(wait))


def rate_observe(*, provider: str, model: str, limits: RateLimitInfo | None = None, retry_after: float | None = None) -> None:
    """Adapt the bucket to what a provider said: its limits, what remains, or a 429's Retry-After."""
    script = shared_script(_OBSERVE)
    if script is None or (limits is None and retry_after is None):
        return
    limits = limits or RateLimitInfo()

    def arg(value: float | None) -> str:
        return "" if value is None else str(value)

    script(
        keys=[_bucket(provider, model)],
        args=[
            time.time(),
            arg(limits.requests_limit),
            arg(limits.requests_remaining),
            arg(limits.tokens_limit),
            arg(limits.tokens_remaining),
            arg(retry_after),
        ],
    )
