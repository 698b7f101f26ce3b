"""Prometheus metrics of the gateway, correct across Celery worker processes (and machines).

Workers do not serve HTTP, and a per-process registry would show only the web process's share.
So counters and histograms are kept in Redis: each task adds its figures to a `MetricsBuffer` and
flushes it in one pipeline (one round trip per task, whatever the bundle size). `/metrics` (the
web process) reads them back through `llmgateway.collector`, with the live gauges. Without Redis
(the embedded default: one process) the same figures are kept in process.

Names follow the system this replaces: `llm_provider_queue_depth`,
`llm_provider_queue_wait_time_seconds`, `llm_provider_comparison_callbacks_total`; the periodic
`queue_metrics_snapshot` log line carries the same figures.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict

from prometheus_client.registry import Collector

from llmgateway.store import key, shared_redis

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)
HISTOGRAMS: dict[str, tuple[tuple[float, ...], str]] = {
    "llm_provider_call_duration_seconds": (LATENCY_BUCKETS, "Duration of one provider call."),
    "llm_provider_queue_wait_time_seconds": (WAIT_BUCKETS, "Time from a request's creation to its first call."),
}
COUNTERS: dict[str, str] = {
    "llm_provider_comparison_callbacks_total": "Results delivered to callers, by result.",
    "llm_provider_calls_total": "Provider calls, by outcome.",
    "llm_provider_tokens_total": "Tokens, by type (input, output, cache_read, cache_write, reasoning).",
    "llm_provider_cost_usd_total": "Cost in US dollars from the manifest's prices.",
    "llm_provider_errors_total": "Failed calls, by error category.",
    "llm_provider_retries_total": "Retries and deferrals, by reason.",
}
# Other apps add their own series (the gateway knows nothing of them) and live collectors.
EXTRA_COLLECTORS: list[Collector] = []


def register_counter(name: str, help_text: str) -> None:
    COUNTERS.setdefault(name, help_text)


def register_histogram(name: str, buckets: tuple[float, ...], help_text: str) -> None:
    HISTOGRAMS.setdefault(name, (buckets, help_text))


def register_collector(collector: Collector) -> None:
    if not any(type(existing) is type(collector) for existing in EXTRA_COLLECTORS):
        EXTRA_COLLECTORS.append(collector)


_SEP = "\x1f"
_COUNTERS_KEY = key("metrics", "counters")
_HISTOGRAMS_KEY = key("metrics", "histograms")
_GAUGES_KEY = key("metrics", "gauges")


def _labels(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


class _LocalStore:
    """The in-process stand-in for the Redis hashes (embedded default only)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hashes: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def add(self, name: str, field: str, value: float) -> None:
        with self.lock:
            self.hashes[name][field] += value

    def read(self, name: str) -> dict[str, float]:
        with self.lock:
            return dict(self.hashes[name])


_local = _LocalStore()


class MetricsBuffer:
    """Figures of one task, written in one round trip by `flush()`."""

    def __init__(self) -> None:
        self._adds: dict[tuple[str, str], float] = defaultdict(float)

    def inc(self, name: str, value: float = 1.0, /, **labels: str) -> None:
        if value:
            self._adds[(_COUNTERS_KEY, f"{name}{_SEP}{_labels(labels)}")] += value

    def observe(self, name: str, value: float, /, **labels: str) -> None:
        buckets, _ = HISTOGRAMS[name]
        base = f"{name}{_SEP}{_labels(labels)}{_SEP}"
        bucket = next((str(b) for b in buckets if value <= b), "+Inf")
        self._adds[(_HISTOGRAMS_KEY, base + bucket)] += 1
        self._adds[(_HISTOGRAMS_KEY, base + "sum")] += value

    def flush(self) -> None:
        adds, self._adds = self._adds, defaultdict(float)
        if not adds:
            return
        client = shared_redis()
        if client is None:
            for (name, field), value in adds.items():
                _local.add(name, field, value)
            return
        pipe = client.pipeline(transaction=False)
        for (name, field), value in adds.items():
            pipe.hincrbyfloat(name, field, value)
        pipe.execute()


def in_flight_add(provider: str, delta: int) -> None:
    """Calls in flight, by provider: +n when calls start, -n when they end."""
    client = shared_redis()
    if client is None:
        _local.add(_GAUGES_KEY, provider, delta)
    else:
        client.hincrby(_GAUGES_KEY, provider, delta)


def _read(name: str) -> dict[str, float]:
    client = shared_redis()
    if client is None:
        return _local.read(name)
    return {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in client.hgetall(name).items()}


def counters() -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for field, value in _read(_COUNTERS_KEY).items():
        name, labels = field.split(_SEP, 1)
        out[name].append((json.loads(labels), value))
    return out


def histograms() -> dict[str, dict[str, dict[str, float]]]:
    """{name: {labels json: {bucket or 'sum': value}}}."""
    out: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for field, value in _read(_HISTOGRAMS_KEY).items():
        name, labels, bucket = field.split(_SEP, 2)
        out[name][labels][bucket] = value
    return out


def in_flight() -> dict[str, float]:
    return {provider: max(0.0, value) for provider, value in _read(_GAUGES_KEY).items()}


def metrics_reset() -> None:
    """Forget every figure (tests and benchmarks)."""
    client = shared_redis()
    if client is None:
        _local.hashes.clear()
    else:
        client.delete(_COUNTERS_KEY, _HISTOGRAMS_KEY, _GAUGES_KEY)
