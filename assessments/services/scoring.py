"""Scoring a batch: rows to engine arrays, the population model and grades, rows back.

`batch_score` is the one place that translates between the database and the engine for a
batch's statistics; the chord body (`rounds.round_complete`) and rescoring call it. What graders
read (θ, SE, reliability, P(grade)) comes from `engine.population.fit_population`; the classic
fit (`engine.scoring.fit_bt`) adds sirt's SSR, for comparison with published studies.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, models

from assessments.engine.grading import GradeProjection, anchor_alignment, grade_calibration, grade_projection
from assessments.engine.population import PopulationFit, fit_population
from assessments.engine.scoring import BTFit, fit_bt
from assessments.metadata import metadata_merge
from assessments.models import Batch, ComparisonStatus, Essay, EssayRole

logger = logging.getLogger(__name__)

# Below this many judged comparisons the order effect is not estimated (too little data to
# separate it from the essays' θ); θ is then fitted without it.
MIN_COMPARISONS_FOR_ORDER_EFFECT = 20
# Why a batch has no reliability figure yet (the population model needs three compared students).
RELIABILITY_NOT_YET = "not estimable yet: fewer than three students have been compared"


@dataclass(frozen=True)
class BatchScore:
    essays: list[Essay]  # index order of every array below
    population: PopulationFit  # θ, SE, reliability and grades: what graders read
    fit: BTFit  # the classic fit: sirt's SSR, separation, log-likelihood, components
    is_student: np.ndarray
    projection: GradeProjection | None
    projection_unavailable: str | None


def batch_score(*, batch: Batch) -> BatchScore | None:
    """Fit every succeeded comparison of the batch, project grades, store both.

    1. Essays in id order become indices; succeeded comparisons (people's and the LLM's, less
       the judges in `excluded_judges`) become (first, second, outcome).
    2. The population model (students from a normal population, anchors inside their grade
       bands, the order effect when there is enough data) gives θ, SE, the reliability and,
       with an assignment, every student's P(grade). The classic fit gives sirt's SSR.
    3. Anchor alignment (Kendall τ, inversions, winless anchors) is computed either way.
    4. Essays are updated in one bulk UPDATE; the batch's `scoring`, `grading` and
       `anchor_alignment` metadata are merged.
    Returns None when nothing has been judged yet.
    """
    essays = list(batch.essays.order_by("id"))
    index_of = {essay.pk: i for i, essay in enumerate(essays)}
    # Every judgement, people's and the LLM's, except those of judges a grader excluded.
    excluded = set(batch.processing_metadata.get("excluded_judges", []))
    rows = [
        row
        for row in batch.comparisons.filter(status=ComparisonStatus.SUCCEEDED).values_list(
            "essay_a_id", "essay_b_id", "winner", "judge"
        )
        if (row[3] or "default") not in excluded
    ]
    if not rows:
        return None
    first = np.array([index_of[row[0]] for row in rows], dtype=np.int64)
    second = np.array([index_of[row[1]] for row in rows], dtype=np.int64)
    outcome = np.array([1.0 if row[2] == "a" else 0.0 for row in rows])
    judges = np.array([row[3] or "default" for row in rows])
    order_effect = len(rows) >= MIN_COMPARISONS_FOR_ORDER_EFFECT
    fit = fit_bt(first, second, outcome, n_items=len(essays), order_effect=order_effect, allow_disconnected=True)
    is_student = np.array([essay.role == EssayRole.STUDENT for essay in essays])
    scale = batch.assignment.scale if batch.assignment is not None else None
    anchor_index = np.flatnonzero(~is_student)
    anchor_grade = np.full(len(essays), -1, dtype=np.int64)
    if scale is not None:
        anchor_grade[anchor_index] = [scale.index(essays[i].anchor_grade or "") for i in anchor_index]
    population = fit_population(
        first,
        second,
        outcome,
        n_items=len(essays),
        in_population=is_student,
        anchor_grade=anchor_grade if scale is not None else None,
        n_grades=len(scale.grades) if scale is not None else 0,
        order_effect=order_effect,
        seed=len(rows),
        draws=settings.CJ_POSTERIOR_DRAWS or None,
    )

    projection: GradeProjection | None = None
    unavailable: str | None = None
    if scale is None:
        unavailable = "guest batch: no assignment, so no anchors and no grades"
    elif population.grade_probabilities is None or population.cut_draws is None or population.anchored is None:
        reason = population.grading_unavailable
        unavailable = f"{reason.reason}: {reason.detail}" if reason else "no anchors"
    else:
        calibration = grade_calibration(
            grades=scale.grades,
            cut_draws=population.cut_draws,
            population_sd=population.population_sd,
            anchored=population.anchored,
        )
        projection = grade_projection(probabilities=population.grade_probabilities, calibration=calibration)

    _store_essays(
        essays=essays, population=population, is_student=is_student, projection=projection, grades=scale.grades if scale else ()
    )
    winners = np.where(outcome == 1.0, first, second)  # ties do not occur: a judge must pick A or B
    losers = np.where(outcome == 1.0, second, first)
    values: dict[str, Any] = {
        "scoring": _scoring_summary(population, fit),
        "grading": _grading_summary(projection, unavailable),
        "judges": _judge_summary(population=population, first=first, second=second, outcome=outcome, judges=judges),
    }
    if scale is not None and anchor_index.size:
        alignment = anchor_alignment(
            theta=population.theta,
            anchor_index=anchor_index,
            anchor_grade=anchor_grade[anchor_index],
            winners=winners,
            losers=losers,
        )
        label = [essay.external_id for essay in essays]
        values["anchor_alignment"] = {
            "n_anchors": alignment.n_anchors,
            "kendall_tau": _finite(alignment.kendall_tau),
            "inversions": [[label[lo], label[hi]] for lo, hi in alignment.inversions],
            "judged_inversions": [[label[w], label[lo]] for w, lo in alignment.judged_inversions],
            "zero_win_anchors": [label[i] for i in alignment.zero_win_anchors],
        }
    metadata_merge(instance=batch, values=values)
    return BatchScore(
        essays=essays,
        population=population,
        fit=fit,
        is_student=is_student,
        projection=projection,
        projection_unavailable=unavailable,
    )


def _store_essays(
    *,
    essays: list[Essay],
    population: PopulationFit,
    is_student: np.ndarray,
    projection: GradeProjection | None,
    grades: tuple[str, ...],
) -> None:
    """θ, SE, fit and grades on every essay. An essay never compared is not ranked: no θ, SE,
    rank or grade (its row says so), never a NaN."""
    compared = population.comparisons > 0
    order = np.argsort(-np.where(compared, population.theta, -np.inf), kind="stable")
    ranks = np.empty(len(essays), dtype=np.int64)
    ranks[order] = np.arange(1, len(essays) + 1)
    for i, essay in enumerate(essays):
        essay.theta = _finite(population.theta[i]) if compared[i] else None
        essay.se = _finite(population.se[i]) if compared[i] else None
        essay.infit = _finite(population.infit[i])
        essay.outfit = _finite(population.outfit[i])
        essay.comparison_count = int(population.comparisons[i])
        essay.wins = float(population.wins[i])
        essay.rank = int(ranks[i]) if compared[i] else None
        if projection is not None and is_student[i] and projection.primary[i] >= 0:
            essay.projected_grade = grades[int(projection.primary[i])]
            essay.grade_probabilities = {g: round(float(p), 6) for g, p in zip(grades, projection.probabilities[i], strict=True)}
            essay.grade_probability = float(projection.primary_probability[i])
            essay.expected_grade = float(projection.expected[i])
            essay.grade_confidence = projection.confidence[i]
        else:
            essay.projected_grade, essay.grade_probabilities = "", {}
            essay.grade_probability = essay.expected_grade = None
            essay.grade_confidence = ""
    _essays_update(essays, STORED_FIELDS)


# What a scoring writes on each essay.
STORED_FIELDS = (
    "theta", "se", "infit", "outfit", "comparison_count", "wins", "rank", "projected_grade",
    "grade_probabilities", "grade_probability", "expected_grade", "grade_confidence",
)  # fmt: skip
_SQL_TYPES = {
    "theta": "float8", "se": "float8", "infit": "float8", "outfit": "float8", "comparison_count": "int8", "wins": "float8",
    "rank": "int8", "projected_grade": "text", "grade_probabilities": "jsonb", "grade_probability": "float8",
    "expected_grade": "float8", "grade_confidence": "text",
}  # fmt: skip


def _essays_update(essays: list[Essay], fields: tuple[str, ...]) -> None:
    """Write `fields` of every essay. On PostgreSQL one UPDATE ... FROM unnest(...) statement
    (Django's bulk_update builds a CASE per field and row: 80% of a 300-essay round's scoring);
    elsewhere bulk_update."""
    if connection.vendor != "postgresql":
        Essay.objects.bulk_update(essays, [*fields, "updated_at"], batch_size=500)
        return
    meta = Essay._meta
    qn = connection.ops.quote_name
    columns = [_column(name) for name in fields]
    arrays: list[list[Any]] = [[essay.pk for essay in essays]]
    for name in fields:
        values = [getattr(essay, name) for essay in essays]
        if _SQL_TYPES[name] == "jsonb":
            values = [json.dumps(value) for value in values]
        arrays.append(values)
    unnest = ", ".join(["%s::int8[]"] + [f"%s::{'text' if _SQL_TYPES[n] == 'jsonb' else _SQL_TYPES[n]}[]" for n in fields])
    assignments = ", ".join(
        f"{qn(column)} = v.{qn(column)}{'::jsonb' if _SQL_TYPES[name] == 'jsonb' else ''}"
        for name, column in zip(fields, columns, strict=True)
    )
    names = ", ".join([qn("id"), *(qn(column) for column in columns)])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(meta.db_table)} AS e SET {assignments}, {qn('updated_at')} = now() "  # noqa: S608 - quoted identifiers
            f"FROM unnest({unnest}) AS v({names}) WHERE e.{qn(_column('id'))} = v.{qn('id')}",
            arrays,
        )


def _column(name: str) -> str:
    """The database column of one of the essay's fields."""
    field = Essay._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column
    return field.column


