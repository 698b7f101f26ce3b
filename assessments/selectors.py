"""Reads of the CJ domain: results and progress of a batch, counted in the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q, Sum

from assessments.models import OPEN_COMPARISON_STATES, Batch, ComparisonStatus, Essay


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
