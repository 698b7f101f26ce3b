"""Reads of batches: the ones a user may see, a batch's stored request, its progress and comparisons."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from assessments.models import OPEN_COMPARISON_STATES, Batch, Comparison, ComparisonStatus, EssayRole
from assessments.schemas import CJAssessmentRequestData


def batches_visible(*, user: Any, state: str | None = None) -> QuerySet[Batch]:
    """The user's own batches, optionally in one state; superusers see all."""
    queryset = Batch.objects.all() if user.is_superuser else Batch.objects.filter(owner=user)
    return queryset.filter(state=state) if state else queryset


def batches_judgeable(*, user: Any) -> QuerySet[Batch]:
    """Batches the user may judge: their own and those they are invited to; superusers: all."""
    if user.is_superuser:
        return Batch.objects.all()
    return Batch.objects.filter(Q(owner=user) | Q(human_judges__user=user)).distinct()


def batch_request(*, batch: Batch) -> CJAssessmentRequestData:
    """Rehydrate the stored request: overrides, budget and user survive every round and restart."""
    stored = dict(batch.processing_metadata["original_request"])
    if stored.get("assignment_id") is not None:  # inline anchors, stored with their scale before issue #13
        stored.pop("grade_scale", None)
        stored.pop("custom_grades", None)
    essays = list(batch.essays.filter(role=EssayRole.STUDENT).values("external_id", "text"))
    stored["essays"] = [{"id": e["external_id"], "text": e["text"]} for e in essays]
    return CJAssessmentRequestData.model_validate(stored)


def batch_progress(*, batch: Batch) -> dict[str, Any]:
    """Counts by comparison status, tokens and cost, all aggregated in the database."""
    totals = batch.comparisons.aggregate(
        sent=Count("pk", filter=Q(sent_at__isnull=False)),
        succeeded=Count("pk", filter=Q(status=ComparisonStatus.SUCCEEDED)),
        failed=Count("pk", filter=Q(status=ComparisonStatus.FAILED)),
        waiting=Count("pk", filter=Q(status__in=OPEN_COMPARISON_STATES)),
        cancelled=Count("pk", filter=Q(status=ComparisonStatus.CANCELLED)),
        input_tokens=Sum("input_tokens", default=0),
        output_tokens=Sum("output_tokens", default=0),
    )
    failed_by_reason = (
        batch.comparisons.filter(status=ComparisonStatus.FAILED)
        .values_list("error_category")
        .annotate(n=Count("pk"))
        .order_by("error_category")
    )
    return {
        "state": batch.state,
        "end_reason": batch.end_reason,
        "rounds": batch.current_round,
        "planned": batch.comparisons_planned,
        "cost_usd": float(batch.cost_usd),
        **totals,
        "failed_by_reason": {category or "internal": n for category, n in failed_by_reason},
    }


def batch_status(*, batch: Batch) -> dict[str, Any]:
    """Progress of a batch, counted in the database, with an estimate of what remains.

    The estimate is an upper bound: the comparisons left in the budget plus those waiting, and
    their cost at the batch's mean cost per judged comparison so far. A batch that reaches its
    reliability target stops earlier; a finished batch has nothing left.
    """
    progress = batch_progress(batch=batch)
    counts = {
        key: progress[key]
        for key in ("sent", "succeeded", "failed", "failed_by_reason", "waiting", "cancelled", "input_tokens", "output_tokens")
    }
    meta = batch.processing_metadata
    budget = int(meta.get("comparison_budget", {}).get("max_pairs_requested", batch.comparisons_planned))
    capped_from = meta.get("comparison_budget", {}).get("capped_from")
    remaining = 0 if batch.is_terminal else max(0, budget - batch.budget_spent) + counts["waiting"]
    resolved = counts["succeeded"] + counts["failed"]
    cost = float(batch.cost_usd)
    return {
        "rounds": batch.current_round,
        "comparisons": {
            "budget": budget,
            "budget_note": (
                f"capped at {budget:,} by the server's ceiling (CJ_MAX_COMPARISONS_CEILING); "
                f"the request asked for {capped_from:,}"
                if capped_from
                else None
            ),
            "planned": batch.comparisons_planned,
            **counts,
        },
        "reliability": meta.get("scoring", {}).get("reliability"),
        "reliability_note": meta.get("scoring", {}).get("reliability_note") if meta.get("scoring") else "not scored yet",
        "cost_usd": cost,
        "estimate": {
            "comparisons_remaining_at_most": remaining,
            "cost_usd_remaining_at_most": round(remaining * cost / resolved, 6) if resolved else None,
        },
    }


def batch_comparisons(
    *, batch: Batch, status: str | None = None, judge: str | None = None, round_no: int | None = None
) -> QuerySet[Comparison]:
    """A batch's comparisons in the order they were planned, filtered by status, judge or round."""
    queryset = batch.comparisons.select_related("essay_a", "essay_b").order_by("round_no", "id")
    if status:
        queryset = queryset.filter(status=status)
    if judge:
        queryset = queryset.filter(judge=judge)
    if round_no is not None:
        queryset = queryset.filter(round_no=round_no)
    return queryset
