"""The provider interface: turn a prompt into a raw structured answer plus usage, or raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from llmgateway.prompts import Prompt
from llmgateway.schemas import ErrorCategory, LLMConfigOverrides, Usage


class ProviderError(Exception):
    """A failed call, categorised. `retryable` failures may be sent again; the others are final."""

    def __init__(self, category: ErrorCategory, detail: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(f"{category}: {detail}")
        self.category = category
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class ProviderReply:
    answer: dict[str, Any] | None  # the structured answer as the model gave it (validated later)
    raw: Any  # the provider's raw answer, kept for audit
    usage: Usage = field(default_factory=Usage)


class Provider(Protocol):
    name: ClassVar[str]
    default_model: ClassVar[str]

    def canonical_request(self, prompt: Prompt, *, model: str, overrides: LLMConfigOverrides) -> dict[str, Any]:
        """The exact request sent (system prompt, schema, model, parameters): hashed as prompt_sha256."""
        ...

    def compare(self, request: dict[str, Any], *, metadata: dict[str, Any]) -> ProviderReply: ...
