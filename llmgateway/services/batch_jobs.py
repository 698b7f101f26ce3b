"""Provider batch jobs (Anthropic Message Batches, OpenAI Batch API): submit a job, poll it, settle its items.

Items are settled like any call (`calls.call_settle`): a valid answer succeeds, an invalid or
retryable one runs again on its own, and every final result is delivered to its callback.
"""

from __future__ import annotations

import logging

from django.db.models import F
from django.utils import timezone

from llmgateway.metrics import MetricsBuffer
from llmgateway.models import LLMRequest, ProviderBatchJob
from llmgateway.providers import provider_get
from llmgateway.providers.base import ProviderError
from llmgateway.services.calls import RunReport, call_prepare, call_settle

logger = logging.getLogger(__name__)


def batch_job_submit(*, job_id: int) -> str:
    """Send a created job's requests to the provider's batch API (once: a conditional UPDATE
    claims it). Returns the job's status; a terminal submission error marks it `failed`, and
    its requests then run one by one."""
    job = ProviderBatchJob.objects.get(pk=job_id)
    if job.status != ProviderBatchJob.Status.CREATED:
        return job.status
    requests = list(job.requests.filter(status=LLMRequest.Status.QUEUED).order_by("pk"))
    provider = provider_get(job.provider)
    items = []
    for request in requests:
        call = call_prepare(request)
        items.append((str(request.pk), call.canonical))
        LLMRequest.objects.filter(pk=request.pk).update(prompt_sha256=call.sha)
    if not items:
        ProviderBatchJob.objects.filter(pk=job_id).update(status=ProviderBatchJob.Status.COMPLETED, completed_at=timezone.now())
        return ProviderBatchJob.Status.COMPLETED
    try:
        provider_job_id = provider.batch_submit(items)
    except ProviderError as exc:
        if exc.retryable:
            raise
        ProviderBatchJob.objects.filter(pk=job_id).update(status=ProviderBatchJob.Status.FAILED, error_detail=exc.detail[:500])
        logger.warning("Provider batch job refused", extra={"batch_job_id": job_id, "error_category": exc.category})
        return ProviderBatchJob.Status.FAILED
    now = timezone.now()
    ProviderBatchJob.objects.filter(pk=job_id, status=ProviderBatchJob.Status.CREATED).update(
        status=ProviderBatchJob.Status.SUBMITTED, provider_job_id=provider_job_id, submitted_at=now
    )
    job.requests.filter(status=LLMRequest.Status.QUEUED).update(status=LLMRequest.Status.RUNNING, started_at=now)
    logger.info("Provider batch job submitted", extra={"batch_job_id": job_id, "provider": job.provider, "items": len(items)})
    return ProviderBatchJob.Status.SUBMITTED


def batch_job_poll(*, job_id: int) -> str:
    """Poll a submitted job; once it has ended, settle every item and deliver final results.

    Items: succeeded → validated like any answer (an invalid one is retried on its own);
    errored → mapped to a category (retryable ones run again on their own); expired or
    canceled → run again on their own. Requests left `queued` are run by the job's waiting task.
    """
    job = ProviderBatchJob.objects.get(pk=job_id)
    if job.status != ProviderBatchJob.Status.SUBMITTED:
        return job.status
    provider = provider_get(job.provider)
    ProviderBatchJob.objects.filter(pk=job_id).update(polls=F("polls") + 1, last_polled_at=timezone.now())
    if provider.batch_status(job.provider_job_id) != "ended":
        return job.status
    claimed = ProviderBatchJob.objects.filter(pk=job_id, status=ProviderBatchJob.Status.SUBMITTED).update(
        status=ProviderBatchJob.Status.COMPLETED, completed_at=timezone.now()
    )
    if not claimed:
        return ProviderBatchJob.objects.get(pk=job_id).status
    rows = {str(r.pk): r for r in job.requests.filter(status=LLMRequest.Status.RUNNING)}
    calls = {cid: call_prepare(r) for cid, r in rows.items()}
    report, metrics = RunReport(), MetricsBuffer()
    seen: set[str] = set()
    try:
        outcomes = provider.batch_results(
            job.provider_job_id, requests={cid: (c.canonical, c.context) for cid, c in calls.items()}
        )
        for outcome in outcomes:
            call = calls.get(outcome.custom_id)
            if call is None or outcome.custom_id in seen:
                continue
            seen.add(outcome.custom_id)
            call_settle(call, reply=outcome.reply, error=outcome.error, seconds=0.0, batch=True, report=report, metrics=metrics)
        for cid in set(calls) - seen:  # never reported: treated as expired
            expired = ProviderError("expired", "batch item without a result", retryable=True)
            call_settle(calls[cid], reply=None, error=expired, seconds=0.0, batch=True, report=report, metrics=metrics)
    finally:
        metrics.flush()
    logger.info(
        "Provider batch job settled",
        extra={"batch_job_id": job_id, "items": len(calls), "delivered": report.delivered, "to_rerun": len(report.retry_ids)},
    )
    return ProviderBatchJob.Status.COMPLETED


def batch_jobs_poll() -> dict[str, int]:
    """Beat: poll every submitted job (each on its own: one job's error never stops the others)."""
    polled = ended = 0
    for job_id in ProviderBatchJob.objects.filter(status=ProviderBatchJob.Status.SUBMITTED).values_list("pk", flat=True):
        polled += 1
        try:
            ended += batch_job_poll(job_id=job_id) == ProviderBatchJob.Status.COMPLETED
        except ProviderError as exc:
            logger.warning("Provider batch job poll failed", extra={"batch_job_id": job_id, "error_category": exc.category})
    return {"polled": polled, "ended": ended}
