"""Anthropic through the official SDK: forced tool use (`comparison_result`), prompt caching,
Message Batches for batch mode.

The SDK's own retries are off (`max_retries=0`): retries are the gateway's, through Celery
countdowns. Error classes map to the gateway's categories in `base.error_from_sdk`.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any, ClassVar

import anthropic
from django.conf import settings

from llmgateway.prompts import Prompt, estimate_tokens
from llmgateway.providers.base import (
    BatchItemOutcome,
    BatchJobStatus,
    CallContext,
    ProviderError,
    ProviderReply,
    RateLimitInfo,
    error_from_status,
    header_int,
    sdk_errors,
    split_known,
)
from llmgateway.schemas import ANSWER_JSON_SCHEMA, ANSWER_TOOL_NAME, LLMConfigOverrides, ManifestModel, Usage

DEFAULT_MAX_TOKENS = 1024
MAX_CACHE_BREAKPOINTS = 4
_TOOL = {
    "name": ANSWER_TOOL_NAME,
    "description": "Record which essay is better, why, and how confident you are.",
    "input_schema": ANSWER_JSON_SCHEMA,
}


@cache
def _client(api_key: str, base_url: str, timeout: float) -> anthropic.Anthropic:
    # One client (one connection pool) per process and configuration, shared by all threads.
    return anthropic.Anthropic(api_key=api_key, base_url=base_url or None, timeout=timeout, max_retries=0)


def cache_breakpoints(prefix_texts: list[str], *, minimum: int) -> list[bool]:
    """Which prefix ends get `cache_control`: those whose whole prefix reaches the model's
    minimum cacheable length, the last ones first, at most 4 (the API's limit)."""
    marks, total = [], 0
    for text in prefix_texts:
        total += estimate_tokens(text)
        marks.append(minimum > 0 and total >= minimum)
    allowed = MAX_CACHE_BREAKPOINTS
    for i in reversed(range(len(marks))):
        if marks[i]:
            marks[i] = allowed > 0
            allowed -= 1
    return marks


class AnthropicProvider:
    name: ClassVar[str] = "anthropic"

    def _client(self) -> anthropic.Anthropic:
        creds = settings.LLM_CREDENTIALS[self.name]
        if not creds["api_key"]:
            raise ProviderError("configuration", "ANTHROPIC_API_KEY is not set", retryable=False)
        return _client(creds["api_key"], creds["base_url"], float(settings.LLM_REQUEST_TIMEOUT))

    def canonical_request(self, prompt: Prompt, *, model: ManifestModel, overrides: LLMConfigOverrides) -> dict[str, Any]:
        caching = model.capabilities.prompt_caching
        static = [b for b in prompt.blocks if b.kind == "static"]
        # The cache prefix is tools, then system, then the static block: mark where it is long enough.
        tool_text = str(_TOOL)
        marks = cache_breakpoints(
            [tool_text + prompt.system, *(b.text for b in static)],
            minimum=model.capabilities.min_cacheable_tokens if caching else 0,
        )
        system_block: dict[str, Any] = {"type": "text", "text": prompt.system}
        if marks[0]:
            system_block["cache_control"] = {"type": "ephemeral"}
        content = []
        for block in prompt.blocks:
            part: dict[str, Any] = {"type": "text", "text": block.text}
            if block.kind == "static" and marks[1 + static.index(block)]:
                part["cache_control"] = {"type": "ephemeral"}
            content.append(part)
        request: dict[str, Any] = {
            "model": model.id,
            "max_tokens": min(overrides.max_tokens_override or DEFAULT_MAX_TOKENS, model.max_output_tokens),
            "system": [system_block],
            "messages": [{"role": "user", "content": content}],
            "tools": [_TOOL],
            "tool_choice": {"type": "tool", "name": ANSWER_TOOL_NAME},
        }
        if overrides.temperature_override is not None:
            request["temperature"] = overrides.temperature_override
        return request

    def compare(self, request: dict[str, Any], *, context: CallContext) -> ProviderReply:
        client = self._client()
        with sdk_errors(anthropic, anthropic.AnthropicError):
            raw = client.messages.with_raw_response.create(**split_known(client.messages.create, request))
            message = raw.parse()
        headers = raw.headers
        reply = reply_from_message(message)
        limits = RateLimitInfo(
            requests_limit=header_int(headers, "anthropic-ratelimit-requests-limit"),
            requests_remaining=header_int(headers, "anthropic-ratelimit-requests-remaining"),
            tokens_limit=header_int(headers, "anthropic-ratelimit-tokens-limit"),
            tokens_remaining=header_int(headers, "anthropic-ratelimit-tokens-remaining"),
        )
        return ProviderReply(answer=reply.answer, raw=reply.raw, usage=reply.usage, rate_limits=limits)

    # --- Message Batches ---------------------------------------------------------------------

    def batch_submit(self, items: list[tuple[str, dict[str, Any]]]) -> str:
        requests = [{"custom_id": cid, "params": req} for cid, req in items]
        with sdk_errors(anthropic, anthropic.AnthropicError):
            # The SDK types each item as a TypedDict; ours is the canonical request dict it was built from.
            job = self._client().messages.batches.create(requests=requests)  # type: ignore[arg-type]
        return job.id

    def batch_status(self, job_id: str) -> BatchJobStatus:
        with sdk_errors(anthropic, anthropic.AnthropicError):
            job = self._client().messages.batches.retrieve(job_id)
        return "ended" if job.processing_status == "ended" else "in_progress"

    def batch_results(
        self, job_id: str, *, requests: dict[str, tuple[dict[str, Any], CallContext]]
    ) -> Iterator[BatchItemOutcome]:
        del requests  # the provider holds them
        with sdk_errors(anthropic, anthropic.AnthropicError):
            lines = list(self._client().messages.batches.results(job_id))
        for line in lines:
            result = line.result
            if result.type == "succeeded":
                yield BatchItemOutcome(custom_id=line.custom_id, reply=reply_from_message(result.message))
            elif result.type == "errored":
                error = result.error.error
                status = {"rate_limit_error": 429, "overloaded_error": 529, "api_error": 500, "authentication_error": 401}
                yield BatchItemOutcome(
                    custom_id=line.custom_id,
                    error=error_from_status(
                        status.get(error.type, 400), headers=None, error_type=error.type, error_code=None, message=error.message
                    ),
                )
            else:  # expired or canceled: never processed
                yield BatchItemOutcome(
                    custom_id=line.custom_id, error=ProviderError("expired", f"batch item {result.type}", retryable=True)
                )


def reply_from_message(message: Any) -> ProviderReply:
    """The forced tool call's input, usage and the raw message; a refusal is terminal."""
    raw = message.model_dump(mode="json")
    if message.stop_reason == "refusal":
        raise ProviderError("content_filtered", "the model refused to answer", retryable=False)
    answer = next(
        (b.input for b in message.content if b.type == "tool_use" and b.name == ANSWER_TOOL_NAME and isinstance(b.input, dict)),
        None,
    )
    u = message.usage
    details = getattr(u, "output_tokens_details", None)
    usage = Usage(
        input_tokens=u.input_tokens or 0,
        output_tokens=u.output_tokens or 0,
        cache_read_tokens=u.cache_read_input_tokens or 0,
        cache_write_tokens=u.cache_creation_input_tokens or 0,
        reasoning_tokens=(details.thinking_tokens or 0) if details else 0,
    )
    return ProviderReply(answer=answer, raw=raw, usage=usage)
