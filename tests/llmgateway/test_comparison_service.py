"""The gateway's comparison service with the mock judge and a scripted provider."""

import logging

import pytest

from cjproject.errors import InvalidInput
from llmgateway import services
from llmgateway.models import LLMRequest
from llmgateway.prompts import build_prompt
from llmgateway.providers import PROVIDER_CLASSES
from llmgateway.providers.base import ProviderError, ProviderReply
from llmgateway.providers.mock import MockProvider, text_quality
from llmgateway.schemas import LLMConfigOverrides, PromptParts, Usage
from llmgateway.services import calls
from llmgateway.store import key, shared_redis
from tests.llmgateway.conftest import STRONG, WEAK


class ScriptedProvider(MockProvider):
    """Answers from a script, one step per call: an LLM stand-in for the failure paths."""

    script: list = []
    calls = 0

    def compare(self, request, *, context):
        type(self).calls += 1
        step = type(self).script.pop(0)
        if isinstance(step, Exception):
            raise step
        return ProviderReply(answer=step, raw={"scripted": step}, usage=Usage(input_tokens=1000, output_tokens=100))


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setitem(PROVIDER_CLASSES, "mock", ScriptedProvider)
    ScriptedProvider.calls = 0
    return ScriptedProvider


GOOD = {"winner": "A", "justification": "clearer", "confidence": 4}


def _request(**kwargs):
    return services.comparison_request_create(
        parts=PromptParts(student_prompt="Task", instructions="Rubric", essay_a=STRONG, essay_b=WEAK),
        overrides=kwargs.pop("overrides", None),
        metadata=kwargs.pop("metadata", {"comparison_id": 7}),
        **kwargs,
    )


def test_the_heuristic_prefers_richer_text():
    assert text_quality(STRONG) > text_quality(WEAK)


@pytest.mark.django_db
def test_the_mock_judge_is_deterministic_and_echoes_the_metadata():
    first = services.comparison_execute(request_id=_request().pk)
    second = services.comparison_execute(request_id=_request().pk)
    assert first.status == "succeeded"
    assert (first.answer, first.prompt_sha256) == (second.answer, second.prompt_sha256)
    assert first.answer.winner == "A"
    assert first.metadata == {"comparison_id": 7}
    assert "not an LLM" in first.answer.justification
    assert first.usage.input_tokens > 0
    assert (first.provider, first.model) == ("mock", "mock-heuristic-v1")


@pytest.mark.django_db
def test_the_simulated_judge_follows_the_latent_quality_in_the_metadata():
    overrides = LLMConfigOverrides(model_override="mock-simulated-v1")
    wins = 0
    for i in range(40):
        result = services.comparison_execute(
            request_id=_request(
                overrides=overrides, metadata={"simulated_quality_a": 3.0, "simulated_quality_b": -3.0, "i": i}
            ).pk
        )
        wins += result.answer.winner == "A"
        assert result.cost_usd > 0  # the simulated model has prices: accounting is exercised
    assert wins >= 36


@pytest.mark.django_db
def test_the_simulated_judge_without_qualities_is_a_terminal_bad_request():
    result = services.comparison_execute(request_id=_request(overrides=LLMConfigOverrides(model_override="mock-simulated-v1")).pk)
    assert (result.status, result.error_category, result.attempts) == ("failed", "bad_request", 1)


@pytest.mark.django_db
def test_confidence_one_stays_one(scripted):
    scripted.script = [{"winner": "B", "justification": "close call", "confidence": 1}]
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.answer.winner, result.answer.confidence) == ("B", 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer",
    [
        {"justification": "no winner given", "confidence": 3},
        {"winner": "C", "justification": "?", "confidence": 3},
        {"winner": "A", "justification": "x", "confidence": 7},
        None,
    ],
)
def test_a_missing_or_unknown_winner_is_an_invalid_response_never_a(scripted, settings, answer):
    settings.LLM_INVALID_RESPONSE_RETRIES = 0
    scripted.script = [answer]
    result = services.comparison_execute(request_id=_request().pk)
    assert result.status == "failed"
    assert result.answer is None
    assert result.error_category == "invalid_response"
    assert LLMRequest.objects.get(pk=result.request_id).raw_response == {"scripted": answer}


