"""Reads of the CJ domain: results and progress of a batch, counted in the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum

from assessments.models import OPEN_COMPARISON_STATES, Assignment, Batch, Comparison, ComparisonStatus, Essay


@dataclass(frozen=True)
class RankedEssay:
    rank: int | None
    external_id: str
    role: str
    anchor_grade: str | None
    theta: float | None
    se: float | None
    comparisons: int
    wins: float
    projected_grade: str
    grade_probability: float | None
    grade_confidence: str


def batch_ranking(*, batch: Batch) -> list[RankedEssay]:
    """Every essay of the batch, best first (unscored essays last)."""
    rows = []
    for essay in Essay.objects.filter(batch=batch).order_by(F("rank").asc(nulls_last=True), "external_id"):
        rows.append(
            RankedEssay(
                rank=essay.rank,
                external_id=essay.external_id,
                role=essay.role,
                anchor_grade=essay.anchor_grade,
                theta=essay.theta,
                se=essay.se,
                comparisons=essay.comparison_count,
                wins=essay.wins,
                projected_grade=essay.projected_grade,
                grade_probability=essay.grade_probability,
                grade_confidence=essay.grade_confidence,
            )
        )
    return rows


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
    return {
        "state": batch.state,
        "end_reason": batch.end_reason,
        "rounds": batch.current_round,
        "planned": batch.comparisons_planned,
        "cost_usd": float(batch.cost_usd),
        **totals,
    }


EXPORT_COLUMNS = (
    "rank",
    "essay_id",
    "role",
    "anchor_grade",
    "theta",
    "se",
    "theta_low_95",
    "theta_high_95",
    "comparisons",
    "wins",
    "infit",
    "outfit",
    "projected_grade",
    "grade_probability",
    "grade_confidence",
    "expected_grade",
)


def batch_export_rows(*, batch: Batch) -> list[dict[str, Any]]:
    """One row per essay, best first, with its 95% interval: what the CSV export writes."""
    rows = []
    for essay in Essay.objects.filter(batch=batch).order_by(F("rank").asc(nulls_last=True), "external_id"):
        scored = essay.theta is not None and essay.se is not None
        rows.append(
            {
                "rank": essay.rank,
                "essay_id": essay.external_id,
                "role": essay.role,
                "anchor_grade": essay.anchor_grade or "",
                "theta": essay.theta,
                "se": essay.se,
                "theta_low_95": essay.theta - 1.96 * essay.se if scored else None,
                "theta_high_95": essay.theta + 1.96 * essay.se if scored else None,
                "comparisons": essay.comparison_count,
                "wins": essay.wins,
                "infit": essay.infit,
                "outfit": essay.outfit,
                "projected_grade": essay.projected_grade,
                "grade_probability": essay.grade_probability,
                "grade_confidence": essay.grade_confidence,
                "expected_grade": essay.expected_grade,
            }
        )
    return rows


# --- What the REST API reads -------------------------------------------------------------------


def assignments_visible(*, user: Any) -> QuerySet[Assignment]:
    """The user's own assignments; superusers see all (graders are staff but see their own)."""
    queryset = Assignment.objects.annotate(anchor_count=Count("anchors"))
    return queryset if user.is_superuser else queryset.filter(owner=user)


def batches_visible(*, user: Any, state: str | None = None) -> QuerySet[Batch]:
    """The user's own batches, newest first, optionally in one state; superusers see all."""
    queryset = Batch.objects.all() if user.is_superuser else Batch.objects.filter(owner=user)
    return queryset.filter(state=state) if state else queryset


def batch_status(*, batch: Batch) -> dict[str, Any]:
    """Progress of a batch, counted in the database, with an estimate of what remains.

    The estimate is an upper bound: the comparisons left in the budget plus those waiting, and
    their cost at the batch's mean cost per judged comparison so far. A batch that reaches its
    reliability target stops earlier; a finished batch has nothing left.
    """
    progress = batch_progress(batch=batch)
    counts = {
        key: progress[key] for key in ("sent", "succeeded", "failed", "waiting", "cancelled", "input_tokens", "output_tokens")
    }
    meta = batch.processing_metadata
    budget = int(meta.get("comparison_budget", {}).get("max_pairs_requested", batch.comparisons_planned))
    remaining = 0 if batch.is_terminal else max(0, budget - batch.comparisons_planned) + counts["waiting"]
    resolved = counts["succeeded"] + counts["failed"]
    cost = float(batch.cost_usd)
    return {
        "rounds": batch.current_round,
        "comparisons": {"budget": budget, "planned": batch.comparisons_planned, **counts},
        "ssr": meta.get("scoring", {}).get("ssr"),
        "cost_usd": cost,
        "estimate": {
            "comparisons_remaining_at_most": remaining,
            "cost_usd_remaining_at_most": round(remaining * cost / resolved, 6) if resolved else None,
        },
    }


def batch_results(*, batch: Batch) -> dict[str, Any]:
    """Per essay: rank, θ, SE, 95% interval, fit, projected grade and P(grade) per grade.
    Per batch: reliability, position bias, grading, anchor alignment, judges, tokens and cost."""
    meta = batch.processing_metadata
    scoring = meta.get("scoring", {})
    probabilities = dict(Essay.objects.filter(batch=batch).values_list("external_id", "grade_probabilities"))
    tokens = batch.comparisons.aggregate(
        input=Sum("input_tokens", default=0),
        output=Sum("output_tokens", default=0),
        cache_read=Sum("cache_read_tokens", default=0),
        cache_write=Sum("cache_write_tokens", default=0),
    )
    return {
        "batch_id": batch.pk,
        "state": batch.state,
        "end_reason": batch.end_reason,
        "scored": bool(scoring),
        "ssr": scoring.get("ssr"),
        "separation": scoring.get("separation"),
        "position_bias": {k: scoring.get(k) for k in ("p_first_wins", "order_effect", "order_effect_se")},
        "grading": meta.get("grading", {"available": False, "reason": "not scored yet"}),
        "anchor_alignment": meta.get("anchor_alignment"),
        "judges": meta.get("judges", []),
        "tokens": tokens,
        "cost_usd": float(batch.cost_usd),
        "essays": [
            {**row, "grade_probabilities": probabilities.get(row["essay_id"]) or {}} for row in batch_export_rows(batch=batch)
        ],
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
