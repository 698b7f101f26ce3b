"""Thin Celery tasks of the gateway: fetch by id, call a service, retry through countdowns.

A task whose run left work (a retryable failure, a deferral by the breaker or the rate limiter)
calls `self.retry(countdown=...)`: the worker is free meanwhile, and the retried task keeps its
id, so a chord whose header it belongs to completes only after its final delivery. Attempts are
bounded by the services (`LLM_MAX_ATTEMPTS`), not by Celery: deferrals are not attempts.
In process (the embedded default, no worker to free) a deferral waits before its retry.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from llmgateway import selectors, services
from llmgateway.models import LLMRequest, ProviderBatchJob
from llmgateway.providers.base import ProviderError

logger = logging.getLogger(__name__)


def _countdown(report: services.RunReport) -> float:
    """Never beyond LLM_RETRY_MAX_DELAY: the broker's visibility timeout is set above it."""
    return min(report.countdown, settings.LLM_RETRY_MAX_DELAY)


def _run(task: Task, request_ids: list[int], *, concurrent: bool) -> services.RunReport:
    """Run the requests; leave what remains to a retry of this task after its countdown.

    In process (eager: tests, the embedded demo) there is no worker to free and Celery would
    propagate the Retry: the remainder runs again here, after waiting out a deferral.
    """
    report = services.comparison_run(request_ids=request_ids, concurrent=concurrent)
    while report.retry_ids and task.request.is_eager:
        if report.deferred_only:
            time.sleep(_countdown(report))
        delivered = report.delivered
        report = services.comparison_run(request_ids=report.retry_ids, concurrent=concurrent)
        report.delivered += delivered
    return report


@shared_task(name="llmgateway.run_comparison", bind=True, acks_late=True, max_retries=None, queue="llm")
def run_comparison(self: Task, request_id: int) -> dict[str, object]:
    """Call the model for one stored request and deliver the final result to its callback."""
    report = _run(self, [request_id], concurrent=False)
    if report.retry_ids:
        raise self.retry(args=(request_id,), countdown=_countdown(report), max_retries=None)
    return {"request_id": request_id, "delivered": report.delivered}


@shared_task(name="llmgateway.run_comparison_bundle", bind=True, acks_late=True, max_retries=None, queue="llm")
def run_comparison_bundle(self: Task, request_ids: list[int]) -> dict[str, object]:
    """`serial_bundle`: run up to LLM_BUNDLE_SIZE requests concurrently, each settled on its own;
    only the ones left to retry travel on in the retried task."""
    report = _run(self, request_ids, concurrent=True)
    if report.retry_ids:
        raise self.retry(args=(report.retry_ids,), countdown=_countdown(report), max_retries=None)
    return {"requests": len(request_ids), "delivered": report.delivered}


@shared_task(name="llmgateway.await_provider_batch", bind=True, acks_late=True, max_retries=None, queue="llm_batch")
def await_provider_batch(self: Task, job_id: int) -> dict[str, object]:
    """`provider_batch_api` chord header: submit the job, wait (countdowns) while beat polls it,
    then run on their own the items that must run again (errored, expired, invalid)."""
    try:
        status = services.batch_job_submit(job_id=job_id)
    except ProviderError as exc:  # retryable: the provider did not take the job yet
        wait = services.backoff_seconds(self.request.retries + 1, retry_after=exc.retry_after)
        raise self.retry(countdown=min(wait, settings.LLM_RETRY_MAX_DELAY)) from None
    while status == ProviderBatchJob.Status.SUBMITTED:
        if not self.request.is_eager:
            raise self.retry(countdown=min(settings.LLM_BATCH_POLL_SECONDS, settings.LLM_RETRY_MAX_DELAY))
        status = services.batch_job_poll(job_id=job_id)  # in process there is no beat: poll here
        if status == ProviderBatchJob.Status.SUBMITTED:
            time.sleep(settings.LLM_BATCH_POLL_SECONDS)
    leftovers = list(LLMRequest.objects.filter(batch_job_id=job_id, status=LLMRequest.Status.QUEUED).values_list("pk", flat=True))
    if leftovers:
        report = _run(self, leftovers, concurrent=True)
        if report.retry_ids:
            raise self.retry(countdown=_countdown(report), max_retries=None)
    return {"job_id": job_id, "status": status}


@shared_task(name="llmgateway.poll_provider_batches", acks_late=True, queue="llm_batch")
def poll_provider_batches() -> dict[str, int]:
    """Beat: poll the submitted provider batch jobs; settle and deliver the ended ones."""
    return services.batch_jobs_poll()


@shared_task(name="llmgateway.queue_metrics_snapshot", queue="llm_batch")
def queue_metrics_snapshot() -> dict[str, Any]:
    """Beat: one `queue_metrics_snapshot` log line with the gateway's queue figures."""
    snapshot = selectors.queue_metrics_snapshot()
    logger.info("queue_metrics_snapshot", extra={"event": "queue_metrics_snapshot", **snapshot})
    return snapshot
