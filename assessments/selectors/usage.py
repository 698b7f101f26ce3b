"""Reads of usage: tokens and cost of a user's batches, by model, by batch and in total."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from assessments.models import Batch, Comparison, ComparisonStatus

_USAGE_SUMS = {
    "comparisons": Count("pk"),
    "succeeded": Count("pk", filter=Q(status=ComparisonStatus.SUCCEEDED)),
    "failed": Count("pk", filter=Q(status=ComparisonStatus.FAILED)),
    "input_tokens": Sum("input_tokens", default=0),
    "output_tokens": Sum("output_tokens", default=0),
    "cache_read_tokens": Sum("cache_read_tokens", default=0),
    "cache_write_tokens": Sum("cache_write_tokens", default=0),
    "cost_usd": Sum("cost_usd", default=Decimal(0)),
}


def usage_by_model(*, batches: QuerySet[Batch]) -> list[dict[str, Any]]:
    """Tokens and cost of these batches' comparisons, by provider and model (sent ones only)."""
    sent = Comparison.objects.filter(batch__in=batches).exclude(provider="")
    return [dict(row) for row in sent.values("provider", "model").annotate(**_USAGE_SUMS).order_by("provider", "model")]


def usage_by_batch(*, batches: QuerySet[Batch]) -> list[dict[str, Any]]:
    """The same sums for each batch and model, newest batch first."""
    sent = Comparison.objects.filter(batch__in=batches).exclude(provider="")
    return [
        dict(row)
        for row in sent.values("batch_id", "batch__assignment__title", "provider", "model")
        .annotate(**_USAGE_SUMS)
        .order_by("-batch_id", "provider", "model")
    ]


def usage_total(*, batches: QuerySet[Batch]) -> dict[str, Any]:
    return Comparison.objects.filter(batch__in=batches).exclude(provider="").aggregate(**_USAGE_SUMS)
