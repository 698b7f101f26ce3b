"""Reads of the gateway: models from the manifest, a request as the API shows it, usage sums,
and the queue figures behind the metrics and the `queue_metrics_snapshot` log line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, F, Q, Sum
from django.utils import timezone

from cjproject.errors import InvalidInput
from llmgateway.manifest import manifest, models_of
from llmgateway.metrics import in_flight
from llmgateway.models import LLMRequest
from llmgateway.providers import provider_configured
from llmgateway.store import shared_redis
from llmgateway.vocabulary import MOCK_PROVIDER, PROVIDERS

PUBLIC_PROVIDERS = tuple(p for p in PROVIDERS if p != MOCK_PROVIDER)


def models_list(*, provider: str | None = None, include_deprecated: bool = False) -> dict[str, Any]:
    """Models grouped by provider; the mock only when asked for by name."""
    if provider is not None and provider not in PROVIDERS:
        raise InvalidInput(
            "unknown provider", fields={"provider": [f"{provider!r} is not a provider; valid: {', '.join(PROVIDERS)}"]}
        )
    providers = (provider,) if provider else PUBLIC_PROVIDERS
    return {
        "prices_as_of": manifest().prices_as_of.isoformat(),
        "providers": {
            name: {
                "default_model": next(m.id for m in models_of(name) if m.default),
                "configured": provider_configured(name),
                "models": [m.model_dump(mode="json") for m in models_of(name, include_deprecated=include_deprecated)],
            }
            for name in providers
        },
    }


def comparison_request_get(*, user: Any, request_id: int) -> LLMRequest | None:
    """An external request its user may read (staff: any external request); None otherwise."""
    requests = LLMRequest.objects.filter(pk=request_id, owner__isnull=False)
    if not user.is_superuser:
        requests = requests.filter(owner=user)
    return requests.first()


def comparison_request_by_key(*, owner: Any, idempotency_key: str) -> LLMRequest | None:
    """The owner's request sent with this `Idempotency-Key`, if any."""
    return LLMRequest.objects.filter(owner=owner, idempotency_key=idempotency_key).first()


def comparison_request_view(*, request: LLMRequest) -> dict[str, Any]:
    """A request as the API and the webhooks show it (never the prompt parts)."""
    finished = request.status in (LLMRequest.Status.SUCCEEDED, LLMRequest.Status.FAILED)
    return {
        "id": request.pk,
        "status": request.status,
        "provider": request.provider,
        "model": request.model,
        "result": request.result,
        "error_category": request.error_category or None,
        "error_detail": request.error_detail or None,
        "prompt_sha256": request.prompt_sha256 or None,
        "attempts": request.attempts,
        "usage": {
            "input_tokens": request.input_tokens,
            "output_tokens": request.output_tokens,
            "cache_read_tokens": request.cache_read_tokens,
            "cache_write_tokens": request.cache_write_tokens,
            "reasoning_tokens": request.reasoning_tokens,
        },
        "cost_usd": str(request.cost_usd),
        "metadata": request.metadata,
        "created_at": request.created_at.isoformat(),
        "finished_at": request.finished_at.isoformat() if finished and request.finished_at else None,
    }


def usage_summary(*, user: Any, provider: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
    """Tokens and cost summed by provider and model (staff: every request; others: their own)."""
    requests = LLMRequest.objects.all() if user.is_superuser else LLMRequest.objects.filter(owner=user)
    if provider:
        requests = requests.filter(provider=provider)
    if model:
        requests = requests.filter(model=model)
    rows = (
        requests.values("provider", "model")
        .annotate(
            requests=Count("id"),
            succeeded=Count("id", filter=Q(status=LLMRequest.Status.SUCCEEDED)),
            failed=Count("id", filter=Q(status=LLMRequest.Status.FAILED)),
            calls=Sum("attempts"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cache_read_tokens=Sum("cache_read_tokens"),
            cache_write_tokens=Sum("cache_write_tokens"),
            reasoning_tokens=Sum("reasoning_tokens"),
            cost_usd=Sum("cost_usd"),
        )
        .order_by("provider", "model")
    )
    return [{**row, "cost_usd": str(row["cost_usd"])} for row in rows]


def queue_depth() -> dict[str, int]:
    """Requests waiting for a call (new, retried or deferred), by provider."""
    rows = LLMRequest.objects.filter(status=LLMRequest.Status.QUEUED).values("provider").annotate(n=Count("id"))
    return {row["provider"]: row["n"] for row in rows}


def broker_queue_lengths() -> dict[str, int]:
    """Messages waiting in the gateway's Celery queues (Redis broker only)."""
    broker = settings.CELERY_BROKER_URL or ""
    client = shared_redis()
    if client is None or not broker.startswith("redis"):
        return {}
    return {queue: int(client.llen(queue)) for queue in ("llm", "llm_batch")}


def queue_metrics_snapshot() -> dict[str, Any]:
    """The figures of the `queue_metrics_snapshot` log line."""
    now = timezone.now()
    queued = LLMRequest.objects.filter(status=LLMRequest.Status.QUEUED)
    oldest = queued.order_by("created_at").values_list("created_at", flat=True).first()
    recent = LLMRequest.objects.filter(started_at__isnull=False, started_at__gte=now - timedelta(minutes=5))
    wait = recent.aggregate(avg=Avg(F("started_at") - F("created_at")))["avg"]
    return {
        "queue_depth": queue_depth(),
        "queue_depth_total": queued.count(),
        "oldest_queued_seconds": round((now - oldest).total_seconds(), 3) if oldest else 0.0,
        "queue_wait_time_avg_seconds_5m": round(wait.total_seconds(), 3) if wait else 0.0,
        "running": LLMRequest.objects.filter(status=LLMRequest.Status.RUNNING).count(),
        "calls_in_flight": in_flight(),
        "broker_queues": broker_queue_lengths(),
    }
