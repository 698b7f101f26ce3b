"""Reads behind the graders' admin pages: a batch's judge, cost estimate, results, usage, an essay.

The admin (`assessments.admin`) shapes requests and responses; the figures it shows come from
here, counted in the database. Nothing here writes a row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet, Sum

from assessments import selectors, workflow
from assessments.models import Batch, Comparison, ComparisonStatus, EndReason, Essay, EssayRole
from assessments.plots import PlotRow
from llmgateway.manifest import cost_usd, default_model, manifest
from llmgateway.prompts import ANSWER_INSTRUCTIONS, DEFAULT_SYSTEM_PROMPT, estimate_tokens
from llmgateway.schemas import Usage

MOCK_PROVIDER = "mock"
MOCK_NOTE = (
    "Judged by the offline mock judge, which is NOT a language model: it scores surface features of "
    "the text (length, vocabulary, sentence and paragraph structure). This ranking shows the flow "
    "working, not a real assessment."
)
# An essay whose infit is above this fits the scale poorly: judges disagreed about it.
MISFIT_INFIT = 1.3
# Tokens a judge writes for one verdict (winner, up to three sentences, confidence), and the
# delimiters and labels around the two essays: estimates for the cost preview, not billing.
ESTIMATED_OUTPUT_TOKENS = 150
PROMPT_OVERHEAD_TOKENS = 60

END_REASON_WORDS: dict[str, str] = {
    EndReason.RELIABILITY_REACHED: (
        "The ranking reached its reliability target (SSR), and every essay had its minimum number of comparisons."
    ),
    EndReason.GRADES_SETTLED: "Every student's projected grade reached the required probability.",
    EndReason.BUDGET_EXHAUSTED: "The comparison budget was spent.",
    EndReason.PAIRS_EXHAUSTED: "Every pair of essays had been compared: nothing was left to ask.",
    EndReason.MAX_ROUNDS: "The round limit was reached.",
    EndReason.INSUFFICIENT_ESSAYS: "Too few essays to compare: a batch needs at least two (students and anchors).",
    EndReason.LOW_SUCCESS_RATE: "Too many judgements failed: the judge was not reliable enough to rank this batch.",
    EndReason.COST_LIMIT: "The cost limit was reached.",
    EndReason.CANCELLED: "Cancelled on request: nothing more was sent.",
    EndReason.RECOVERED: "Finished after recovering from an interruption.",
    EndReason.STALLED: "The batch made no progress for too long and was stopped.",
}
STATE_WORDS: dict[str, str] = {
    "created": "Created, not started yet.",
    "running": "Running: the judge is comparing essays.",
    "scoring": "Scoring a finished round.",
    "completed": "Completed.",
    "failed": "Failed.",
    "cancelled": "Cancelled.",
}


# --- Judges ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judge:
    provider: str
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def is_mock(self) -> bool:
        return self.provider == MOCK_PROVIDER


def judge_choices() -> list[tuple[str, str]]:
    """`provider/model` choices from the manifest, current models first, with prices per M tokens."""
    choices = []
    for entry in sorted(manifest().models, key=lambda m: (m.deprecated, m.provider != MOCK_PROVIDER, m.provider, m.id)):
        label = f"{entry.display_name} ({entry.provider}/{entry.id})"
        if entry.provider == MOCK_PROVIDER:
            label += ": offline mock, NOT a language model"
        else:
            label += f": ${entry.prices.input:g} in / ${entry.prices.output:g} out per million tokens"
        if entry.deprecated:
            label += " [deprecated]"
        if not _provider_configured(entry.provider):
            label += " [not configured on this server]"
        choices.append((f"{entry.provider}/{entry.id}", label))
    return choices


def default_judge() -> str:
    provider = settings.LLM_DEFAULT_PROVIDER
    return f"{provider}/{default_model(provider).id}"


def _provider_configured(provider: str) -> bool:
    creds = settings.LLM_CREDENTIALS[provider]
    if provider == MOCK_PROVIDER:
        return True
    return bool(creds["base_url"] if provider == "openai_compatible" else creds["api_key"])


def batch_judges(*, batch: Batch) -> list[Judge]:
    """The judges a batch asked for (its panel, or its one judge), from the stored request."""
    request = batch.processing_metadata.get("original_request", {})
    base = request.get("llm_config_overrides") or {}
    panel = (request.get("options") or {}).get("judges") or [{}]
    judges = []
    for member in panel:
        provider = member.get("provider_override") or base.get("provider_override") or settings.LLM_DEFAULT_PROVIDER
        model = member.get("model_override") or base.get("model_override") or default_model(provider).id
        judges.append(Judge(provider=provider, model=model))
    return judges


def batch_judged_by_mock(*, batch: Batch) -> bool:
    """True when a mock judge was asked for or gave any verdict: its results are not an LLM's."""
    return any(j.is_mock for j in batch_judges(batch=batch)) or batch.comparisons.filter(provider=MOCK_PROVIDER).exists()


