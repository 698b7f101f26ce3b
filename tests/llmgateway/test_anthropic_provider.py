"""Anthropic through the real SDK against a local fake server: forced tool use, caching, usage,
error categories, retries and Message Batches."""

import json
import logging

import pytest

from llmgateway import services
from llmgateway.models import LLMRequest, ProviderBatchJob
from llmgateway.schemas import LLMConfigOverrides, PromptParts
from llmgateway.store import key, shared_redis
from tests.llmgateway.conftest import STRONG, WEAK
from tests.llmgateway.fakeserver import Reply

MESSAGES = "/v1/messages"
ANSWER = {"winner": "B", "justification": "Essay B argues more clearly.", "confidence": 1}


def message(answer=ANSWER, *, stop_reason="tool_use", usage=None):
    content = [{"type": "tool_use", "id": "toolu_1", "name": "comparison_result", "input": answer}] if answer is not None else []
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage
        or {"input_tokens": 1200, "output_tokens": 80, "cache_read_input_tokens": 3000, "cache_creation_input_tokens": 0},
    }


def error(status, kind, headers=None):
    return Reply(status, {"type": "error", "error": {"type": kind, "message": "scripted"}}, headers or {})


def _request(overrides=None, rubric="Reward structure."):
    overrides = overrides or LLMConfigOverrides(provider_override="anthropic")
    return services.comparison_request_create(
        parts=PromptParts(student_prompt="Write about a role model.", instructions=rubric, essay_a=STRONG, essay_b=WEAK),
        overrides=overrides,
        metadata={"essay_a_id": 1, "essay_b_id": 2, "batch_id": 9},
    )


def _unblock():
    shared_redis().delete(key("ratelimit", "anthropic", "claude-sonnet-4-6"))


@pytest.mark.django_db
def test_it_forces_the_tool_and_records_answer_usage_and_cost(anthropic_server):
    anthropic_server.on("POST", MESSAGES, Reply(200, message(), {"anthropic-ratelimit-requests-limit": "50"}))
    result = services.comparison_execute(request_id=_request().pk)

    sent = anthropic_server.calls("POST", MESSAGES)[0]
    body = sent.json()
    assert body["tool_choice"] == {"type": "tool", "name": "comparison_result"}
    assert body["tools"][0]["input_schema"]["additionalProperties"] is False
    assert body["model"] == "claude-sonnet-4-6"  # the manifest's default
    assert "sk-ant-test-secret" in sent.headers.get("x-api-key", "") + sent.headers.get("authorization", "")
    assert "ESSAY A" in json.dumps(body["messages"]) and "essay_a_id" not in json.dumps(body)
    assert (result.status, result.answer.winner, result.answer.confidence) == ("succeeded", "B", 1)
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.cache_read_tokens) == (1200, 80, 3000)
    assert result.cost_usd == pytest.approx((1200 * 3 + 80 * 15 + 3000 * 0.3) / 1e6)
    assert result.metadata == {"essay_a_id": 1, "essay_b_id": 2, "batch_id": 9}
    assert len(result.prompt_sha256) == 64
    assert shared_redis().hget(key("ratelimit", "anthropic", "claude-sonnet-4-6"), "rpm") == b"50"


@pytest.mark.django_db
def test_cache_control_marks_the_static_block_only_when_it_reaches_the_minimum(anthropic_server):
    anthropic_server.on("POST", MESSAGES, Reply(200, message()))
    services.comparison_execute(request_id=_request(rubric="Short rubric.").pk)
    services.comparison_execute(request_id=_request(rubric="Reward structure and precise language. " * 200).pk)
    short, long = (c.json() for c in anthropic_server.calls("POST", MESSAGES))
    assert "cache_control" not in json.dumps(short)
    marked = [part for part in long["messages"][0]["content"] if "cache_control" in part]
    assert len(marked) == 1 and "<assessment_instructions>" in marked[0]["text"]
    assert "ESSAY A" not in marked[0]["text"]  # the essays are never in the cached prefix


@pytest.mark.django_db
def test_temperature_zero_reaches_the_provider_as_zero(anthropic_server):
    anthropic_server.on("POST", MESSAGES, Reply(200, message()))
    services.comparison_execute(
        request_id=_request(LLMConfigOverrides(provider_override="anthropic", temperature_override=0.0)).pk
    )
    assert anthropic_server.calls("POST", MESSAGES)[0].json()["temperature"] == 0.0


@pytest.mark.django_db
def test_it_retries_a_429_after_its_retry_after_then_succeeds(anthropic_server):
    anthropic_server.on("POST", MESSAGES, error(429, "rate_limit_error", {"retry-after": "7"}), Reply(200, message()))
    request = _request()
    report = services.comparison_run(request_ids=[request.pk])
    assert report.countdown >= 7 and LLMRequest.objects.get(pk=request.pk).status == "queued"
    _unblock()
    services.comparison_run(request_ids=[request.pk])
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("succeeded", 2)
    assert request.attempt_log[0]["category"] == "rate_limited" and request.attempt_log[0]["retry_in_s"] >= 7


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "kind", "category"), [(529, "overloaded_error", "overloaded"), (500, "api_error", "server_error")]
)
def test_an_overloaded_or_failing_server_is_retried_then_succeeds(anthropic_server, status, kind, category):
    anthropic_server.on("POST", MESSAGES, error(status, kind), Reply(200, message()))
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.attempts) == ("succeeded", 2)
    assert LLMRequest.objects.get(pk=result.request_id).attempt_log[0]["category"] == category


