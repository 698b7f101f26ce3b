"""The provider interface: turn a canonical request into a raw structured answer plus usage, or
raise a categorised `ProviderError`; and, where the provider has one, its batch API.

Adapters do no database work and hold no per-request state, so one instance serves many threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal, Protocol

from django.utils import timezone

from llmgateway.prompts import Prompt
from llmgateway.schemas import ErrorCategory, LLMConfigOverrides, ManifestModel, Usage


class ProviderError(Exception):
    """A failed call, categorised. `retryable` failures may be sent again; the others are final.

    `detail` never quotes the prompt: adapters build it from status codes and error types.
    """

    def __init__(self, category: ErrorCategory, detail: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(f"{category}: {detail}")
        self.category = category
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class RateLimitInfo:
    """What a provider's rate-limit headers said (None: not stated)."""

    requests_limit: int | None = None
    requests_remaining: int | None = None
    tokens_limit: int | None = None
    tokens_remaining: int | None = None


@dataclass(frozen=True)
class CallContext:
    request_id: int
    attempt: int  # 1 for the first call of a request
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderReply:
    answer: dict[str, Any] | None  # the structured answer as the model gave it (validated later)
    raw: Any  # the provider's raw answer, kept for audit
    usage: Usage = field(default_factory=Usage)
    rate_limits: RateLimitInfo | None = None


@dataclass(frozen=True)
class BatchItemOutcome:
    """One item of a provider batch job: a reply, or an error (expired items are `expired`)."""

    custom_id: str
    reply: ProviderReply | None = None
    error: ProviderError | None = None


BatchJobStatus = Literal["in_progress", "ended"]


class Provider(Protocol):
    name: ClassVar[str]

    def canonical_request(self, prompt: Prompt, *, model: ManifestModel, overrides: LLMConfigOverrides) -> dict[str, Any]:
        """The exact request body sent (system prompt, schema, model, parameters): hashed as prompt_sha256."""
        ...

    def compare(self, request: dict[str, Any], *, context: CallContext) -> ProviderReply: ...

    def batch_submit(self, items: list[tuple[str, dict[str, Any]]]) -> str:
        """Send (custom_id, canonical request) pairs as one provider batch job; return its id."""
        ...

    def batch_status(self, job_id: str) -> BatchJobStatus: ...

    def batch_results(
        self, job_id: str, *, requests: dict[str, tuple[dict[str, Any], CallContext]]
    ) -> Iterator[BatchItemOutcome]:
        """Each item's outcome; `requests` (custom_id → request, context) serves providers that keep none."""
        ...


def retry_after_seconds(headers: Any) -> float | None:
    """Retry-After as seconds: `retry-after-ms`, then `retry-after` (seconds or an HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(raw) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


def header_int(headers: Any, name: str) -> int | None:
    value = headers.get(name) if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def error_from_status(
    status: int, *, headers: Any, error_type: str | None, error_code: str | None, message: str
) -> ProviderError:
    """Map an HTTP error answer to a category. `message` is read for a few markers, never kept.

    Retryable: 429 (with its Retry-After), 408, 409, 5xx and 529 (overloaded). Terminal: 400,
    401, 403, 404 (unknown model), 413 and context-length errors, content filters.
    """
    text = f"{error_type or ''} {error_code or ''} {message}".lower()
    detail = f"HTTP {status}" + "".join(f" {part}" for part in (error_type, error_code) if part)
    if status == 429:
        return ProviderError("rate_limited", detail, retryable=True, retry_after=retry_after_seconds(headers))
    if status == 529 or "overloaded" in text:
        return ProviderError("overloaded", detail, retryable=True, retry_after=retry_after_seconds(headers))
    if status == 408:
        return ProviderError("timeout", detail, retryable=True)
    if status == 409 or status >= 500:
        return ProviderError("server_error", detail, retryable=True, retry_after=retry_after_seconds(headers))
    if status in (401, 403):
        return ProviderError("authentication", detail, retryable=False)
    if status == 404:
        return ProviderError("not_found", detail + " (unknown model or endpoint)", retryable=False)
    if status == 413 or any(m in text for m in ("context_length", "too long", "too many tokens", "maximum context")):
        return ProviderError("context_too_long", detail, retryable=False)
    if any(m in text for m in ("content_filter", "content_policy", "safety", "refusal")):
        return ProviderError("content_filtered", detail, retryable=False)
    return ProviderError("bad_request", detail, retryable=False)


def error_from_sdk(exc: Exception, sdk: Any) -> ProviderError:
    """Map an `anthropic` or `openai` SDK exception (the two share their class names)."""
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError("timeout", "the request timed out", retryable=True)
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderError("connection", "could not reach the provider", retryable=True)
    if isinstance(exc, sdk.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
        return error_from_status(
            exc.status_code,
            headers=exc.response.headers,
            error_type=error.get("type") if isinstance(error.get("type"), str) else None,
            error_code=error.get("code") if isinstance(error.get("code"), str) else None,
            message=str(error.get("message", "")),
        )
    if isinstance(exc, sdk.APIResponseValidationError):
        return ProviderError("invalid_response", "the provider's answer did not match its API schema", retryable=True)
    return ProviderError("internal", f"unexpected {type(exc).__name__} from the SDK", retryable=False)


def split_known(method: Any, request: dict[str, Any]) -> dict[str, Any]:
    """SDK keyword arguments for `request`: what the method does not name travels in
    `extra_body`, so the body sent is exactly the canonical request (e.g. a temperature that a
    newer SDK no longer lists)."""
    import inspect

    accepted = set(inspect.signature(method).parameters)
    known = {k: v for k, v in request.items() if k in accepted}
    extra = {k: v for k, v in request.items() if k not in accepted}
    return {**known, "extra_body": extra} if extra else known


@contextmanager
def sdk_errors(sdk: Any, base_error: type[Exception]) -> Iterator[None]:
    """Turn any error of an SDK call in the block into a categorised `ProviderError`."""
    try:
        yield
    except base_error as exc:
        raise error_from_sdk(exc, sdk) from None
