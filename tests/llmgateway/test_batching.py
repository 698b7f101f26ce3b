"""Batching modes: one task per comparison, bundles run concurrently with each item on its own,
and provider batch jobs; a whole CJ batch completes in each mode."""

import threading

import pytest

from assessments import services as cj_services
from assessments.models import Batch
from llmgateway import services
from llmgateway.models import LLMRequest, ProviderBatchJob
from llmgateway.providers import PROVIDER_CLASSES
from llmgateway.providers.base import ProviderError, ProviderReply
from llmgateway.providers.mock import MockProvider
from llmgateway.schemas import LLMConfigOverrides, PromptParts
from llmgateway.services import calls
from tests.conftest import essays
from tests.llmgateway.conftest import STRONG, WEAK
from tests.llmgateway.test_comparison_service import GOOD


def _requests(n, **kwargs):
    return [
        services.comparison_request_create(
            parts=PromptParts(essay_a=STRONG, essay_b=WEAK), overrides=kwargs.get("overrides"), metadata={"i": i}
        ).pk
        for i in range(n)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mode", "tasks"),
    [
        ("per_request", ["llmgateway.run_comparison"] * 5),
        ("serial_bundle", ["llmgateway.run_comparison_bundle"] * 3),
        ("provider_batch_api", ["llmgateway.await_provider_batch"]),
    ],
)
def test_each_mode_builds_a_flat_header(settings, mode, tasks):
    settings.LLM_BUNDLE_SIZE = 2
    ids = _requests(5)
    signatures = services.comparison_signatures(request_ids=ids, batching_mode=mode)
    assert [s.task for s in signatures] == tasks
    assert set(LLMRequest.objects.values_list("batching_mode", flat=True)) == {mode}
    if mode == "serial_bundle":
        assert [s.args[0] for s in signatures] == [ids[0:2], ids[2:4], ids[4:5]]


@pytest.mark.django_db
def test_with_hints_off_the_default_mode_applies(settings):
    settings.LLM_BATCHING_HINTS = False
    settings.LLM_BATCHING_MODE = "serial_bundle"
    signatures = services.comparison_signatures(request_ids=_requests(3), batching_mode="per_request")
    assert [s.task for s in signatures] == ["llmgateway.run_comparison_bundle"]


@pytest.mark.django_db
def test_a_provider_without_a_batch_api_falls_back_to_bundles(settings):
    settings.LLM_CREDENTIALS = {
        **settings.LLM_CREDENTIALS,
        "openai_compatible": {"api_key": "", "base_url": "http://127.0.0.1:9/v1"},
    }
    ids = _requests(3, overrides=LLMConfigOverrides(provider_override="openai_compatible"))
    signatures = services.comparison_signatures(request_ids=ids, batching_mode="provider_batch_api")
    assert [s.task for s in signatures] == ["llmgateway.run_comparison_bundle"]
    assert not ProviderBatchJob.objects.exists()


class BarrierProvider(MockProvider):
    """Every call waits until `parties` calls are in flight at once: it proves concurrency."""

    barrier: threading.Barrier

    def compare(self, request, *, context):
        type(self).barrier.wait(timeout=10)
        return super().compare(request, context=context)


@pytest.mark.django_db(transaction=True)
def test_a_bundle_keeps_its_calls_in_flight_at_once(monkeypatch):
    BarrierProvider.barrier = threading.Barrier(40)
    monkeypatch.setitem(PROVIDER_CLASSES, "mock", BarrierProvider)
    ids = _requests(40)
    report = services.comparison_run(request_ids=ids, concurrent=True)
    assert report.delivered == 40 and not report.retry_ids
    assert LLMRequest.objects.filter(status="succeeded").count() == 40


class ByRequestProvider(MockProvider):
    """Fails or answers according to the request's metadata: one behaviour per item."""

    calls: list = []

    def compare(self, request, *, context):
        type(self).calls.append(context.request_id)
        kind = context.metadata["kind"]
        if kind == "terminal":
            raise ProviderError("bad_request", "HTTP 400", retryable=False)
        if kind == "retryable" and context.attempt == 1:
            raise ProviderError("server_error", "HTTP 500", retryable=True)
        if kind == "crash":
            raise RuntimeError("adapter bug")
        return ProviderReply(answer=GOOD, raw=GOOD)


@pytest.mark.django_db(transaction=True)
def test_one_items_failure_never_fails_or_repeats_another(monkeypatch):
    monkeypatch.setitem(PROVIDER_CLASSES, "mock", ByRequestProvider)
    ByRequestProvider.calls = []
    delivered = []
    monkeypatch.setattr(calls, "comparison_deliver", lambda *, result, callback: delivered.append(result.request_id))
    ids = {
        kind: services.comparison_request_create(
            parts=PromptParts(essay_a="a", essay_b="b"), overrides=None, metadata={"kind": kind}
        ).pk
        for kind in ("good", "terminal", "retryable", "crash")
    }
    report = services.comparison_run(request_ids=list(ids.values()), concurrent=True)
    assert report.retry_ids == [ids["retryable"]]
    assert sorted(delivered) == sorted([ids["good"], ids["terminal"], ids["crash"]])
    again = services.comparison_run(request_ids=report.retry_ids, concurrent=True)
    assert not again.retry_ids and delivered[-1] == ids["retryable"]
    assert ByRequestProvider.calls.count(ids["good"]) == 1
    status = dict(LLMRequest.objects.values_list("pk", "status"))
    assert [status[ids[k]] for k in ("good", "terminal", "retryable", "crash")] == ["succeeded", "failed", "succeeded", "failed"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["serial_bundle", "provider_batch_api"])
def test_a_cj_batch_completes_in_each_mode(owner, assignment, settings, mode):
    settings.LLM_BUNDLE_SIZE = 7
    batch = cj_services.batch_create(
        owner=owner, request={"essays": essays(8), "assignment_id": assignment.pk, "options": {"batching_mode": mode}}
    )
    cj_services.batch_start(batch_id=batch.pk)
    batch = Batch.objects.get(pk=batch.pk)
    assert batch.is_terminal and batch.state == "completed"
    assert batch.comparisons_succeeded == batch.comparisons_planned > 0
    assert set(LLMRequest.objects.values_list("batching_mode", flat=True)) == {mode}
    sent = batch.comparisons.values_list("request_metadata__cj_llm_batching_mode", flat=True)
    assert set(sent) == {mode}
