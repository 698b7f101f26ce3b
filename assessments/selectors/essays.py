"""Reads of one essay: every comparison it took part in, with the judge's justification, and its record."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from assessments.models import Comparison, ComparisonStatus, Essay


@dataclass(frozen=True)
class EssayComparison:
    pk: int
    round_no: int
    status: str
    shown: str  # "first" or "second"
    opponent_pk: int
    opponent: str
    opponent_grade: str | None
    outcome: str  # "won", "lost", or the status when not judged
    confidence: int | None
    justification: str
    judge: str
    error_category: str


def essay_comparisons(*, essay: Essay) -> list[EssayComparison]:
    """Every comparison the essay took part in, with the judge's justification, in round order."""
    rows = (
        Comparison.objects.filter(Q(essay_a=essay) | Q(essay_b=essay))
        .select_related("essay_a", "essay_b")
        .order_by("round_no", "id")
    )
    result = []
    for c in rows:
        first = c.essay_a_id == essay.pk
        opponent = c.essay_b if first else c.essay_a
        won = (c.winner == "a") == first
        outcome = ("won" if won else "lost") if c.status == ComparisonStatus.SUCCEEDED else c.status
        result.append(
            EssayComparison(
                pk=c.pk,
                round_no=c.round_no,
                status=c.status,
                shown="first" if first else "second",
                opponent_pk=opponent.pk,
                opponent=opponent.external_id,
                opponent_grade=opponent.anchor_grade,
                outcome=outcome,
                confidence=c.confidence,
                justification=c.justification,
                judge=c.judge or f"{c.provider}/{c.model}".strip("/"),
                error_category=c.error_category,
            )
        )
    return result


def essay_record(*, essay: Essay) -> dict[str, int]:
    """Wins and losses counted in the database."""
    judged = Comparison.objects.filter(Q(essay_a=essay) | Q(essay_b=essay), status=ComparisonStatus.SUCCEEDED)
    return judged.aggregate(
        wins=Count("pk", filter=Q(essay_a=essay, winner="a") | Q(essay_b=essay, winner="b")),
        losses=Count("pk", filter=Q(essay_a=essay, winner="b") | Q(essay_b=essay, winner="a")),
    )