# --- Cost estimate -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CostEstimate:
    judge: str
    display_name: str
    comparisons: int
    input_tokens_each: int
    cost_usd: Decimal
    is_mock: bool
    deprecated: bool


def planned_comparisons(*, n_essays: int, comparisons_per_essay: int) -> int:
    """The budget `batch_create` will give a batch of `n_essays` (students and anchors)."""
    return workflow.budget_for(
        n_essays=n_essays,
        comparisons_per_essay=comparisons_per_essay,
        override=None,
        ceiling=settings.CJ_MAX_COMPARISONS_CEILING,
    ).max_pairs


def cost_estimates(*, texts: list[str], student_prompt: str, instructions: str, comparisons: int) -> list[CostEstimate]:
    """The estimated cost of `comparisons` judgements of these essays for every judge, cheapest first.

    Input per comparison: the system prompt, the task and rubric, two essays of average length
    and the answer instructions (about four characters a token); output:
    `ESTIMATED_OUTPUT_TOKENS`. No cache or batch discount is assumed, so real costs are usually lower.
    """
    if not texts:
        return []
    mean_essay = sum(estimate_tokens(t) for t in texts) / len(texts)
    input_each = math.ceil(
        estimate_tokens(DEFAULT_SYSTEM_PROMPT)
        + estimate_tokens(student_prompt)
        + estimate_tokens(instructions)
        + 2 * mean_essay
        + estimate_tokens(ANSWER_INSTRUCTIONS)
        + PROMPT_OVERHEAD_TOKENS
    )
    estimates = [
        CostEstimate(
            judge=f"{entry.provider}/{entry.id}",
            display_name=entry.display_name,
            comparisons=comparisons,
            input_tokens_each=input_each,
            cost_usd=cost_usd(
                entry, Usage(input_tokens=comparisons * input_each, output_tokens=comparisons * ESTIMATED_OUTPUT_TOKENS)
            ),
            is_mock=entry.provider == MOCK_PROVIDER,
            deprecated=entry.deprecated,
        )
        for entry in manifest().models
    ]
    return sorted(estimates, key=lambda e: (e.deprecated, e.cost_usd, e.judge))


def batch_cost_estimate(*, batch: Batch) -> CostEstimate | None:
    """The estimated cost of a created batch with its (first) judge and its own budget."""
    assignment = batch.assignment
    judge = batch_judges(batch=batch)[0].label
    budget = int((batch.processing_metadata.get("comparison_budget") or {}).get("max_pairs_requested") or 0)
    estimates = cost_estimates(
        texts=list(batch.essays.values_list("text", flat=True)),
        student_prompt=assignment.student_prompt if assignment else "",
        instructions=assignment.instructions if assignment else "",
        comparisons=budget,
    )
    return next((e for e in estimates if e.judge == judge), None)


# --- A batch's results -------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRow:
    essay_pk: int
    rank: int | None
    external_id: str
    role: str
    theta: float | None
    se: float | None
    grade: str
    grade_is_known: bool
    grade_probability: float | None
    grade_confidence: str
    comparisons: int
    wins: float
    infit: float | None
    outfit: float | None

    @property
    def misfit(self) -> bool:
        return self.infit is not None and self.infit > MISFIT_INFIT


def batch_result_rows(*, batch: Batch) -> list[ResultRow]:
    """Every essay of the batch, best first, as the results table shows it."""
    essays = Essay.objects.filter(batch=batch).order_by(F("rank").asc(nulls_last=True), "external_id")
    return [
        ResultRow(
            essay_pk=e.pk,
            rank=e.rank,
            external_id=e.external_id,
            role=e.role,
            theta=e.theta,
            se=e.se,
            grade=e.anchor_grade if e.role == EssayRole.ANCHOR else e.projected_grade,
            grade_is_known=e.role == EssayRole.ANCHOR,
            grade_probability=e.grade_probability,
            grade_confidence=e.grade_confidence,
            comparisons=e.comparison_count,
            wins=e.wins,
            infit=e.infit,
            outfit=e.outfit,
        )
        for e in essays.only(
            "rank",
            "external_id",
            "role",
            "theta",
            "se",
            "anchor_grade",
            "projected_grade",
            "grade_probability",
            "grade_confidence",
            "comparison_count",
            "wins",
            "infit",
            "outfit",
        )
    ]