def _judge_summary(
    *, population: PopulationFit, first: np.ndarray, second: np.ndarray, outcome: np.ndarray, judges: np.ndarray
) -> list[dict[str, Any]]:
    """Each judge against the consensus scale (the fit of every judge's comparisons).

    `agreement_with_consensus`: share of its verdicts that the consensus predicts (the essay with
    the higher θ, position effect included, won). `infit`: Σ squared residuals / Σ binomial
    variances over its comparisons (1 = as noisy as the model expects; above 1.3, erratic).
    `p_first_wins`: how often the essay it was shown first won (its own position bias).
    """
    gamma = population.order_effect or 0.0
    theta = population.theta
    p_first = 1.0 / (1.0 + np.exp(-(theta[first] - theta[second] + gamma)))
    residual2 = (outcome - p_first) ** 2
    variance = p_first * (1.0 - p_first)
    predicted = (p_first >= 0.5) == (outcome == 1.0)
    summary = []
    for label in sorted(set(judges.tolist())):
        mask = judges == label
        summary.append(
            {
                "judge": label,
                "comparisons": int(mask.sum()),
                "agreement_with_consensus": float(predicted[mask].mean()),
                "infit": _finite(residual2[mask].sum() / variance[mask].sum()) if variance[mask].sum() > 0 else None,
                "p_first_wins": float(outcome[mask].mean()),
            }
        )
    return summary


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _scoring_summary(population: PopulationFit, fit: BTFit) -> dict[str, Any]:
    """`reliability` is what graders read and stopping uses (null with `reliability_note` while
    it cannot be estimated); `ssr_sirt` is sirt::btm's SSR of the classic fit, kept for
    comparison with published studies (it flatters adaptive designs)."""
    reliability = _finite(population.reliability)
    return {
        "reliability": reliability,
        "reliability_note": None if reliability is not None else RELIABILITY_NOT_YET,
        "population_sd": _finite(population.population_sd),
        "ssr_sirt": _finite(fit.ssr_sirt),
        "separation": _finite(fit.separation),
        "p_first_wins": _finite(fit.p_first_wins),
        "order_effect": _finite(population.order_effect),
        "order_effect_se": _finite(population.order_effect_se),
        "n_comparisons": population.n_comparisons,
        "n_components": fit.n_components,
        "converged": fit.converged,
        "draws": population.draws,
        "log_likelihood": _finite(fit.log_likelihood),
    }


def _grading_summary(projection: GradeProjection | None, unavailable: str | None) -> dict[str, Any]:
    if projection is None:
        return {"available": False, "reason": unavailable}
    calibration = projection.calibration
    return {
        "available": True,
        "grades": list(calibration.grades),
        "centres": [_finite(c) for c in calibration.centres],
        "cuts": [_finite(c) for c in calibration.cuts],
        "cut_se": [_finite(c) for c in calibration.cut_se],
        "unanchored_grades": list(calibration.unanchored_grades),
    }