@pytest.mark.django_db
def test_an_invalid_answer_is_retried_a_bounded_number_of_times_then_fails(scripted, settings):
    settings.LLM_INVALID_RESPONSE_RETRIES = 2
    bad = {"justification": "no winner", "confidence": 3}
    scripted.script = [bad, bad, bad, GOOD]
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.error_category, scripted.calls) == ("failed", "invalid_response", 3)
    log = LLMRequest.objects.get(pk=result.request_id).attempt_log
    assert [e["raw"] for e in log] == [{"scripted": bad}] * 3  # every invalid answer is kept


@pytest.mark.django_db
def test_a_malformed_answer_then_a_good_one_succeeds_and_both_calls_are_billed(scripted):
    scripted.script = [{"winner": None, "justification": "x", "confidence": 2}, GOOD]
    result = services.comparison_execute(request_id=_request(overrides=LLMConfigOverrides(model_override="mock-simulated-v1")).pk)
    assert (result.status, result.attempts, result.answer.winner) == ("succeeded", 2, "A")
    assert result.usage.input_tokens == 2000
    assert result.cost_usd == pytest.approx(2 * (1000 * 1.0 + 100 * 5.0) / 1e6)


@pytest.mark.django_db
def test_a_terminal_error_is_not_retried(scripted):
    scripted.script = [ProviderError("authentication", "HTTP 401", retryable=False), GOOD]
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.error_category, scripted.calls) == ("failed", "authentication", 1)


@pytest.mark.django_db
def test_retryable_errors_are_retried_until_the_attempt_limit(scripted, settings):
    settings.LLM_MAX_ATTEMPTS = 3
    scripted.script = [ProviderError("server_error", "HTTP 500", retryable=True)] * 3 + [GOOD]
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.error_category, result.attempts, scripted.calls) == ("failed", "server_error", 3, 3)


@pytest.mark.django_db
def test_it_waits_at_least_the_retry_after_of_a_429(scripted, settings):
    settings.LLM_RETRY_BASE_DELAY = 0.1
    scripted.script = [ProviderError("rate_limited", "HTTP 429", retryable=True, retry_after=42.0), GOOD]
    request = _request()
    report = services.comparison_run(request_ids=[request.pk])
    assert report.retry_ids == [request.pk] and report.countdown >= 42.0
    assert not report.deferred_only
    assert LLMRequest.objects.get(pk=request.pk).status == "queued"
    # The 429 blocks the shared bucket: an early retry (any worker's) is deferred, not sent.
    early = services.comparison_run(request_ids=[request.pk])
    assert early.deferred_only and early.countdown > 40 and scripted.calls == 1
    shared_redis().delete(key("ratelimit", "mock", "mock-heuristic-v1"))  # as if 42 s had passed
    services.comparison_run(request_ids=[request.pk])
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("succeeded", 2)


def test_backoff_is_jittered_exponential_and_capped(settings):
    settings.LLM_RETRY_BASE_DELAY = 2.0
    settings.LLM_RETRY_MAX_DELAY = 60
    delays = [services.backoff_seconds(3) for _ in range(200)]
    assert min(delays) >= 4.0 and max(delays) <= 8.0 and len(set(delays)) > 100
    assert all(services.backoff_seconds(30) <= 60 for _ in range(50))
    assert services.backoff_seconds(30, retry_after=300) == 300  # a Retry-After is always honoured


@pytest.mark.django_db
def test_an_adapter_crash_fails_the_call_without_quoting_the_prompt(scripted, caplog):
    scripted.script = [RuntimeError(f"boom while reading {WEAK}")]
    with caplog.at_level(logging.DEBUG, logger="llmgateway"):
        result = services.comparison_execute(request_id=_request().pk)
    assert result.error_category == "internal"
    assert WEAK not in result.error_detail
    assert WEAK not in caplog.text


@pytest.mark.django_db
def test_a_redelivered_request_is_not_sent_to_the_provider_again(scripted):
    scripted.script = [GOOD]
    request = _request()
    first = services.comparison_execute(request_id=request.pk)
    again = services.comparison_execute(request_id=request.pk)
    assert scripted.calls == 1
    assert again == first


