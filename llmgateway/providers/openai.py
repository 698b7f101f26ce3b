"""OpenAI and any OpenAI-compatible server (vLLM, Ollama, LM Studio) through the official SDK:
strict JSON schema answers (`strict: true`, `additionalProperties: false`), the Batch API (a JSONL
file, `custom_id` = the request id) for batch mode.

The SDK's own retries are off (`max_retries=0`): retries are the gateway's, through Celery
countdowns. Error classes map to the gateway's categories in `base.error_from_sdk`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any, ClassVar, Final

import openai
from django.conf import settings
from openai.types.chat import ChatCompletion

from llmgateway.prompts import Prompt
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
CHAT_ENDPOINT: Final = "/v1/chat/completions"
_RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": ANSWER_TOOL_NAME, "strict": True, "schema": ANSWER_JSON_SCHEMA},
}


@cache
def _client(api_key: str, base_url: str, timeout: float) -> openai.OpenAI:
    # One client (one connection pool) per process and configuration, shared by all threads.
    return openai.OpenAI(api_key=api_key, base_url=base_url or None, timeout=timeout, max_retries=0)


class OpenAIProvider:
    name: ClassVar[str] = "openai"
    max_tokens_parameter: ClassVar[str] = "max_completion_tokens"
    required: ClassVar[tuple[str, str]] = ("api_key", "OPENAI_API_KEY")  # the credential and its variable

    def _client(self) -> openai.OpenAI:
        creds = settings.LLM_CREDENTIALS[self.name]
        if not creds[self.required[0]]:
            raise ProviderError("configuration", f"{self.required[1]} is not set", retryable=False)
        # A local server may take no key; the SDK needs one all the same.
        return _client(creds["api_key"] or "not-needed", creds["base_url"], float(settings.LLM_REQUEST_TIMEOUT))

    def canonical_request(self, prompt: Prompt, *, model: ManifestModel, overrides: LLMConfigOverrides) -> dict[str, Any]:
        # Static blocks first in one user message: OpenAI caches the longest repeated prefix itself.
        request: dict[str, Any] = {
            "model": model.id,
            "messages": [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user_text}],
            "response_format": _RESPONSE_FORMAT,
            self.max_tokens_parameter: min(overrides.max_tokens_override or DEFAULT_MAX_TOKENS, model.max_output_tokens),
        }
        if overrides.temperature_override is not None:
            request["temperature"] = overrides.temperature_override
        if overrides.reasoning_effort is not None:
            request["reasoning_effort"] = overrides.reasoning_effort
        return request

    def compare(self, request: dict[str, Any], *, context: CallContext) -> ProviderReply:
        client = self._client()
        with sdk_errors(openai, openai.OpenAIError):
            raw = client.chat.completions.with_raw_response.create(**split_known(client.chat.completions.create, request))
            completion = raw.parse()
        reply = reply_from_completion(completion)
        headers = raw.headers
        limits = RateLimitInfo(
            requests_limit=header_int(headers, "x-ratelimit-limit-requests"),
            requests_remaining=header_int(headers, "x-ratelimit-remaining-requests"),
            tokens_limit=header_int(headers, "x-ratelimit-limit-tokens"),
            tokens_remaining=header_int(headers, "x-ratelimit-remaining-tokens"),
        )
        return ProviderReply(answer=reply.answer, raw=reply.raw, usage=reply.usage, rate_limits=limits)

    # --- Batch API ---------------------------------------------------------------------------

    def batch_submit(self, items: list[tuple[str, dict[str, Any]]]) -> str:
        lines = [json.dumps({"custom_id": cid, "method": "POST", "url": CHAT_ENDPOINT, "body": req}) for cid, req in items]
        client = self._client()
        with sdk_errors(openai, openai.OpenAIError):
            upload = client.files.create(file=("comparisons.jsonl", "\n".join(lines).encode()), purpose="batch")
            job = client.batches.create(input_file_id=upload.id, endpoint=CHAT_ENDPOINT, completion_window="24h")
        return job.id

    def batch_status(self, job_id: str) -> BatchJobStatus:
        with sdk_errors(openai, openai.OpenAIError):
            job = self._client().batches.retrieve(job_id)
        return "ended" if job.status in ("completed", "expired", "failed", "cancelled") else "in_progress"

    def batch_results(
        self, job_id: str, *, requests: dict[str, tuple[dict[str, Any], CallContext]]
    ) -> Iterator[BatchItemOutcome]:
        del requests  # the provider holds them
        client = self._client()
        with sdk_errors(openai, openai.OpenAIError):
            job = client.batches.retrieve(job_id)
            texts = [client.files.content(f).text for f in (job.output_file_id, job.error_file_id) if f]
        for text in texts:
            for line in filter(None, (raw.strip() for raw in text.splitlines())):
                yield _batch_item(json.loads(line))


def _batch_item(line: dict[str, Any]) -> BatchItemOutcome:
    custom_id = str(line.get("custom_id"))
    response = line.get("response") or {}
    status = int(response.get("status_code") or 0)
    if status == 200:
        try:
            return BatchItemOutcome(
                custom_id=custom_id, reply=reply_from_completion(ChatCompletion.model_validate(response["body"]))
            )
        except ProviderError as exc:
            return BatchItemOutcome(custom_id=custom_id, error=exc)
    error = (response.get("body") or {}).get("error") or line.get("error") or {}
    return BatchItemOutcome(
        custom_id=custom_id,
        error=error_from_status(
            status or 500,
            headers=None,
            error_type=error.get("type"),
            error_code=error.get("code"),
            message=str(error.get("message", "")),
        ),
    )


def reply_from_completion(completion: ChatCompletion) -> ProviderReply:
    """The strict-schema answer, usage and the raw completion; a refusal or filter is terminal."""
    raw = completion.model_dump(mode="json")
    choice = completion.choices[0] if completion.choices else None
    if choice is not None and (choice.message.refusal or choice.finish_reason == "content_filter"):
        raise ProviderError("content_filtered", "the model refused or its answer was filtered", retryable=False)
    answer = None
    if choice is not None and choice.message.content:
        try:
            parsed = json.loads(choice.message.content)
            answer = parsed if isinstance(parsed, dict) else None
        except json.JSONDecodeError:
            answer = None
    u = completion.usage
    usage = Usage()
    if u is not None:
        prompt_details = u.prompt_tokens_details
        cached = (prompt_details.cached_tokens or 0) if prompt_details else 0
        written = (getattr(prompt_details, "cache_write_tokens", None) or 0) if prompt_details else 0
        reasoning = (u.completion_tokens_details.reasoning_tokens or 0) if u.completion_tokens_details else 0
        usage = Usage(
            input_tokens=max(0, u.prompt_tokens - cached - written),
            output_tokens=u.completion_tokens,
            cache_read_tokens=cached,
            cache_write_tokens=written,
            reasoning_tokens=reasoning,
        )
    return ProviderReply(answer=answer, raw=raw, usage=usage)


class OpenAICompatibleProvider(OpenAIProvider):
    """An in-house server speaking the OpenAI API: needs a base URL; a key only if it asks for one."""

    name: ClassVar[str] = "openai_compatible"
    max_tokens_parameter: ClassVar[str] = "max_tokens"
    required: ClassVar[tuple[str, str]] = ("base_url", "OPENAI_COMPATIBLE_BASE_URL")