def batch_plot_rows(*, batch: Batch) -> list[PlotRow]:
    rows = Essay.objects.filter(batch=batch, theta__isnull=False, se__isnull=False).values_list(
        "external_id", "theta", "se", "anchor_grade"
    )
    return [PlotRow(label=label, theta=theta, se=se, anchor_grade=grade) for label, theta, se, grade in rows]


def batch_summary(*, batch: Batch) -> dict[str, Any]:
    """Progress, the end in words, reliability, position bias, grading and anchor alignment."""
    meta = batch.processing_metadata
    progress = selectors.batch_progress(batch=batch)
    done = progress["succeeded"] + progress["failed"]
    scoring = meta.get("scoring") or {}
    grading = meta.get("grading") or {}
    return {
        "progress": progress,
        "done": done,
        "percent": round(100 * done / progress["planned"]) if progress["planned"] else 0,
        "state_words": STATE_WORDS.get(batch.state, batch.state),
        "end_words": END_REASON_WORDS.get(batch.end_reason, ""),
        "budget": (meta.get("comparison_budget") or {}).get("max_pairs_requested"),
        "scoring": scoring,
        "grading": grading,
        "grade_regions": _grade_regions(grading),
        "alignment": meta.get("anchor_alignment") or {},
        "judges": meta.get("judges") or [],
        "continuations": meta.get("continuations") or [],
    }


def _grade_regions(grading: dict[str, Any]) -> list[str]:
    """Each grade, best first, with the θ range it covers: "B: -0.23 to 1.38", "F: no anchor, not placed"."""
    if not grading.get("available"):
        return []
    grades, centres, cuts = grading["grades"], grading["centres"], grading["cuts"]
    regions = []
    for k, grade in enumerate(grades):
        if centres[k] is None:
            regions.append(f"{grade}: no anchor, not placed")
            continue
        low = next((cuts[i] for i in range(k - 1, -1, -1) if cuts[i] is not None), None)
        high = next((cuts[i] for i in range(k, len(cuts)) if cuts[i] is not None), None)
        if low is None and high is None:
            regions.append(f"{grade}: everywhere")
        elif low is None:
            regions.append(f"{grade}: below {high:.2f}")
        elif high is None:
            regions.append(f"{grade}: above {low:.2f}")
        else:
            regions.append(f"{grade}: {low:.2f} to {high:.2f}")
    return list(reversed(regions))  # best grade first, as in the table


def batch_progress_json(*, batch: Batch) -> dict[str, Any]:
    """What the refreshing progress bar reads."""
    progress = selectors.batch_progress(batch=batch)
    done = progress["succeeded"] + progress["failed"]
    return {
        "state": batch.state,
        "state_words": STATE_WORDS.get(batch.state, batch.state),
        "terminal": batch.is_terminal,
        "end_reason": batch.end_reason,
        "end_words": END_REASON_WORDS.get(batch.end_reason, ""),
        "round": progress["rounds"],
        "done": done,
        "planned": progress["planned"],
        "succeeded": progress["succeeded"],
        "failed": progress["failed"],
        "waiting": progress["waiting"],
        "percent": round(100 * done / progress["planned"]) if progress["planned"] else 0,
        "cost_usd": f"{progress['cost_usd']:.4f}",
    }


# --- An essay ----------------------------------------------------------------------------------


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


# --- Usage -------------------------------------------------------------------------------------

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
    return list(sent.values("provider", "model").annotate(**_USAGE_SUMS).order_by("provider", "model"))


def usage_by_batch(*, batches: QuerySet[Batch]) -> list[dict[str, Any]]:
    """The same sums for each batch and model, newest batch first."""
    sent = Comparison.objects.filter(batch__in=batches).exclude(provider="")
    return list(
        sent.values("batch_id", "batch__assignment__title", "provider", "model")
        .annotate(**_USAGE_SUMS)
        .order_by("-batch_id", "provider", "model")
    )


def usage_total(*, batches: QuerySet[Batch]) -> dict[str, Any]:
    return Comparison.objects.filter(batch__in=batches).exclude(provider="").aggregate(**_USAGE_SUMS)
