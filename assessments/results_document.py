"""A batch's results as one document with a versioned schema (`cj-results`, pydantic 2).

The same document is what `GET /api/v1/batches/{id}/export.json` and the admin's JSON export
return, and what the ENG5 research runner embeds as its artefact's `results`. It is built from the
database alone (`batch_results_document`): the batch, every comparison, the Bradley-Terry summary
with each essay's score, the grade projections, the anchor alignment (Kendall τ, inversions, direct
inversions with the judge's justification, per-anchor standings) and the costs by judge.

`SCHEMA_VERSION` changes whenever a field changes meaning or is removed; adding a field does not
change it. `BatchResults.model_json_schema()` is the published schema. The CSV export
(`batch_results_csv`) has one row per essay in `selectors.EXPORT_COLUMNS`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import numpy as np
from django.db.models import Count, Sum
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field

from assessments import selectors
from assessments.engine.grading import anchor_alignment
from assessments.engine.scales import GradeScale
from assessments.models import Batch, Comparison, ComparisonStatus, EssayRole
from llmgateway.manifest import manifest

SCHEMA_NAME = "cj-results"
SCHEMA_VERSION = 1
MOCK_PROVIDER = "mock"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JudgeUsed(_Model):
    judge: str
    provider: str
    model: str
    comparisons: int = Field(ge=0, description="comparisons sent to this judge")
    is_language_model: bool = Field(description="false for the offline mock judge, which is NOT a language model")


class BatchInfo(_Model):
    id: int
    assignment_id: int | None = None
    state: str
    end_reason: str = ""
    end_message: str = ""
    rounds: int
    created_at: datetime
    finished_at: datetime | None = None
    language: str
    course_code: str = ""
    judges: list[JudgeUsed] = Field(default_factory=list, description="the judges comparisons were sent to")


class ComparisonRecord(_Model):
    id: int
    round: int
    essay_a: str = Field(description="shown first")
    essay_b: str
    judge: str
    provider: str
    model: str
    status: str
    winner: Literal["a", "b"] | None = None
    winner_id: str | None = None
    confidence: int | None = None
    justification: str = ""
    prompt_sha256: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    attempt: int = 0
    error_category: str = ""
    sent_at: datetime | None = None
    completed_at: datetime | None = None


class EssayScore(_Model):
    id: str
    role: Literal["anchor", "student"]
    grade: str | None = None  # the known (expert) grade of an anchor
    rank: int | None = None
    theta: float | None = None
    se: float | None = None
    comparisons: int = 0
    wins: float = 0.0
    infit: float | None = None
    outfit: float | None = None


class JudgeAgreement(_Model):
    """One judge against the consensus scale (the fit of every judge's comparisons)."""

    judge: str
    comparisons: int
    agreement_with_consensus: float | None = None
    infit: float | None = None
    p_first_wins: float | None = None


class BTSummary(_Model):
    ssr: float | None = None
    separation: float | None = None
    p_first_wins: float | None = None
    order_effect: float | None = None
    order_effect_se: float | None = None
    n_comparisons: int = 0
    n_components: int | None = None
    converged: bool | None = None
    log_likelihood: float | None = None
    judges: list[JudgeAgreement] = Field(default_factory=list)
    essays: list[EssayScore] = Field(default_factory=list)


class ProjectedGrade(_Model):
    id: str
    grade: str
    probability: float | None = None
    confidence: str = ""
    expected_grade: float | None = None
    probabilities: dict[str, float] = Field(default_factory=dict)


class GradeProjections(_Model):
    available: bool
    reason: str | None = None
    grades: list[str] = Field(default_factory=list)
    centres: list[float | None] = Field(default_factory=list)
    cuts: list[float | None] = Field(default_factory=list)
    essays: list[ProjectedGrade] = Field(default_factory=list)


class AnchorRef(_Model):
    id: str
    grade: str


class DirectInversion(_Model):
    """A comparison in which the lower-graded anchor won, with the judge's justification."""

    comparison_id: int
    round: int
    winner: AnchorRef
    loser: AnchorRef
    shown_first: str
    confidence: int | None = None
    justification: str = ""


class AnchorStanding(_Model):
    id: str
    grade: str
    theta: float | None = None
    rank_among_anchors: int | None = None
    comparisons: int
    wins: int
    win_rate: float | None = None


class AnchorAlignment(_Model):
    n_anchors: int
    kendall_tau: float | None = None
    inversions: list[tuple[AnchorRef, AnchorRef]] = Field(
        default_factory=list, description="(lower-graded, higher-graded) anchor pairs whose θ are in the wrong order"
    )
    direct_inversions: list[DirectInversion] = Field(default_factory=list)
    zero_win_anchors: list[AnchorRef] = Field(default_factory=list)
    anchors: list[AnchorStanding] = Field(default_factory=list)


class JudgeCost(_Model):
    judge: str
    comparisons: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class Costs(_Model):
    total_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    by_judge: list[JudgeCost] = Field(default_factory=list)
    prices_as_of: str


class BatchResults(_Model):
    schema_name: Literal["cj-results"] = SCHEMA_NAME
    schema_version: Literal[1] = SCHEMA_VERSION
    generated_at: datetime
    batch: BatchInfo
    comparisons: list[ComparisonRecord] = Field(default_factory=list)
    bt_summary: BTSummary
    grade_projections: GradeProjections
    anchor_alignment: AnchorAlignment | None = Field(default=None, description="null without graded anchors")
    costs: Costs


# --- Building it from the database ----------------------------------------------------------


def batch_results_document(
    *,
    batch: Batch,
    essay_id: Mapping[int, str] | None = None,
    anchor_grades: Mapping[str, str] | None = None,
    scale: GradeScale | None = None,
) -> BatchResults:
    """The batch's results, read from the database only.

    `essay_id` maps an essay's primary key to the id it appears under (default: its external id,
    as the batch was created with). `anchor_grades` (by that id) marks further essays as anchors
    with known grades: the research runner's anchor-alignment runs send anchors as students and
    keep their grades. `scale` defaults to the assignment's grade scale; without one (a guest
    batch) there is no anchor alignment.
    """
    batch.refresh_from_db()
    essays = list(batch.essays.order_by("id"))
    id_of = {e.pk: (essay_id[e.pk] if essay_id is not None else e.external_id) for e in essays}
    grade_of = {id_of[e.pk]: e.anchor_grade for e in essays if e.role == EssayRole.ANCHOR and e.anchor_grade}
    grade_of.update(anchor_grades or {})
    if scale is None and batch.assignment_id is not None:
        scale = batch.assignment.scale  # type: ignore[union-attr]
    comparisons = [
        comparison_record(c, essay_a=id_of[c.essay_a_id], essay_b=id_of[c.essay_b_id])
        for c in batch.comparisons.order_by("round_no", "id")
    ]
    meta = batch.processing_metadata
    scoring = meta.get("scoring", {})
    scores = [
        EssayScore(
            id=id_of[e.pk],
            role="anchor" if id_of[e.pk] in grade_of else "student",
            grade=grade_of.get(id_of[e.pk]),
            rank=e.rank,
            theta=e.theta,
            se=e.se,
            comparisons=e.comparison_count,
            wins=e.wins,
            infit=e.infit,
            outfit=e.outfit,
        )
        for e in sorted(essays, key=lambda e: (e.rank is None, e.rank or 0, id_of[e.pk]))
    ]
    bt = BTSummary(
        **{k: scoring.get(k) for k in ("ssr", "separation", "p_first_wins", "order_effect", "order_effect_se")},
        n_comparisons=scoring.get("n_comparisons", 0),
        n_components=scoring.get("n_components"),
        converged=scoring.get("converged"),
        log_likelihood=scoring.get("log_likelihood"),
        judges=[JudgeAgreement(**{k: j.get(k) for k in JudgeAgreement.model_fields}) for j in meta.get("judges", [])],
        essays=scores,
    )
    grading = meta.get("grading", {"available": False, "reason": "not scored yet"})
    projections = GradeProjections(
        available=bool(grading.get("available")),
        reason=grading.get("reason"),
        grades=grading.get("grades", []),
        centres=grading.get("centres", []),
        cuts=grading.get("cuts", []),
        essays=[
            ProjectedGrade(
                id=id_of[e.pk],
                grade=e.projected_grade,
                probability=e.grade_probability,
                confidence=e.grade_confidence,
                expected_grade=e.expected_grade,
                probabilities=e.grade_probabilities or {},
            )
            for e in essays
            if e.projected_grade
        ],
    )
    return BatchResults(
        generated_at=timezone.now(),
        batch=_batch_info(batch),
        comparisons=comparisons,
        bt_summary=bt,
        grade_projections=projections,
        anchor_alignment=_alignment(scores, comparisons, grade_of, scale) if scale is not None else None,
        costs=_costs(batch),
    )


def comparison_record(comparison: Comparison, *, essay_a: str, essay_b: str) -> ComparisonRecord:
    """One comparison, its essays under the given ids (`essay_a` was shown first)."""
    c = comparison
    winner = c.winner or None
    return ComparisonRecord(
        id=c.pk,
        round=c.round_no,
        essay_a=essay_a,
        essay_b=essay_b,
        judge=_judge_label(c.judge, c.provider, c.model),
        provider=c.provider,
        model=c.model,
        status=c.status,
        winner=winner,  # type: ignore[arg-type]
        winner_id={"a": essay_a, "b": essay_b}.get(winner or ""),
        confidence=c.confidence,
        justification=c.justification or "",
        prompt_sha256=c.prompt_sha256 or "",
        input_tokens=c.input_tokens,
        output_tokens=c.output_tokens,
        cache_read_tokens=c.cache_read_tokens,
        cache_write_tokens=c.cache_write_tokens,
        cost_usd=float(c.cost_usd or 0),
        attempt=c.attempt,
        error_category=c.error_category or "",
        sent_at=c.sent_at,
        completed_at=c.completed_at,
    )


def _judge_label(judge: str, provider: str, model: str) -> str:
    if judge:
        return judge
    return f"{provider}/{model}" if provider else ""


def _batch_info(batch: Batch) -> BatchInfo:
    used = (
        batch.comparisons.exclude(provider="")
        .values("judge", "provider", "model")
        .annotate(n=Count("pk"))
        .order_by("judge", "provider", "model")
    )
    return BatchInfo(
        id=batch.pk,
        assignment_id=batch.assignment_id,
        state=batch.state,
        end_reason=batch.end_reason or "",
        end_message=batch.end_message or "",
        rounds=batch.current_round,
        created_at=batch.created_at,
        finished_at=batch.finished_at,
        language=batch.language,
        course_code=batch.course_code or "",
        judges=[
            JudgeUsed(
                judge=_judge_label(row["judge"], row["provider"], row["model"]),
                provider=row["provider"],
                model=row["model"],
                comparisons=row["n"],
                is_language_model=row["provider"] != MOCK_PROVIDER,
            )
            for row in used
        ],
    )


def _alignment(
    scores: list[EssayScore], comparisons: list[ComparisonRecord], grade_of: Mapping[str, str], scale: GradeScale
) -> AnchorAlignment | None:
    """Kendall τ, inversions, direct inversions with justifications, winless anchors, win rates.

    The engine's `anchor_alignment` does the statistics; here ids become anchors with grades.
    """
    ids = [s.id for s in scores]
    index = {essay_id: i for i, essay_id in enumerate(ids)}
    anchors = [s for s in scores if s.id in grade_of and s.theta is not None and grade_of[s.id] in scale.grades]
    if not anchors:
        return None
    graded = {s.id for s in anchors}
    theta = np.array([s.theta if s.theta is not None else np.nan for s in scores])
    anchor_index = np.array([index[s.id] for s in anchors], dtype=np.int64)
    anchor_grade = np.array([scale.index(grade_of[s.id]) for s in anchors], dtype=np.int64)
    decided = [c for c in comparisons if c.status == ComparisonStatus.SUCCEEDED and c.winner_id]
    winners = np.array([index[c.winner_id] for c in decided], dtype=np.int64)  # type: ignore[index]
    losers = np.array([index[c.essay_b if c.winner == "a" else c.essay_a] for c in decided], dtype=np.int64)
    result = anchor_alignment(theta=theta, anchor_index=anchor_index, anchor_grade=anchor_grade, winners=winners, losers=losers)

    def ref(i: int) -> AnchorRef:
        return AnchorRef(id=ids[i], grade=grade_of[ids[i]])

    direct = []
    for c in decided:
        loser = c.essay_b if c.winner == "a" else c.essay_a
        if c.winner_id in graded and loser in graded and scale.index(grade_of[c.winner_id]) < scale.index(grade_of[loser]):
            direct.append(
                DirectInversion(
                    comparison_id=c.id,
                    round=c.round,
                    winner=ref(index[c.winner_id]),
                    loser=ref(index[loser]),
                    shown_first=c.essay_a,
                    confidence=c.confidence,
                    justification=c.justification,
                )
            )
    order = sorted(anchors, key=lambda s: -(s.theta or 0.0))
    rank = {s.id: r for r, s in enumerate(order, start=1)}
    wins = dict.fromkeys(graded, 0)
    played = dict.fromkeys(graded, 0)
    for c in decided:
        for essay in (c.essay_a, c.essay_b):
            if essay in played:
                played[essay] += 1
        if c.winner_id in wins:
            wins[c.winner_id] += 1
    standings = [
        AnchorStanding(
            id=s.id,
            grade=grade_of[s.id],
            theta=s.theta,
            rank_among_anchors=rank[s.id],
            comparisons=played[s.id],
            wins=wins[s.id],
            win_rate=round(wins[s.id] / played[s.id], 4) if played[s.id] else None,
        )
        for s in sorted(anchors, key=lambda s: (-scale.index(grade_of[s.id]), s.id))
    ]
    return AnchorAlignment(
        n_anchors=result.n_anchors,
        kendall_tau=float(result.kendall_tau) if np.isfinite(result.kendall_tau) else None,
        inversions=[(ref(lo), ref(hi)) for lo, hi in result.inversions],
        direct_inversions=direct,
        zero_win_anchors=[ref(i) for i in result.zero_win_anchors],
        anchors=standings,
    )


def _costs(batch: Batch) -> Costs:
    totals = batch.comparisons.aggregate(
        input_tokens=Sum("input_tokens", default=0),
        output_tokens=Sum("output_tokens", default=0),
        cache_read_tokens=Sum("cache_read_tokens", default=0),
        cache_write_tokens=Sum("cache_write_tokens", default=0),
    )
    by_judge = (
        batch.comparisons.exclude(status=ComparisonStatus.CANCELLED)
        .values("judge", "provider", "model")
        .annotate(
            n=Count("pk"),
            input_tokens=Sum("input_tokens", default=0),
            output_tokens=Sum("output_tokens", default=0),
            cost=Sum("cost_usd", default=0),
        )
        .order_by("judge", "provider", "model")
    )
    return Costs(
        total_usd=float(batch.cost_usd),
        prices_as_of=manifest().prices_as_of.isoformat(),
        by_judge=[
            JudgeCost(
                judge=_judge_label(row["judge"], row["provider"], row["model"]) or "not sent",
                comparisons=row["n"],
                input_tokens=row["input_tokens"],
                output_tokens=row["output_tokens"],
                cost_usd=float(row["cost"]),
            )
            for row in by_judge
        ],
        **totals,
    )


# --- The CSV export -------------------------------------------------------------------------


def batch_results_csv(*, batch: Batch) -> str:
    """One row per essay, best first, in `selectors.EXPORT_COLUMNS` (the columns `cj_demo` writes)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=selectors.EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(selectors.batch_export_rows(batch=batch))
    return buffer.getvalue()


def batch_results_json(*, batch: Batch) -> dict[str, Any]:
    """The document as JSON-ready data (what the exports send)."""
    return batch_results_document(batch=batch).model_dump(mode="json")
