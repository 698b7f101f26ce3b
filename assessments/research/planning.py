"""What a run will cost before it runs: comparisons, rounds, tokens and dollars.

Comparisons and rounds use the batch workflow's own rules (`engine.schedule.budget_for`,
`engine.schedule.round_size`); tokens are the gateway's estimate (`prompts.estimate_tokens`, about four
characters a token) of the very prompt it would build; prices are the model manifest's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from django.conf import settings

from assessments.engine.schedule import budget_for, round_size
from assessments.research.artefact import Estimate, TokenEstimate
from assessments.research.inventory import Inventory
from cjproject.errors import InvalidInput
from llmgateway.manifest import cost_usd, default_model, manifest, model_get
from llmgateway.prompts import build_prompt, estimate_tokens
from llmgateway.schemas import ANSWER_JSON_SCHEMA, LLMConfigOverrides, ManifestModel, PromptParts, Usage
from llmgateway.services import batching_mode_resolve, provider_resolve
from llmgateway.vocabulary import MOCK_PROVIDER, PROVIDER_BATCH_API

# An answer is {winner, justification of at most three sentences, confidence} plus the tool or
# JSON wrapper: about 150 output tokens. Reasoning tokens (reasoning models) come on top.
OUTPUT_TOKENS_PER_COMPARISON = 150
# Essay delimiters with their nonces, and the tool/schema definition sent with every request.
ANSWER_OVERHEAD_TOKENS = estimate_tokens(json.dumps(ANSWER_JSON_SCHEMA)) + 40


@dataclass(frozen=True)
class JudgeChoice:
    provider: str
    model: ManifestModel
    overrides: LLMConfigOverrides
    batching_mode: str

    @property
    def is_language_model(self) -> bool:
        return self.provider != MOCK_PROVIDER


def judge_choose(
    *,
    provider: str,
    model: str | None,
    temperature: float | None,
    reasoning_effort: str | None,
    system_prompt: str | None,
    rubric: str | None,
    batching_mode: str | None,
    require_credentials: bool,
) -> tuple[JudgeChoice, list[str]]:
    """The judge of the run, checked against the manifest; warnings for a plan without API keys.

    A missing API key is an error when the run will call the model (`require_credentials`), and a
    warning when it only plans.
    """
    overrides = LLMConfigOverrides(
        provider_override=provider,
        model_override=model,
        temperature_override=temperature,
        reasoning_effort=reasoning_effort,
        system_prompt_override=system_prompt,
        rubric_override=rubric,
    )
    warnings: list[str] = []
    try:
        provider_resolve(overrides=overrides)
    except InvalidInput as exc:
        key = "llm_config_overrides.provider_override"
        not_configured = [m for m in exc.fields.get(key, []) if "not configured" in m]
        errors = dict(exc.fields)
        if not require_credentials and not_configured:
            # Planning needs no API key: say what execute will need, and report the rest.
            errors[key] = [m for m in errors[key] if m not in not_configured]
            errors = {k: v for k, v in errors.items() if v}
            warnings.append(f"{not_configured[0]} before execute")
        if errors:
            raise InvalidInput("invalid judge", fields=_option_names(errors)) from None
    entry = model_get(provider=provider, model=model or default_model(provider).id, field="--model")
    if entry.deprecated:
        warnings.append(f"{entry.id} is deprecated (retirement {entry.deprecation_date or 'announced'})")
    return JudgeChoice(
        provider=provider, model=entry, overrides=overrides, batching_mode=batching_mode_resolve(batching_mode)
    ), warnings


def _option_names(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    names = {
        "llm_config_overrides.provider_override": "--provider",
        "llm_config_overrides.model_override": "--model",
        "llm_config_overrides.temperature_override": "--temperature",
        "llm_config_overrides.reasoning_effort": "--reasoning-effort",
    }
    return {names.get(key, key): value for key, value in fields.items()}


def plan_estimate(
    *,
    inventory: Inventory,
    judge: JudgeChoice,
    anchors_as_students: bool,
    comparisons_per_essay: int | None,
    max_comparisons: int | None,
) -> Estimate:
    """Expected comparisons, rounds, tokens and cost of the run.

    1. The budget: `max_comparisons` when given, else n·k/2 (k: `comparisons_per_essay` or
       `CJ_COMPARISONS_PER_ESSAY`), never above `CJ_MAX_COMPARISONS_CEILING`.
    2. Rounds as the workflow plans them when the whole budget is spent (a batch may stop
       earlier once it reaches its reliability target).
    3. Tokens per comparison: system prompt + static block (task and instructions) + answer
       instructions and schema + two essays; every essay is shown about 2·C/n times.
    4. Cost at the manifest's list prices; the batch-API discount in `provider_batch_api` mode;
       with prompt caching, the static prefix read from cache (written once per round).
    """
    items = inventory.anchors if anchors_as_students else [*inventory.anchors, *inventory.essays]
    n = len(items)
    k = comparisons_per_essay or settings.CJ_COMPARISONS_PER_ESSAY
    budget = budget_for(
        n_essays=n, comparisons_per_essay=k, override=max_comparisons, ceiling=settings.CJ_MAX_COMPARISONS_CEILING
    )
    comparisons = budget.max_pairs
    rounds = _round_sizes(n=n, budget=comparisons)
    notes: list[str] = []
    if comparisons < n - 1:
        notes.append(f"{comparisons} comparisons cannot connect {n} essays: some will stay unranked against the others")
    if comparisons > n * (n - 1):
        notes.append(f"the budget exceeds the {n * (n - 1)} ordered pairs: the batch will end with pairs_exhausted")
    if budget.max_pairs == settings.CJ_MAX_COMPARISONS_CEILING:
        notes.append(f"the budget is capped by CJ_MAX_COMPARISONS_CEILING ({settings.CJ_MAX_COMPARISONS_CEILING})")

    prompt = build_prompt(
        PromptParts(student_prompt=inventory.prompt.text, instructions=inventory.instructions.text, essay_a="A", essay_b="B"),
        judge.overrides,
    )
    system_tokens = estimate_tokens(prompt.system)
    static_tokens = sum(estimate_tokens(b.text) for b in prompt.blocks if b.kind == "static")
    answer_tokens = sum(estimate_tokens(b.text) for b in prompt.blocks if b.kind == "answer") + ANSWER_OVERHEAD_TOKENS
    mean_essay = sum(doc.tokens for doc in items) / n if n else 0.0
    fixed = system_tokens + static_tokens + answer_tokens
    total_input = math.ceil(comparisons * (fixed + 2 * mean_essay))
    total_output = comparisons * OUTPUT_TOKENS_PER_COMPARISON
    entry = judge.model
    batch_discount = judge.batching_mode == PROVIDER_BATCH_API and entry.capabilities.batch_api
    cost = cost_usd(entry, Usage(input_tokens=total_input, output_tokens=total_output), batch=batch_discount)
    caching = entry.capabilities.prompt_caching and system_tokens + static_tokens >= entry.capabilities.min_cacheable_tokens
    cached_cost = None
    if caching and comparisons:
        prefix = system_tokens + static_tokens
        writes = min(len(rounds), comparisons)
        reads = comparisons - writes
        usage = Usage(
            input_tokens=total_input - prefix * comparisons,
            output_tokens=total_output,
            cache_write_tokens=prefix * writes,
            cache_read_tokens=prefix * reads,
        )
        cached_cost = float(cost_usd(entry, usage, batch=batch_discount))
    elif entry.capabilities.prompt_caching:
        notes.append(
            f"no prompt caching: the static prefix (~{system_tokens + static_tokens} tokens) is below {entry.id}'s "
            f"minimum of {entry.capabilities.min_cacheable_tokens}"
        )
    if entry.capabilities.reasoning_effort:
        notes.append("reasoning tokens are billed as output and are not included in this estimate")
    if not judge.is_language_model:
        notes.append("the judge is the offline mock (surface text features): NOT a language model; it costs nothing")
    return Estimate(
        n_anchors=len(inventory.anchors),
        n_students=0 if anchors_as_students else len(inventory.essays),
        n_items=n,
        expected_comparisons=comparisons,
        budget_source=budget.source,
        comparisons_per_essay=round(2 * comparisons / n, 2) if n else 0.0,
        round_sizes=rounds,
        max_rounds=settings.CJ_MAX_ROUNDS,
        reliability_target=settings.CJ_RELIABILITY_TARGET,
        tokens=TokenEstimate(
            system_prompt=system_tokens,
            static_block=static_tokens,
            answer_and_schema=answer_tokens,
            mean_essay=round(mean_essay, 1),
            input_per_comparison=round(fixed + 2 * mean_essay, 1),
            output_per_comparison=OUTPUT_TOKENS_PER_COMPARISON,
            total_input=total_input,
            total_output=total_output,
        ),
        batch_discount_applied=batch_discount,
        prompt_caching=caching,
        cost_usd=float(cost),
        cost_usd_with_caching=cached_cost,
        prices_as_of=manifest().prices_as_of.isoformat(),
        notes=notes,
    )


def _round_sizes(*, n: int, budget: int) -> list[int]:
    """Round sizes as `services.rounds.round_open` plans them when the whole budget is spent."""
    sizes: list[int] = []
    used = 0
    for round_no in range(1, settings.CJ_MAX_ROUNDS + 1):
        size = round_size(round_no=round_no, n_essays=n, budget=budget, used=used, max_rounds=settings.CJ_MAX_ROUNDS)
        if size == 0 or n < 2:
            break
        if round_no == 1:
            # Round 1 is a design of k comparisons per essay, about n·k/2 pairs.
            k = max(1, min(n - 1, round(2 * size / n)))
            size = min(size, n * k // 2)
        sizes.append(size)
        used += size
    return sizes
