"""Running stored requests against providers and delivering each final result to its callback.

Running requests (`comparison_run`), for one request or a bundle:
1. Load the rows; a request already finished (a redelivered task) is delivered again, not sent.
2. Claim the rest (`queued` → `running`, one conditional UPDATE).
3. Per provider/model: ask the circuit breaker, then the token bucket; what they refuse is
   *deferred* (back to `queued`, no attempt counted) for the wait they name.
4. Call the provider: one call inline, several on the process's thread pool (`concurrency.py`).
5. Settle each outcome in this thread (the database and callbacks stay on one connection):
   a valid answer succeeds; an invalid one is retried up to `LLM_INVALID_RESPONSE_RETRIES`
   times, then fails `invalid_response`; a retryable error is retried (jittered exponential
   backoff, never less than its Retry-After) up to `LLM_MAX_ATTEMPTS`; a terminal one fails.
6. Deliver each finished result to its callback before returning; report what must run again
   and after how long. The task turns that into one Celery countdown (`self.retry`), so a chord
   completes only after every final result has been delivered.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from pydantic import ValidationError

from cjproject.errors import InvalidInput
from llmgateway import concurrency
from llmgateway.breaker import breaker_allow, breaker_record
from llmgateway.manifest import cost_usd, model_get
from llmgateway.metrics import MetricsBuffer, in_flight_add
from llmgateway.models import LLMRequest
from llmgateway.prompts import build_prompt, estimate_tokens, prompt_sha256
from llmgateway.providers import provider_get
from llmgateway.providers.base import CallContext, Provider, ProviderError, ProviderReply, RateLimitInfo
from llmgateway.ratelimit import rate_acquire, rate_observe
from llmgateway.schemas import ComparisonAnswer, ComparisonResult, LLMConfigOverrides, ManifestModel, PromptParts, Usage
from llmgateway.services.requests import comparison_webhook_schedule

logger = logging.getLogger(__name__)

DELIVERY_RETRY_SECONDS = 5.0
MAX_DELIVERY_FAILURES = 3
FINISHED = (LLMRequest.Status.SUCCEEDED, LLMRequest.Status.FAILED)


@dataclass
class RunReport:
    """What a run left to do: requests to run again, and the countdown before they may."""

    delivered: int = 0
    retry_ids: list[int] = field(default_factory=list)
    countdown: float = 0.0
    deferred_only: bool = True  # every retry is a deferral (breaker, rate limit): no attempt spent

    def again(self, request_id: int, countdown: float, *, deferral: bool) -> None:
        self.retry_ids.append(request_id)
        self.countdown = max(self.countdown, countdown)
        self.deferred_only = self.deferred_only and deferral


@dataclass
class Call:
    request: LLMRequest
    provider: Provider
    entry: ManifestModel
    canonical: dict[str, Any]
    sha: str
    context: CallContext
    tokens: int


def backoff_seconds(attempt: int, *, retry_after: float | None = None) -> float:
    """Jittered exponential backoff after `attempt` calls (half fixed, half random), capped by
    `LLM_RETRY_MAX_DELAY`, and never below a Retry-After.

    A Retry-After longer than the cap is still honoured: the task's countdown is capped (so it
    stays below the broker's visibility timeout), but the provider/model's shared bucket stays
    blocked until the Retry-After has passed, so the early retry is deferred again.
    """
    ceiling = min(settings.LLM_RETRY_MAX_DELAY, settings.LLM_RETRY_BASE_DELAY * 2 ** max(0, attempt - 1))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    return max(delay, retry_after or 0.0)


def call_prepare(request: LLMRequest) -> Call:
    overrides = LLMConfigOverrides.model_validate(request.overrides)
    provider = provider_get(request.provider)
    entry = model_get(provider=request.provider, model=request.model)
    prompt = build_prompt(PromptParts.model_validate(request.prompt_parts), overrides)
    canonical = provider.canonical_request(prompt, model=entry, overrides=overrides)
    sha = prompt_sha256({"provider": request.provider, "request": canonical})
    tokens = estimate_tokens(prompt.system) + estimate_tokens(prompt.user_text) + (overrides.max_tokens_override or 1024)
    context = CallContext(request_id=request.pk, attempt=request.attempts + 1, metadata=request.metadata)
    return Call(request, provider, entry, canonical, sha, context, tokens)


_Outcome = tuple[ProviderReply | None, ProviderError | None, float]


def _call(call: Call) -> _Outcome:
    """One provider call (any thread): no database work here."""
    started = time.monotonic()
    try:
        return call.provider.compare(call.canonical, context=call.context), None, time.monotonic() - started
    except ProviderError as exc:
        return None, exc, time.monotonic() - started
    except Exception as exc:  # noqa: BLE001 - a bug in an adapter must fail the call, not strand it
        # Only the exception's type is kept: its message could quote the prompt.
        logger.error("Provider adapter raised", extra={"llm_request_id": call.request.pk, "exception_type": type(exc).__name__})
        error = ProviderError("internal", f"unexpected {type(exc).__name__} in the {call.provider.name} adapter", retryable=False)
        return None, error, time.monotonic() - started


def comparison_run(*, request_ids: Sequence[int], concurrent: bool = False) -> RunReport:
    """Run stored requests (one, or a bundle) and deliver every final result; see the module doc."""
    report = RunReport()
    metrics = MetricsBuffer()
    try:
        _run(list(request_ids), concurrent=concurrent, report=report, metrics=metrics)
    finally:
        metrics.flush()
    return report


def _run(ids: list[int], *, concurrent: bool, report: RunReport, metrics: MetricsBuffer) -> None:
    now = timezone.now()
    rows = {r.pk: r for r in LLMRequest.objects.filter(pk__in=ids)}
    for pk in ids:
        if pk in rows and rows[pk].status in FINISHED:
            _deliver_or_retry(rows[pk], report=report, metrics=metrics)
    waiting = [pk for pk in ids if pk in rows and rows[pk].status not in FINISHED]
    if not waiting:
        return
    # Claim: queued → running. A row already `running` is a redelivered task whose worker died.
    LLMRequest.objects.filter(pk__in=waiting, status__in=[LLMRequest.Status.QUEUED, LLMRequest.Status.RUNNING]).update(
        status=LLMRequest.Status.RUNNING, started_at=Coalesce(F("started_at"), now)
    )
    for pk in waiting:
        if rows[pk].started_at is None:
            metrics.observe(
                "llm_provider_queue_wait_time_seconds", (now - rows[pk].created_at).total_seconds(), provider=rows[pk].provider
            )
    groups: dict[tuple[str, str], list[LLMRequest]] = defaultdict(list)
    for pk in waiting:
        groups[(rows[pk].provider, rows[pk].model)].append(rows[pk])
    calls: list[Call] = []
    for (provider, model), group in groups.items():
        calls += _admit(provider=provider, model=model, group=group, report=report, metrics=metrics)
    if not calls:
        return
    health: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    limits: dict[tuple[str, str], tuple[RateLimitInfo | None, float | None]] = {}
    for completed in _execute(calls, concurrent=concurrent):
        # One transaction per group of completed calls: a commit (an fsync) costs more than the
        # writes, and the results are still stored and delivered before the task ends.
        with transaction.atomic():
            for call, (reply, error, seconds) in completed:
                group_key = (call.request.provider, call.request.model)
                if reply is not None:
                    health[group_key][0] += 1
                    if reply.rate_limits:
                        limits[group_key] = (reply.rate_limits, limits.get(group_key, (None, None))[1])
                elif error is not None and error.retryable and error.category != "expired":
                    health[group_key][1] += 1
                    if error.retry_after is not None:  # the provider asked every caller to wait
                        info, wait = limits.get(group_key, (None, None))
                        limits[group_key] = (info, max(wait or 0.0, error.retry_after))
                call_settle(call, reply=reply, error=error, seconds=seconds, batch=False, report=report, metrics=metrics)
    for (provider, model), (successes, failures) in health.items():
        breaker_record(provider=provider, model=model, successes=successes, retryable_failures=failures)
    for (provider, model), (info, retry_after) in limits.items():
        rate_observe(provider=provider, model=model, limits=info, retry_after=retry_after)


def _admit(*, provider: str, model: str, group: list[LLMRequest], report: RunReport, metrics: MetricsBuffer) -> list[Call]:
    """Ask the breaker and the token bucket; defer what they refuse, prepare the rest."""
    admission = breaker_allow(provider=provider, model=model)
    admitted = group if admission.admitted else []
    if admission.admitted and admission.state == "half_open":
        admitted = group[:1]  # one probe while half-open
    deferred = [(r, max(admission.wait_seconds, 1.0), "breaker_open") for r in group[len(admitted) :]]
    calls: list[Call] = []
    for request in admitted:
        try:
            calls.append(call_prepare(request))
        except (InvalidInput, ValidationError) as exc:
            # The manifest or the stored request changed under it: nothing to call.
            detail = str(exc) if isinstance(exc, InvalidInput) else "stored request no longer valid"
            _finish_failed(request, category="configuration", detail=detail[:500], report=report, metrics=metrics)
    if calls:
        grant = rate_acquire(provider=provider, model=model, requests=len(calls), tokens_each=max(c.tokens for c in calls))
        deferred += [(c.request, grant.wait_seconds, "rate_limited_locally") for c in calls[grant.granted :]]
        calls = calls[: grant.granted]
    with transaction.atomic():  # one commit for all the deferrals of a bundle
        for request, wait, reason in deferred:
            _defer(request, wait=wait, reason=reason, report=report, metrics=metrics)
    return calls


def _execute(calls: list[Call], *, concurrent: bool) -> Iterator[list[tuple[Call, _Outcome]]]:
    """Call the providers (on the pool when concurrent); yield groups of completed calls."""
    by_provider: dict[str, int] = defaultdict(int)
    for call in calls:
        by_provider[call.request.provider] += 1
    for provider, count in by_provider.items():
        in_flight_add(provider, count)
    try:
        if concurrent and len(calls) > 1:
            groups: Iterator[list[tuple[Call, _Outcome]]] = concurrency.map_completed(_call, calls)
        else:
            groups = ([(call, _call(call))] for call in calls)
        for group in groups:
            ended: dict[str, int] = defaultdict(int)
            for call, _ in group:
                ended[call.request.provider] += 1
            for provider, count in ended.items():
                in_flight_add(provider, -count)
                by_provider[provider] -= count
            yield group
    finally:
        for provider, count in by_provider.items():
            if count:
                in_flight_add(provider, -count)


def _defer(request: LLMRequest, *, wait: float, reason: str, report: RunReport, metrics: MetricsBuffer) -> None:
    log = [*request.attempt_log, {"at": timezone.now().isoformat(), "deferred": reason, "wait_s": round(wait, 3)}]
    LLMRequest.objects.filter(pk=request.pk).update(status=LLMRequest.Status.QUEUED, attempt_log=log[-50:])
    request.attempt_log = log[-50:]
    metrics.inc("llm_provider_retries_total", provider=request.provider, model=request.model, reason=reason)
    report.again(request.pk, wait, deferral=True)


def call_settle(
    call: Call,
    *,
    reply: ProviderReply | None,
    error: ProviderError | None,
    seconds: float,
    batch: bool,
    report: RunReport,
    metrics: MetricsBuffer,
) -> None:
    """Decide what one outcome means: success, a retry, or a final failure; store it."""
    request, attempt = call.request, call.context.attempt
    labels = {"provider": request.provider, "model": request.model}
    metrics.observe("llm_provider_call_duration_seconds", seconds, **labels)
    answer: ComparisonAnswer | None = None
    if reply is not None:
        try:
            answer = ComparisonAnswer.model_validate(reply.answer)
        except ValidationError as exc:
            fields = sorted({".".join(map(str, e["loc"])) or "answer" for e in exc.errors()})
            error = ProviderError("invalid_response", f"invalid answer: {', '.join(fields)}", retryable=True)
    usage = reply.usage if reply is not None else Usage()
    cost = cost_usd(call.entry, usage, batch=batch)
    for kind in ("input", "output", "cache_read", "cache_write", "reasoning"):
        metrics.inc("llm_provider_tokens_total", getattr(usage, f"{kind}_tokens"), type=kind, **labels)
    metrics.inc("llm_provider_cost_usd_total", float(cost), **labels)
    common = {
        "prompt_sha256": call.sha,
        "attempts": attempt,
        "raw_response": reply.raw if reply is not None else None,
        # Usage and cost add up over attempts: every call that answered was billed.
        "input_tokens": request.input_tokens + usage.input_tokens,
        "output_tokens": request.output_tokens + usage.output_tokens,
        "cache_read_tokens": request.cache_read_tokens + usage.cache_read_tokens,
        "cache_write_tokens": request.cache_write_tokens + usage.cache_write_tokens,
        "reasoning_tokens": request.reasoning_tokens + usage.reasoning_tokens,
        "cost_usd": request.cost_usd + cost,
        "latency_ms": int(seconds * 1000),
    }
    if answer is not None:
        metrics.inc("llm_provider_calls_total", outcome="succeeded", **labels)
        _store(request, status=LLMRequest.Status.SUCCEEDED, result=answer.model_dump(mode="json"), **common)
        _deliver_or_retry(request, report=report, metrics=metrics)
        return
    assert error is not None
    metrics.inc("llm_provider_calls_total", outcome="failed", **labels)
    metrics.inc("llm_provider_errors_total", category=error.category, **labels)
    log = [
        *request.attempt_log,
        {"at": timezone.now().isoformat(), "attempt": attempt, "category": error.category, "detail": error.detail[:200]},
    ]
    if error.category == "invalid_response" and reply is not None:
        log[-1]["raw"] = reply.raw  # every invalid answer is kept, not only the last
    invalid_so_far = sum(1 for e in log if e.get("category") == "invalid_response")
    retry = error.retryable and attempt < settings.LLM_MAX_ATTEMPTS
    if error.category == "invalid_response":
        retry = retry and invalid_so_far <= settings.LLM_INVALID_RESPONSE_RETRIES
    if retry:
        wait = 0.0 if error.category == "invalid_response" else backoff_seconds(attempt, retry_after=error.retry_after)
        log[-1]["retry_in_s"] = round(wait, 3)
        _store(request, status=LLMRequest.Status.QUEUED, attempt_log=log[-50:], **common)
        metrics.inc("llm_provider_retries_total", reason=error.category, **labels)
        report.again(request.pk, wait, deferral=False)
        return
    _store(
        request,
        status=LLMRequest.Status.FAILED,
        error_category=error.category,
        error_detail=error.detail[:500],
        attempt_log=log[-50:],
        **common,
    )
    _deliver_or_retry(request, report=report, metrics=metrics)


def _store(request: LLMRequest, **fields: Any) -> None:
    if fields.get("status") in FINISHED:
        fields["finished_at"] = timezone.now()
    LLMRequest.objects.filter(pk=request.pk).update(**fields)
    for name, value in fields.items():
        setattr(request, name, value)


def _finish_failed(request: LLMRequest, *, category: str, detail: str, report: RunReport, metrics: MetricsBuffer) -> None:
    metrics.inc("llm_provider_errors_total", provider=request.provider, model=request.model, category=category)
    _store(request, status=LLMRequest.Status.FAILED, error_category=category, error_detail=detail)
    _deliver_or_retry(request, report=report, metrics=metrics)


def _deliver_or_retry(request: LLMRequest, *, report: RunReport, metrics: MetricsBuffer) -> None:
    """Deliver a final result; if the callback raises, run the request again shortly (it is
    finished, so running it again only delivers again), at most `MAX_DELIVERY_FAILURES` times."""
    result = result_of(request)
    try:
        with transaction.atomic():  # a savepoint: a failing callback undoes only its own writes
            comparison_deliver(result=result, callback=request.callback)
    except Exception as exc:  # noqa: BLE001 - the caller's bug must not strand the other results
        failures = sum(1 for e in request.attempt_log if "delivery_error" in e) + 1
        log = [*request.attempt_log, {"at": timezone.now().isoformat(), "delivery_error": type(exc).__name__}]
        LLMRequest.objects.filter(pk=request.pk).update(attempt_log=log[-50:])
        request.attempt_log = log[-50:]
        metrics.inc("llm_provider_comparison_callbacks_total", result="error")
        logger.error(
            "Result callback raised",
            extra={"llm_request_id": request.pk, "callback": request.callback, "exception_type": type(exc).__name__},
        )
        if failures < MAX_DELIVERY_FAILURES:
            report.again(request.pk, DELIVERY_RETRY_SECONDS, deferral=False)
        return
    report.delivered += 1
    metrics.inc("llm_provider_comparison_callbacks_total", result=result.status)
    if request.webhook_url:
        comparison_webhook_schedule(request_id=request.pk)


def result_of(request: LLMRequest) -> ComparisonResult:
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


def comparison_execute(*, request_id: int) -> ComparisonResult:
    """Run one request to its end in this process (retries immediately, deferrals wait).

    For scripts and tests; workers use the tasks, which retry through Celery countdowns.
    """
    while True:
        report = comparison_run(request_ids=[request_id])
        request = LLMRequest.objects.get(pk=request_id)
        if request.status in FINISHED or not report.retry_ids:
            return result_of(request)
        if report.deferred_only:
            time.sleep(min(report.countdown, settings.LLM_RETRY_MAX_DELAY))


def comparison_deliver(*, result: ComparisonResult, callback: str) -> None:
    """Hand the result to the caller's callback task, in this process.

    Running the callback here (not enqueueing it) means the result is recorded before the task
    that produced it finishes, so a chord body that follows reads it from the database.
    """
    if callback:
        current_app.tasks[callback](result.model_dump(mode="json"))
