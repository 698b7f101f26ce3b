"""OpenAI and OpenAI-compatible servers through the real SDK against a local fake server:
strict JSON schema, usage, error categories, retries and the Batch API."""

import json

import pytest

from llmgateway import services
from llmgateway.models import LLMRequest, ProviderBatchJob
from llmgateway.schemas import LLMConfigOverrides, PromptParts
from llmgateway.store import key, shared_redis
from tests.llmgateway.conftest import STRONG, WEAK
from tests.llmgateway.fakeserver import Reply

CHAT = "/v1/chat/completions"
ANSWER = {"winner": "A", "justification": "Essay A is better organised.", "confidence": 1}


def completion(content=ANSWER, *, finish_reason="stop", refusal=None):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-5-mini",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": json.dumps(content) if content is not None else None,
                    "refusal": refusal,
                },
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 1500,
            "completion_tokens": 300,
            "total_tokens": 1800,
            "prompt_tokens_details": {"cached_tokens": 1000},
            "completion_tokens_details": {"reasoning_tokens": 200},
        },
    }


def _request(**overrides):
    return services.comparison_request_create(
        parts=PromptParts(
            student_prompt="Write about a role model.", instructions="Reward structure.", essay_a=STRONG, essay_b=WEAK
        ),
        overrides=LLMConfigOverrides(provider_override=overrides.pop("provider", "openai"), **overrides),
        metadata={"essay_a_id": 3, "essay_b_id": 4},
    )


@pytest.mark.django_db
def test_it_asks_for_a_strict_schema_and_records_answer_usage_and_cost(openai_server):
    openai_server.on(
        "POST", CHAT, Reply(200, completion(), {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "7"})
    )
    result = services.comparison_execute(request_id=_request(reasoning_effort="low").pk)

    body = openai_server.calls("POST", CHAT)[0].json()
    schema = body["response_format"]["json_schema"]
    assert schema["strict"] is True and schema["schema"]["additionalProperties"] is False
    assert body["model"] == "gpt-5-mini" and body["reasoning_effort"] == "low"
    assert "temperature" not in body  # gpt-5-mini takes none (manifest capability)
    assert (result.status, result.answer.winner, result.answer.confidence) == ("succeeded", "A", 1)
    usage = result.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, usage.reasoning_tokens) == (500, 1000, 300, 200)
    assert result.cost_usd == pytest.approx((500 * 0.25 + 1000 * 0.025 + 300 * 2.0) / 1e6)
    bucket = shared_redis().hgetall(key("ratelimit", "openai", "gpt-5-mini"))
    assert (bucket[b"rpm"], bucket[b"r"]) == (b"500", b"7")


@pytest.mark.django_db
def test_temperature_zero_reaches_the_provider_as_zero(openai_server):
    openai_server.on("POST", CHAT, Reply(200, completion()))
    services.comparison_execute(request_id=_request(model_override="gpt-4.1", temperature_override=0.0).pk)
    assert openai_server.calls("POST", CHAT)[0].json()["temperature"] == 0.0


@pytest.mark.django_db
def test_it_retries_a_429_after_its_retry_after_then_succeeds(openai_server):
    error = {"error": {"type": "requests", "code": "rate_limit_exceeded", "message": "slow down"}}
    openai_server.on("POST", CHAT, Reply(429, error, {"retry-after-ms": "2500"}), Reply(200, completion()))
    request = _request()
    report = services.comparison_run(request_ids=[request.pk])
    assert report.countdown >= 2.5
    shared_redis().delete(key("ratelimit", "openai", "gpt-5-mini"))
    services.comparison_run(request_ids=[request.pk])
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("succeeded", 2)


@pytest.mark.django_db
def test_a_500_then_success(openai_server):
    openai_server.on("POST", CHAT, Reply(500, {"error": {"type": "server_error", "message": "oops"}}), Reply(200, completion()))
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.attempts) == ("succeeded", 2)


@pytest.mark.django_db
def test_a_malformed_json_answer_then_a_good_one_succeeds(openai_server):
    bad = completion()
    bad["choices"][0]["message"]["content"] = '{"winner": "A", "justif'
    openai_server.on("POST", CHAT, Reply(200, bad), Reply(200, completion()))
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.attempts, result.answer.winner) == ("succeeded", 2, "A")
    assert LLMRequest.objects.get(pk=result.request_id).attempt_log[0]["category"] == "invalid_response"