@pytest.mark.django_db
def test_a_malformed_tool_answer_then_a_good_one_succeeds(anthropic_server):
    anthropic_server.on(
        "POST", MESSAGES, Reply(200, message({"justification": "no winner", "confidence": 3})), Reply(200, message())
    )
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.answer.winner, result.attempts) == ("succeeded", "B", 2)


@pytest.mark.django_db
def test_a_missing_winner_is_never_a(anthropic_server, settings):
    settings.LLM_INVALID_RESPONSE_RETRIES = 0
    anthropic_server.on("POST", MESSAGES, Reply(200, message({"justification": "unsure", "confidence": 2})))
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.answer, result.error_category) == ("failed", None, "invalid_response")
    assert result.raw_response["content"][0]["input"] == {"justification": "unsure", "confidence": 2}


@pytest.mark.django_db
def test_a_timeout_is_a_retryable_timeout(anthropic_server, settings):
    settings.LLM_REQUEST_TIMEOUT = 0.3
    anthropic_server.on("POST", MESSAGES, Reply(200, message(), delay=1.0))
    report = services.comparison_run(request_ids=[_request().pk])
    request = LLMRequest.objects.get()
    assert report.retry_ids == [request.pk] and request.attempt_log[0]["category"] == "timeout"


@pytest.mark.django_db
def test_a_401_is_terminal_never_retried_and_the_key_never_logged(anthropic_server, caplog):
    anthropic_server.on("POST", MESSAGES, error(401, "authentication_error"), Reply(200, message()))
    with caplog.at_level(logging.DEBUG):
        result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.error_category, result.attempts) == ("failed", "authentication", 1)
    assert len(anthropic_server.calls("POST", MESSAGES)) == 1
    assert "sk-ant-test-secret" not in caplog.text + result.error_detail


@pytest.mark.django_db
def test_a_refusal_is_terminal_content_filtered(anthropic_server):
    anthropic_server.on("POST", MESSAGES, Reply(200, message(None, stop_reason="refusal")))
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.error_category, result.attempts) == ("failed", "content_filtered", 1)


@pytest.mark.django_db
def test_a_prompt_too_long_is_terminal(anthropic_server):
    anthropic_server.on(
        "POST",
        MESSAGES,
        Reply(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}}),
    )
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.error_category) == ("failed", "context_too_long")


@pytest.mark.django_db
def test_a_message_batch_with_mixed_item_results_settles_each_item(anthropic_server, settings):
    settings.LLM_INVALID_RESPONSE_RETRIES = 0
    settings.LLM_MAX_ATTEMPTS = 1
    ids = [_request().pk for _ in range(4)]
    job = services.comparison_signatures(request_ids=ids, batching_mode="provider_batch_api")
    assert [s.task for s in job] == ["llmgateway.await_provider_batch"]
    job_id = ProviderBatchJob.objects.get().pk
    batch = {
        "id": "msgbatch_1",
        "type": "message_batch",
        "processing_status": "in_progress",
        "request_counts": {"processing": 4, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
        "created_at": "2026-11-27T10:00:00Z",
        "expires_at": "2026-11-28T10:00:00Z",
        "ended_at": None,
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": None,
    }
    ended = {
        **batch,
        "processing_status": "ended",
        "results_url": anthropic_server.url + "/v1/messages/batches/msgbatch_1/results",
    }
    lines = [
        {"custom_id": str(ids[0]), "result": {"type": "succeeded", "message": message()}},
        {
            "custom_id": str(ids[1]),
            "result": {
                "type": "errored",
                "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}},
            },
        },
        {"custom_id": str(ids[2]), "result": {"type": "expired"}},
        {"custom_id": str(ids[3]), "result": {"type": "succeeded", "message": message({"confidence": 2, "justification": "?"})}},
    ]
    anthropic_server.on("POST", "/v1/messages/batches", Reply(200, batch))
    anthropic_server.on("GET", "/v1/messages/batches/msgbatch_1", Reply(200, batch), Reply(200, ended))
    anthropic_server.on(
        "GET", "/v1/messages/batches/msgbatch_1/results", Reply(200, raw="\n".join(map(json.dumps, lines)).encode())
    )

    assert services.batch_job_submit(job_id=job_id) == "submitted"
    assert services.batch_job_submit(job_id=job_id) == "submitted"  # submitted once only
    submitted = anthropic_server.calls("POST", "/v1/messages/batches")
    assert len(submitted) == 1
    assert [r["custom_id"] for r in submitted[0].json()["requests"]] == [str(i) for i in ids]
    assert services.batch_jobs_poll() == {"polled": 1, "ended": 0}
    assert services.batch_jobs_poll() == {"polled": 1, "ended": 1}

    rows = {r.pk: r for r in LLMRequest.objects.all()}
    assert (rows[ids[0]].status, rows[ids[0]].result["winner"]) == ("succeeded", "B")
    assert float(rows[ids[0]].cost_usd) == pytest.approx((1200 * 3 + 80 * 15 + 3000 * 0.3) / 1e6 / 2)  # the batch discount
    assert (rows[ids[1]].status, rows[ids[1]].error_category) == ("failed", "bad_request")
    assert (rows[ids[2]].status, rows[ids[2]].error_category) == ("failed", "expired")
    assert (rows[ids[3]].status, rows[ids[3]].error_category) == ("failed", "invalid_response")
