"""Contracts of the CJ domain (pydantic 2, extra fields forbidden, errors that name the field).

- `CJAssessmentRequestData`: what a batch was asked for; stored as `original_request` in the
  batch's `processing_metadata` and rehydrated on every continuation, retry and restart.
- `ComparisonBudget`, `CJAnchorMetadata`, `CJLLMComparisonMetadata`: typed metadata blobs.
- `LLMConfigOverrides` is the gateway's contract, re-exported here.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from llmgateway.schemas import Contract, LLMConfigOverrides
from llmgateway.vocabulary import PER_REQUEST, BatchingMode

__all__ = [
    "AnchorInput",
    "BatchOptions",
    "CJAnchorMetadata",
    "CJAssessmentRequestData",
    "CJLLMComparisonMetadata",
    "ComparisonBudget",
    "EssayInput",
    "HumanJudgementInput",
    "LLMConfigOverrides",
]

_ID_PATTERN = re.compile(r"^[^\x00-\x1f\x7f]+$")
ESSAY_TEXT_MAX_CHARS = 100_000
# The task and the rubric travel with every comparison: a page or two, not a book.
PROMPT_MAX_CHARS = 20_000
ANCHOR_ID_PREFIX = "anchor:"


class EssayInput(Contract):
    id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=ESSAY_TEXT_MAX_CHARS)

    @field_validator("id")
    @classmethod
    def _printable_id(cls, value: str) -> str:
        if value != value.strip() or not _ID_PATTERN.match(value):
            raise ValueError("must be printable text without leading or trailing spaces")
        return value

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class AnchorInput(Contract):
    label: str = Field(min_length=1, max_length=100)
    grade: str = Field(min_length=1, max_length=20)
    text: str = Field(min_length=1, max_length=ESSAY_TEXT_MAX_CHARS)


class BatchOptions(Contract):
    comparisons_per_essay: int | None = Field(default=None, ge=1, le=200)
    max_rounds: int | None = Field(default=None, ge=1, le=100)
    # Stop early once the reliability reaches this and every student has `min_comparisons_per_essay`.
    reliability_target: float | None = Field(default=None, gt=0.0, lt=1.0)
    min_comparisons_per_essay: int | None = Field(default=None, ge=1, le=200)
    # Stop once the students' mean P(projected grade), the share of grades expected to be right,
    # reaches this (grades_settled); default CJ_GRADE_CERTAINTY_TARGET (0: off).
    grade_confidence: float | None = Field(default=None, gt=0.0, le=1.0)
    cost_limit_usd: float | None = Field(default=None, gt=0.0)
    # Judge each chosen pair in both orders (A/B and B/A) in the same round: position bias
    # cancels pair by pair, at twice the comparisons per pair.
    judge_both_orders: bool = False
    # A judge panel: comparisons are spread over these judges in turn (each a provider/model and
    # optional parameters, applied over llm_config_overrides). Empty: one judge.
    judges: list[LLMConfigOverrides] = Field(default_factory=list, max_length=8)
    seed: int = Field(default=0, ge=0)
    # None: the gateway's default (LLM_BATCHING_MODE).
    batching_mode: BatchingMode | None = None
    # Who judges: "llm" (default), "human" (invited graders only, no LLM call), "hybrid" (LLM
    # rounds plus human judgements on top) or "moderation" (people re-judge a sample of the
    # LLM's pairs, blind to its verdict). `human_share`: the share of the comparison budget asked
    # of people (hybrid, moderation; default 0.3 and 0.1). `human_deadline`: human judging ends
    # then (ISO 8601 with a time zone), and a batch waiting only for people finishes.
    judge_mode: Literal["llm", "human", "hybrid", "moderation"] = "llm"
    human_share: float | None = Field(default=None, gt=0.0, le=1.0)
    human_deadline: datetime | None = None

    @field_validator("human_deadline")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone, e.g. 2026-12-01T17:00:00+01:00")
        return value


class CJAssessmentRequestData(Contract):
    essays: list[EssayInput] = Field(min_length=1)
    assignment_id: int | None = Field(default=None, ge=1)
    # Inline anchors (instead of an assignment) need a grade scale. Declared in this order so
    # that each validator sees the fields before it and names its own field in errors.
    grade_scale: str | None = None
    custom_grades: list[str] | None = None
    anchors: list[AnchorInput] = Field(default_factory=list)
    student_prompt: str = Field(default="", max_length=PROMPT_MAX_CHARS)
    instructions: str = Field(default="", max_length=PROMPT_MAX_CHARS)
    language: str = Field(default="en", min_length=2, max_length=16)
    course_code: str = Field(default="", max_length=64)
    user_id: int | None = None
    max_comparisons_override: int | None = Field(default=None, gt=0)
    llm_config_overrides: LLMConfigOverrides | None = None
    options: BatchOptions = BatchOptions()

    @field_validator("essays")
    @classmethod
    def _unique_essay_ids(cls, essays: list[EssayInput]) -> list[EssayInput]:
        duplicates = sorted(essay_id for essay_id, n in Counter(e.id for e in essays).items() if n > 1)
        if duplicates:
            raise ValueError(f"essay ids must be unique within a batch; repeated: {', '.join(duplicates)}")
        reserved = sorted(e.id for e in essays if e.id.startswith(ANCHOR_ID_PREFIX))
        if reserved:
            raise ValueError(f"essay ids may not start with {ANCHOR_ID_PREFIX!r} (kept for anchors): {', '.join(reserved)}")
        return essays

    @field_validator("grade_scale")
    @classmethod
    def _scale_only_without_assignment(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("assignment_id") is not None:
            raise ValueError("give either assignment_id or an inline grade_scale with anchors, not both")
        return value

    @field_validator("anchors")
    @classmethod
    def _anchors_need_a_scale(cls, anchors: list[AnchorInput], info: ValidationInfo) -> list[AnchorInput]:
        if not anchors:
            return anchors
        if info.data.get("assignment_id") is not None:
            raise ValueError("give either assignment_id or inline anchors, not both")
        if not info.data.get("grade_scale"):
            raise ValueError("inline anchors need a grade_scale")
        labels = [a.label for a in anchors]
        if len(set(labels)) != len(labels):
            raise ValueError("anchor labels must be unique")
        return anchors


class ComparisonBudget(Contract):
    max_pairs_requested: int = Field(gt=0)
    source: Literal["default", "runner_override"] = "default"
    # What the request asked for when CJ_MAX_COMPARISONS_CEILING lowered it (None: not capped).
    capped_from: int | None = None


class CJAnchorMetadata(Contract):
    anchor_id: int | None = None  # the AnchorEssay row it was copied from, when there is one
    label: str
    grade: str
    grade_index: int = Field(ge=0)
    scale: str
    text_sha256: str = Field(min_length=64, max_length=64)


# A person's comment on a judgement: a sentence or two, not an essay.
JUDGEMENT_COMMENT_MAX_CHARS = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class HumanJudgementInput(Contract):
    """What a person sends for the pair they were given (`POST /api/v1/batches/{id}/judgements`,
    the judging page): the lease, the essay judged better, an optional comment and the time taken."""

    lease_id: int = Field(ge=1, le=2**63 - 1, strict=True, description="The `lease_id` of the pair from `next-pair`.")
    winner: Literal["a", "b", "skip"] = Field(
        description='"a": Essay A is better; "b": Essay B is better; "skip": pass on this pair (never offered to you again).'
    )
    comment: str = Field(default="", max_length=JUDGEMENT_COMMENT_MAX_CHARS)
    duration_ms: int | None = Field(
        default=None,
        ge=0,
        le=86_400_000,
        strict=True,
        description="Time spent on the pair, measured by the client (capped by the server).",
    )

    @field_validator("winner", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("comment")
    @classmethod
    def _printable(cls, value: str) -> str:
        if _CONTROL.search(value):
            raise ValueError("must not contain control characters (NUL and the like); line breaks and tabs are fine")
        return value.strip()


class CJLLMComparisonMetadata(Contract):
    """What every comparison request carries and every result echoes (opaque ids only)."""

    essay_a_id: int
    essay_b_id: int
    batch_id: int
    comparison_id: int
    comparison_iteration: int = Field(ge=1)
    cj_llm_batching_mode: BatchingMode = PER_REQUEST
    prompt_sha256: str | None = None
    judge: str = ""  # the panel judge's label ("" with a single judge)
