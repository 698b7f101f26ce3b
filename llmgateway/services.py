"""Gateway services: accept a comparison request, run it against a provider, deliver the result.

The gateway knows nothing of essays or batches: it takes prompt parts, overrides and metadata to
echo back, and hands a validated `ComparisonResult` to the caller's callback task.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from cjproject.errors import InvalidInput
from llmgateway.models import LLMRequest
from llmgateway.prompts import build_prompt, prompt_sha256
from llmgateway.providers.base import Provider, ProviderError
from llmgateway.providers.mock import MockProvider
from llmgateway.schemas import ComparisonAnswer, ComparisonResult, LLMConfigOverrides, PromptParts, Usage

logger = logging.getLogger(__name__)

# Providers implemented in this build. The real Anthropic and OpenAI adapters plug in here.
_PROVIDERS: dict[str, type[Provider]] = {"mock": MockProvider}


def provider_resolve(*, overrides: LLMConfigOverrides | None) -> tuple[Provider, str]:
    """The provider and model a request will use; raises InvalidInput naming the bad field."""
    overrides = overrides or LLMConfigOverrides()
    name = overrides.provider_override or settings.LLM_DEFAULT_PROVIDER
    if name not in _PROVIDERS:
        raise InvalidInput(
            "provider not available",
            fields={
                "llm_config_overrides.provider_override": [
                    f"{name!r} is not available in this build; available: {', '.join(_PROVIDERS)}"
                ]
            },
        )
    provider = _PROVIDERS[name]()
    model = overrides.model_override or provider.default_model
    known = getattr(provider, "models", (provider.default_model,))
    if model not in known:
        raise InvalidInput(
            "unknown model",
            fields={"llm_config_overrides.model_override": [f"{model!r} is not a {name} model; valid: {', '.join(known)}"]},
        )
    return provider, model


def comparison_request_create(
    *,
    parts: PromptParts,
    overrides: LLMConfigOverrides | None,
    metadata: dict[str, Any],
    callback: str = "",
) -> LLMRequest:
    """Store a request (prompt parts included) so that the task message carries only its id."""
    provider, model = provider_resolve(overrides=overrides)
    return LLMRequest.objects.create(
        provider=provider.name,
        model=model,
        overrides=(overrides or LLMConfigOverrides()).model_dump(mode="json", exclude_none=True),
        prompt_parts=parts.model_dump(mode="json"),
        metadata=metadata,
        callback=callback,
    )


def comparison_execute(*, request_id: int) -> ComparisonResult:
    """Run one request: claim it, call the provider, validate the answer, store the outcome.

    A request already finished (a redelivered task) is not called again: its stored result is
    returned, so that delivery can be repeated safely.
    """
    claimed = LLMRequest.objects.filter(pk=request_id, status=LLMRequest.Status.QUEUED).update(
        status=LLMRequest.Status.RUNNING, started_at=timezone.now()
    )
    request = LLMRequest.objects.get(pk=request_id)
    if not claimed and request.status in (LLMRequest.Status.SUCCEEDED, LLMRequest.Status.FAILED):
        return _result_of(request)

    overrides = LLMConfigOverrides.model_validate(request.overrides)
    provider, model = provider_resolve(overrides=overrides.model_copy(update={"model_override": request.model}))
    prompt = build_prompt(PromptParts.model_validate(request.prompt_parts), overrides)
    canonical = provider.canonical_request(prompt, model=model, overrides=overrides)
    sha = prompt_sha256(canonical)
    started = time.monotonic()
    answer: ComparisonAnswer | None = None
    usage = Usage()
    raw: Any = None
    category, detail = None, ""
    try:
        reply = provider.compare(canonical, metadata=request.metadata)
        raw, usage = reply.raw, reply.usage
        answer = ComparisonAnswer.model_validate(reply.answer)
    except ValidationError as exc:
        category, detail = "invalid_response", "; ".join(e["msg"] for e in exc.errors())[:500]
    except ProviderError as exc:
        category, detail = exc.category, exc.detail[:500]
    except Exception as exc:  # noqa: BLE001 - a bug in an adapter must fail the call, not strand it
        # Only the exception's type is kept: its message could quote the prompt.
        category, detail = "internal", f"unexpected {type(exc).__name__} in the {provider.name} adapter"
        logger.error("Provider adapter raised", extra={"llm_request_id": request_id, "exception_type": type(exc).__name__})
    latency_ms = int((time.monotonic() - started) * 1000)

    with transaction.atomic():
        LLMRequest.objects.filter(pk=request_id).update(
            status=LLMRequest.Status.SUCCEEDED if answer else LLMRequest.Status.FAILED,
            prompt_sha256=sha,
            result=answer.model_dump(mode="json") if answer else None,
            raw_response=raw,
            error_category=category or "",
            error_detail=detail,
            attempts=request.attempts + 1,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_usd=Decimal("0"),
            latency_ms=latency_ms,
            finished_at=timezone.now(),
        )
    request.refresh_from_db()
    logger.debug(
        "Comparison call finished",
        extra={
            "llm_request_id": request.pk,
            "provider": request.provider,
            "model": request.model,
            "status": request.status,
            "error_category": request.error_category,
            "latency_ms": latency_ms,
        },
    )
    return _result_of(request)


def _result_of(request: LLMRequest) -> ComparisonResult:
    return ComparisonResult(
        request_id=request.pk,
        status="succeeded" if request.status == LLMRequest.Status.SUCCEEDED else "failed",
        provider=request.provider,
        model=request.model,
        answer=ComparisonAnswer.model_validate(request.result) if request.result else None,
        usage=Usage(
            input_tokens=request.input_tokens,
            output_tokens=request.output_tokens,
            cache_read_tokens=request.cache_read_tokens,
            cache_write_tokens=request.cache_write_tokens,
            reasoning_tokens=request.reasoning_tokens,
        ),
        cost_usd=float(request.cost_usd),
        prompt_sha256=request.prompt_sha256,
        attempts=request.attempts,
        error_category=request.error_category or None,
        error_detail=request.error_detail,
        raw_response=request.raw_response,
        metadata=request.metadata,
    )


def comparison_deliver(*, result: ComparisonResult, callback: str) -> None:
    """Hand the result to the caller's callback task, in this process.

    Running the callback here (not enqueueing it) means the result is recorded before the task
    that produced it finishes, so a chord body that follows reads it from the database.
    """
    if callback:
        current_app.tasks[callback](result.model_dump(mode="json"))
