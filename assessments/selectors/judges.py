"""Reads of judges: the choices the manifest offers, the judges a batch asked for, cost estimates.

Every figure is the manifest's (prices, defaults) or counted in the database; nothing here writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from assessments.engine.schedule import budget_for
from assessments.models import Batch, JudgeMode
from llmgateway.manifest import cost_usd, default_model, manifest
from llmgateway.prompts import ANSWER_INSTRUCTIONS, DEFAULT_SYSTEM_PROMPT, estimate_tokens
from llmgateway.providers import provider_configured
from llmgateway.schemas import Usage
from llmgateway.vocabulary import MOCK_PROVIDER

# Tokens a judge writes for one verdict (winner, up to three sentences, confidence), and the
# delimiters and labels around the two essays: estimates for the cost preview, not billing.
ESTIMATED_OUTPUT_TOKENS = 150
PROMPT_OVERHEAD_TOKENS = 60


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
        if not provider_configured(entry.provider):
            label += " [not configured on this server]"
        choices.append((f"{entry.provider}/{entry.id}", label))
    return choices


def default_judge() -> str:
    provider = settings.LLM_DEFAULT_PROVIDER
    return f"{provider}/{default_model(provider).id}"


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
    """True when a mock judge was asked for or gave any verdict: its results are not an LLM's.
    A batch judged by people only asks no judge: only a verdict would say so."""
    asked = batch.judge_mode != JudgeMode.HUMAN and any(j.is_mock for j in batch_judges(batch=batch))
    return asked or batch.comparisons.filter(provider=MOCK_PROVIDER).exists()


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
    return budget_for(
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
