"""The gateway's contracts: overrides, prompt parts, the judge's answer, the delivered result, the
model manifest, the mock's behaviour and the external API's request body.

`LLMConfigOverrides` is defined here (the gateway applies it) and re-exported by
`assessments.schemas`, so there is one definition of each contract.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from llmgateway.vocabulary import PROVIDERS, ProviderName

ErrorCategory = Literal[
    "invalid_response",
    "rate_limited",
    "overloaded",
    "timeout",
    "connection",
    "server_error",
    "authentication",
    "bad_request",
    "not_found",
    "content_filtered",
    "context_too_long",
    "expired",
    "configuration",
    "cancelled",  # withdrawn by its caller before any call (no provider involved)
    "internal",
]
JUSTIFICATION_MAX_CHARS = 2000


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class LLMConfigOverrides(Contract):
    provider_override: ProviderName | None = None
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


# The answer as providers are told to give it (Anthropic tool input, OpenAI strict JSON schema).
ANSWER_TOOL_NAME = "comparison_result"
ANSWER_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "winner": {"type": "string", "enum": ["A", "B"], "description": "The better essay: A or B."},
        "justification": {"type": "string", "description": "At most three sentences naming what decided it."},
        "confidence": {"type": "integer", "enum": [1, 2, 3, 4, 5], "description": "1 = a guess, 5 = certain."},
    },
    "required": ["winner", "justification", "confidence"],
    "additionalProperties": False,
}


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
    provider: ProviderName
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


# --- The model manifest (llmgateway/manifest.json) ---------------------------------------------


class ModelPrices(Contract):
    """US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(ge=0)
    cache_read: float = Field(ge=0)
    batch_discount: float = Field(ge=0, lt=1, description="share taken off every price in batch mode")


class ModelCapabilities(Contract):
    structured_output: Literal["tool_use", "json_schema", "native"]
    prompt_caching: bool
    min_cacheable_tokens: int = Field(default=0, ge=0)
    batch_api: bool
    temperature: bool
    reasoning_effort: list[Literal["low", "medium", "high"]] = Field(default_factory=list)


class ManifestModel(Contract):
    id: str = Field(min_length=1, max_length=128)
    provider: ProviderName
    display_name: str = Field(min_length=1)
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    prices: ModelPrices
    capabilities: ModelCapabilities
    release_date: date
    deprecated: bool = False
    deprecation_date: date | None = None
    default: bool = False

    @model_validator(mode="after")
    def _caching_has_a_minimum(self) -> ManifestModel:
        if self.capabilities.prompt_caching and self.capabilities.min_cacheable_tokens <= 0:
            raise ValueError(f"{self.id}: prompt caching needs min_cacheable_tokens > 0")
        if self.deprecation_date and not self.deprecated:
            raise ValueError(f"{self.id}: a deprecation_date needs deprecated: true")
        return self


class Manifest(Contract):
    version: int = Field(ge=1)
    prices_as_of: date
    models: list[ManifestModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_default_per_provider(self) -> Manifest:
        ids = [(m.provider, m.id) for m in self.models]
        repeated = sorted({f"{p}/{i}" for p, i in ids if ids.count((p, i)) > 1})
        if repeated:
            raise ValueError(f"models listed twice: {', '.join(repeated)}")
        for provider in PROVIDERS:
            defaults = [m.id for m in self.models if m.provider == provider and m.default]
            if len(defaults) != 1:
                raise ValueError(f"provider {provider!r} needs exactly one default model; has {defaults or 'none'}")
            if any(m.deprecated for m in self.models if m.provider == provider and m.default):
                raise ValueError(f"the default model of {provider!r} is deprecated")
        return self


# --- The mock's behaviour (LLM_MOCK_BEHAVIOUR) -------------------------------------------------


class MockBehaviour(Contract):
    """Latency and fault injection for the mock, and the `simulated` profile's judge model.

    Every draw is seeded by sha256 of (seed, request id, attempt): reproducible, and a retry of a
    failed attempt draws again.
    """

    latency_ms: float = Field(default=0.0, ge=0)
    latency_jitter_ms: float = Field(default=0.0, ge=0, description="uniform ± around latency_ms")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="share of calls failing with a 500")
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1, description="share of calls answered 429")
    retry_after_s: float = Field(default=1.0, ge=0, description="the Retry-After of an injected 429")
    malformed_rate: float = Field(default=0.0, ge=0, le=1, description="share of answers without a valid winner")
    timeout_rate: float = Field(default=0.0, ge=0, le=1, description="share of calls that time out")
    position_bias: float = Field(default=0.0, ge=-3, le=3, description="simulated: logit added in favour of Essay A")
    lapse_rate: float = Field(default=0.0, ge=0, le=1, description="simulated: share of coin-flip verdicts")
    noise_scale: float = Field(default=1.0, gt=0, le=10, description="simulated: divides the quality difference")


# --- The external API -------------------------------------------------------------------------


class ComparisonRequestIn(Contract):
    """`POST /api/v1/comparison`: one comparison for an external client."""

    student_prompt: str = Field(default="", max_length=50_000)
    instructions: str = Field(default="", max_length=50_000)
    essay_a: str = Field(min_length=1, max_length=100_000)
    essay_b: str = Field(min_length=1, max_length=100_000)
    llm_config_overrides: LLMConfigOverrides | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    webhook_url: HttpUrl | None = None

    @field_validator("essay_a", "essay_b")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value