@pytest.mark.django_db
def test_a_timeout_is_a_retryable_timeout(openai_server, settings):
    settings.LLM_REQUEST_TIMEOUT = 0.3
    openai_server.on("POST", CHAT, Reply(200, completion(), delay=1.0))
    report = services.comparison_run(request_ids=[_request().pk])
    assert report.retry_ids and LLMRequest.objects.get().attempt_log[0]["category"] == "timeout"


@pytest.mark.django_db
def test_a_401_is_terminal_and_never_retried(openai_server):
    openai_server.on(
        "POST", CHAT, Reply(401, {"error": {"type": "invalid_request_error", "code": "invalid_api_key", "message": "x"}})
    )
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.error_category, result.attempts) == ("failed", "authentication", 1)
    assert len(openai_server.calls("POST", CHAT)) == 1
    assert "sk-openai-test-secret" not in result.error_detail


@pytest.mark.django_db
def test_a_refusal_is_terminal_content_filtered(openai_server):
    openai_server.on("POST", CHAT, Reply(200, completion(None, refusal="I can't help with that.")))
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.error_category) == ("failed", "content_filtered")


@pytest.mark.django_db
def test_an_unknown_model_at_the_provider_is_terminal(openai_server):
    openai_server.on(
        "POST", CHAT, Reply(404, {"error": {"type": "invalid_request_error", "code": "model_not_found", "message": "x"}})
    )
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.error_category, result.attempts) == ("failed", "not_found", 1)


@pytest.mark.django_db
def test_an_openai_compatible_server_needs_only_a_base_url(openai_server):
    openai_server.on("POST", CHAT, Reply(200, completion()))
    result = services.comparison_execute(request_id=_request(provider="openai_compatible").pk)
    body = openai_server.calls("POST", CHAT)[0].json()
    assert (result.status, result.model, result.cost_usd) == ("succeeded", "llama-3.1-8b-instruct", 0.0)
    assert body["max_tokens"] == 1024 and "max_completion_tokens" not in body


@pytest.mark.django_db
def test_a_batch_job_with_mixed_item_results_settles_each_item(openai_server, settings):
    settings.LLM_MAX_ATTEMPTS = 1
    ids = [_request().pk for _ in range(3)]
    services.comparison_signatures(request_ids=ids, batching_mode="provider_batch_api")
    job = ProviderBatchJob.objects.get()
    batch = {
        "id": "batch_1",
        "object": "batch",
        "endpoint": CHAT,
        "input_file_id": "file_in",
        "completion_window": "24h",
        "created_at": 1,
    }
    output = "\n".join(
        [
            json.dumps(
                {"id": "r1", "custom_id": str(ids[0]), "response": {"status_code": 200, "body": completion()}, "error": None}
            ),
            json.dumps(
                {
                    "id": "r2",
                    "custom_id": str(ids[1]),
                    "response": {"status_code": 500, "body": {"error": {"type": "server_error", "message": "x"}}},
                    "error": None,
                }
            ),
        ]
    )
    openai_server.on(
        "POST",
        "/v1/files",
        Reply(200, {"id": "file_in", "object": "file", "bytes": 1, "created_at": 1, "filename": "c.jsonl", "purpose": "batch"}),
    )
    openai_server.on("POST", "/v1/batches", Reply(200, {**batch, "status": "validating"}))
    openai_server.on(
        "GET",
        "/v1/batches/batch_1",
        Reply(200, {**batch, "status": "in_progress"}),
        Reply(200, {**batch, "status": "expired", "output_file_id": "file_out"}),
    )
    openai_server.on("GET", "/v1/files/file_out/content", Reply(200, raw=output.encode()))

    assert services.batch_job_submit(job_id=job.pk) == "submitted"
    upload = openai_server.calls("POST", "/v1/files")[0].body.decode(errors="replace")
    assert f'"custom_id": "{ids[0]}"' in upload and '"strict": true' in upload
    assert services.batch_job_poll(job_id=job.pk) == "submitted"
    assert services.batch_job_poll(job_id=job.pk) == "completed"
    rows = {r.pk: r for r in LLMRequest.objects.all()}
    assert rows[ids[0]].status == "succeeded"
    assert float(rows[ids[0]].cost_usd) == pytest.approx((500 * 0.25 + 1000 * 0.025 + 300 * 2.0) / 1e6 / 2)
    assert (rows[ids[1]].status, rows[ids[1]].error_category) == ("failed", "server_error")
    assert (rows[ids[2]].status, rows[ids[2]].error_category) == ("failed", "expired")  # never reported
