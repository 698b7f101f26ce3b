"""The gateway's contracts: overrides, prompt parts, the judge's answer and the delivered result.

`LLMConfigOverrides` is defined here (the gateway applies it) and re-exported by
`assessments.schemas`, so there is one definition of each contract.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Provider = Literal["anthropic", "openai", "openai_compatible", "mock"]
BatchingMode = Literal["per_request", "serial_bundle", "provider_batch_api"]
ErrorCategory = Literal[
    "invalid_response",
    "rate_limited",
    "timeout",
    "connection",
    "server_error",
    "authentication",
    "bad_request",
    "not_found",
    "content_filtered",
    "context_too_long",
    "configuration",
    "internal",
]
JUSTIFICATION_MAX_CHARS = 2000


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LLMConfigOverrides(Contract):
    provider_override: Provider | None = None
    model_override: str | None = Field(default=None, min_length=1, max_length=128)
    # 0.0 is a real temperature and stays 0.0: code tests `is not None`, never truthiness.
    temperature_override: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens_override: int | None = Field(default=None, gt=0, le=64000)
    system_prompt_override: str | None = Field(default=None, min_length=1, max_length=20000)
    rubric_override: str | None = Field(default=None, min_length=1, max_length=50000)
    reasoning_effort: Literal["low", "medium", "high"] | None = None


class PromptParts(Contract):
    """What the judge reads. The essays are texts only: no id, name or file name."""

    student_prompt: str = ""
    instructions: str = ""
    essay_a: str = Field(min_length=1)
    essay_b: str = Field(min_length=1)


class ComparisonAnswer(Contract):
    """The judge's structured answer, validated before anything is recorded."""

    winner: Literal["A", "B"]
    justification: str
    confidence: int = Field(ge=1, le=5)  # kept as given: never rescaled

    @field_validator("justification")
    @classmethod
    def _bounded(cls, value: str) -> str:
        value = value.strip()
        if len(value) > JUSTIFICATION_MAX_CHARS:
            value = value[: JUSTIFICATION_MAX_CHARS - 1] + "…"
        return value


class Usage(Contract):
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_read_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)


class ComparisonResult(Contract):
    """Delivered to the caller's callback: the answer or the failure, plus the echoed metadata."""

    request_id: int
    status: Literal["succeeded", "failed"]
    provider: Provider
    model: str
    answer: ComparisonAnswer | None = None
    usage: Usage = Usage()
    cost_usd: float = 0.0
    prompt_sha256: str = ""
    attempts: int = 1
    error_category: ErrorCategory | None = None
    error_detail: str = ""
    raw_response: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
