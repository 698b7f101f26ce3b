"""The circuit breaker and the token bucket: shared in Redis, deferring work, never failing it."""

import pytest

from llmgateway import services
from llmgateway.breaker import breaker_allow, breaker_record, breaker_states
from llmgateway.models import LLMRequest
from llmgateway.providers import PROVIDER_CLASSES
from llmgateway.providers.base import ProviderError, RateLimitInfo
from llmgateway.ratelimit import rate_acquire, rate_observe
from llmgateway.schemas import PromptParts
from llmgateway.store import key, shared_redis
from tests.llmgateway.conftest import STRONG, WEAK
from tests.llmgateway.test_comparison_service import GOOD, ScriptedProvider

MOCK = {"provider": "mock", "model": "mock-heuristic-v1"}


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setitem(PROVIDER_CLASSES, "mock", ScriptedProvider)
    ScriptedProvider.calls = 0
    return ScriptedProvider


def _request():
    return services.comparison_request_create(parts=PromptParts(essay_a=STRONG, essay_b=WEAK), overrides=None, metadata={"n": 1})


def test_the_breaker_opens_after_repeated_retryable_failures_and_half_opens_for_one_probe(settings):
    settings.LLM_BREAKER_FAILURE_THRESHOLD = 3
    settings.LLM_BREAKER_COOLDOWN_SECONDS = 30
    breaker_record(**MOCK, retryable_failures=2)
    assert breaker_allow(**MOCK).admitted
    assert breaker_record(**MOCK, retryable_failures=1) == "open"
    closed = breaker_allow(**MOCK)
    assert (closed.admitted, closed.state) == (False, "open") and 29 < closed.wait_seconds <= 30
    assert breaker_states() == {("mock", "mock-heuristic-v1"): "open"}
    shared_redis().hset(key("breaker", "mock", "mock-heuristic-v1"), "opened_until", 1)  # the cooldown has passed
    probe = breaker_allow(**MOCK)
    assert (probe.admitted, probe.state) == (True, "half_open")
    assert not breaker_allow(**MOCK).admitted  # one probe at a time
    assert breaker_record(**MOCK, retryable_failures=1) == "open"  # the probe failed: open again
    shared_redis().hset(key("breaker", "mock", "mock-heuristic-v1"), "opened_until", 1)
    breaker_allow(**MOCK)
    assert breaker_record(**MOCK, successes=1) == "closed"
    assert breaker_allow(**MOCK).state == "closed"


@pytest.mark.django_db
def test_an_open_breaker_defers_work_without_spending_an_attempt_or_failing_it(scripted, settings):
    settings.LLM_BREAKER_FAILURE_THRESHOLD = 1
    scripted.script = [ProviderError("overloaded", "HTTP 529", retryable=True), GOOD]
    first, second = _request(), _request()
    services.comparison_run(request_ids=[first.pk])  # fails once: the breaker opens
    report = services.comparison_run(request_ids=[second.pk])
    second.refresh_from_db()
    assert report.deferred_only and report.countdown > 1
    assert (second.status, second.attempts, second.error_category) == ("queued", 0, "")
    assert second.attempt_log[-1]["deferred"] == "breaker_open"
    assert scripted.calls == 1


@pytest.mark.django_db
def test_terminal_failures_do_not_open_the_breaker(scripted, settings):
    settings.LLM_BREAKER_FAILURE_THRESHOLD = 1
    scripted.script = [ProviderError("bad_request", "HTTP 400", retryable=False), GOOD]
    services.comparison_run(request_ids=[_request().pk])
    services.comparison_run(request_ids=[(ok := _request()).pk])
    assert LLMRequest.objects.get(pk=ok.pk).status == "succeeded"


def test_the_bucket_grants_what_it_has_and_names_the_wait_for_the_rest(settings):
    settings.LLM_RATE_LIMIT_REQUESTS_PER_MINUTE = 60
    grant = rate_acquire(**MOCK, requests=100, tokens_each=10)
    assert grant.granted == 60 and 0.9 < grant.wait_seconds < 1.2
    assert rate_acquire(**MOCK, requests=1, tokens_each=10).granted == 0


def test_the_bucket_limits_tokens_per_minute_too(settings):
    settings.LLM_RATE_LIMIT_TOKENS_PER_MINUTE = 10_000
    grant = rate_acquire(**MOCK, requests=10, tokens_each=3_000)
    assert grant.granted == 3 and grant.wait_seconds > 0


def test_the_bucket_adapts_to_the_providers_headers_and_a_429_blocks_it():
    assert rate_acquire(**MOCK, requests=50, tokens_each=10).granted == 50  # no limit known yet
    rate_observe(**MOCK, limits=RateLimitInfo(requests_limit=100, requests_remaining=2))
    assert rate_acquire(**MOCK, requests=50, tokens_each=10).granted == 2
    rate_observe(**MOCK, retry_after=20)
    blocked = rate_acquire(**MOCK, requests=1, tokens_each=10)
    assert blocked.granted == 0 and 19 < blocked.wait_seconds <= 20


@pytest.mark.django_db
def test_a_request_deferred_by_the_bucket_is_queued_again_not_failed(settings):
    settings.LLM_RATE_LIMIT_REQUESTS_PER_MINUTE = 1
    first, second = _request(), _request()
    report = services.comparison_run(request_ids=[first.pk, second.pk], concurrent=True)
    statuses = sorted(LLMRequest.objects.values_list("status", flat=True))
    assert statuses == ["queued", "succeeded"] and report.deferred_only and report.countdown > 30