@pytest.mark.django_db
def test_temperature_zero_reaches_the_provider_request_as_zero():
    request = _request(overrides=LLMConfigOverrides(temperature_override=0.0))
    overrides = LLMConfigOverrides.model_validate(request.overrides)
    provider, model = services.provider_resolve(overrides=overrides)
    from llmgateway.manifest import model_get

    canonical = provider.canonical_request(
        build_prompt(PromptParts.model_validate(request.prompt_parts)),
        model=model_get(provider="mock", model=model),
        overrides=overrides,
    )
    assert canonical["temperature"] == 0.0 and canonical["temperature"] is not None


@pytest.mark.django_db
def test_an_unconfigured_provider_or_unknown_model_is_refused_naming_the_field_and_the_valid_ones(settings):
    settings.LLM_CREDENTIALS = {**settings.LLM_CREDENTIALS, "anthropic": {"api_key": "", "base_url": ""}}
    with pytest.raises(InvalidInput) as excinfo:
        services.provider_resolve(overrides=LLMConfigOverrides(provider_override="anthropic"))
    assert "set ANTHROPIC_API_KEY" in str(excinfo.value)
    with pytest.raises(InvalidInput) as excinfo:
        services.provider_resolve(overrides=LLMConfigOverrides(model_override="gpt-9"))
    assert "llm_config_overrides.model_override" in excinfo.value.fields
    assert "mock-heuristic-v1" in str(excinfo.value)


@pytest.mark.django_db
def test_a_temperature_for_a_model_without_one_is_refused(settings):
    settings.LLM_CREDENTIALS = {**settings.LLM_CREDENTIALS, "openai": {"api_key": "k", "base_url": ""}}
    with pytest.raises(InvalidInput) as excinfo:
        services.provider_resolve(
            overrides=LLMConfigOverrides(provider_override="openai", model_override="gpt-5-mini", temperature_override=0.0)
        )
    assert "llm_config_overrides.temperature_override" in excinfo.value.fields


class _Retried(Exception):
    pass


@pytest.mark.django_db
def test_the_task_retries_through_a_celery_countdown_and_delivers_once(scripted, monkeypatch):
    from llmgateway import tasks

    scripted.script = [ProviderError("overloaded", "HTTP 529", retryable=True, retry_after=3.0), GOOD]
    countdowns, delivered = [], []

    def retry(*, args, countdown, max_retries):
        countdowns.append(countdown)
        raise _Retried

    monkeypatch.setattr(tasks.run_comparison, "retry", retry)
    monkeypatch.setattr(calls, "comparison_deliver", lambda *, result, callback: delivered.append(result))
    request = _request()
    with pytest.raises(_Retried):
        tasks.run_comparison(request.pk)  # as a worker runs it: not eager
    assert countdowns[0] >= 3.0 and delivered == []
    shared_redis().delete(key("ratelimit", "mock", "mock-heuristic-v1"))
    tasks.run_comparison(request.pk)
    assert [r.status for r in delivered] == ["succeeded"]


@pytest.mark.django_db
def test_a_retry_after_beyond_the_longest_countdown_is_kept_by_the_shared_bucket(scripted, settings, monkeypatch):
    from llmgateway import tasks

    settings.LLM_RETRY_MAX_DELAY = 60
    scripted.script = [ProviderError("rate_limited", "HTTP 429", retryable=True, retry_after=900.0), GOOD]
    countdowns = []

    def retry(*, args, countdown, max_retries):
        countdowns.append(countdown)
        raise _Retried

    monkeypatch.setattr(tasks.run_comparison, "retry", retry)
    request = _request()
    for _ in range(2):
        with pytest.raises(_Retried):
            tasks.run_comparison(request.pk)
    request.refresh_from_db()
    assert countdowns == [60, 60]  # below the broker's visibility timeout
    assert (request.status, request.attempts, scripted.calls) == ("queued", 1, 1)  # the early retry was deferred, not sent


@pytest.mark.django_db
def test_in_process_a_retry_runs_again_at_once(scripted):
    from llmgateway import tasks

    scripted.script = [ProviderError("server_error", "HTTP 500", retryable=True), GOOD]
    request = _request()
    tasks.run_comparison.apply(args=[request.pk])
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("succeeded", 2)
