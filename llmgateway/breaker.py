"""A circuit breaker per provider/model, its state in Redis, shared by all workers.

Closed: calls go through; `LLM_BREAKER_FAILURE_THRESHOLD` retryable failures in a row open it.
Open: calls are deferred (a Celery countdown until it half-opens, never a failure) for
`LLM_BREAKER_COOLDOWN_SECONDS`. Half-open: one probe call goes through; its success closes the
breaker, its retryable failure opens it again. Terminal failures (a bad request, a refusal) say
nothing about the provider's health and are not counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, cast

from django.conf import settings

from llmgateway.store import key, shared_redis, shared_script

BreakerState = Literal["closed", "half_open", "open"]
STATE_VALUE: dict[str, int] = {"closed": 0, "half_open": 1, "open": 2}

# ARGV: now, probe window, cooldown. Returns {admitted (0/1), state, wait}: a probe is admitted
# once per half-open window. Requests refused while the probe is out ask again after at most a
# cooldown (deferrals cost no attempt), so a probe that closed the breaker frees them at once
# rather than at the end of the probe window.
_ALLOW = """
local h = redis.call('HMGET', KEYS[1], 'opened_until', 'probe_until')
local now = tonumber(ARGV[1])
local opened = tonumber(h[1]) or 0
if opened == 0 then return {1, 'closed', '0'} end
if now < opened then return {0, 'open', tostring(opened - now)} end
local probe = tonumber(h[2]) or 0
if now < probe then return {0, 'half_open', tostring(math.min(probe - now, tonumber(ARGV[3])))} end
redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[2]))
return {1, 'half_open', '0'}
"""

# ARGV: now, successes, retryable failures, threshold, cooldown. Returns the new state.
_RECORD = """
local now, ok, bad = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if ok > 0 then redis.call('DEL', KEYS[1]) return 'closed' end
if bad == 0 then return 'unchanged' end
local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_until')) or 0
if opened > 0 and now >= opened then
  redis.call('HSET', KEYS[1], 'opened_until', now + tonumber(ARGV[5]), 'probe_until', 0)
  redis.call('EXPIRE', KEYS[1], 86400)
  return 'open'
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', bad)
redis.call('EXPIRE', KEYS[1], 86400)
if opened == 0 and failures >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'opened_until', now + tonumber(ARGV[5]), 'probe_until', 0)
  return 'open'
end
return 'unchanged'
"""


@dataclass(frozen=True)
class Admission:
    admitted: bool
    state: BreakerState
    wait_seconds: float  # when not admitted: how long until it is worth asking again


def _key(provider: str, model: str) -> str:
    return key("breaker", provider, model)


def breaker_allow(*, provider: str, model: str) -> Admission:
    script = shared_script(_ALLOW)
    if script is None:
        return Admission(True, "closed", 0.0)
    probe_window = settings.LLM_REQUEST_TIMEOUT + 5
    admitted, state, wait = script(
        keys=[_key(provider, model)], args=[time.time(), probe_window, settings.LLM_BREAKER_COOLDOWN_SECONDS]
    )
    # The script answers one of the three states.
    return Admission(bool(admitted), cast(BreakerState, state.decode() if isinstance(state, bytes) else state), float(wait))


def breaker_record(*, provider: str, model: str, successes: int = 0, retryable_failures: int = 0) -> str:
    """Count outcomes: any success closes the breaker; retryable failures may open it."""
    script = shared_script(_RECORD)
    if script is None or (successes == 0 and retryable_failures == 0):
        return "unchanged"
    state = script(
        keys=[_key(provider, model)],
        args=[
            time.time(),
            successes,
            retryable_failures,
            settings.LLM_BREAKER_FAILURE_THRESHOLD,
            settings.LLM_BREAKER_COOLDOWN_SECONDS,
        ],
    )
    return state.decode() if isinstance(state, bytes) else state


def breaker_states() -> dict[tuple[str, str], BreakerState]:
    """Every provider/model whose breaker is not closed, for the metrics."""
    client = shared_redis()
    if client is None:
        return {}
    states: dict[tuple[str, str], BreakerState] = {}
    now = time.time()
    for raw in client.scan_iter(match=key("breaker", "*"), count=200):
        name = raw.decode()
        _, _, provider, model = name.split(":", 3)
        opened = float(client.hget(name, "opened_until") or 0)
        if opened:
            states[(provider, model)] = "open" if now < opened else "half_open"
    return states
