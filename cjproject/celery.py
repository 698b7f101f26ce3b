"""The Celery app: queues, explicit routes and the beat schedule.

Queues:
- `cj`: orchestration (plan a round, score it, finalize, sweep);
- `llm`: provider calls (run a worker with --prefetch-multiplier=1: a call is slow and must not
  wait behind another in a prefetch buffer);
- `llm_batch`: the gateway's slow housekeeping: waiting on provider batch-API jobs, polling
  them (beat), the `queue_metrics_snapshot` log line (beat) and webhooks (`webhooks.deliver`).

Serialization, acknowledgement, time limits and the broker settings are in cjproject/settings.py
(the `CELERY_` block); without a broker, tasks run in process (the embedded default).
"""

from __future__ import annotations

import inspect
import logging.config
import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, task_received, worker_ready
from django.conf import settings
from django.db import close_old_connections
from kombu import Queue

from cjproject.logging import log_context_bind, log_context_clear

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cjproject.settings")

QUEUE_CJ = "cj"
QUEUE_LLM = "llm"
QUEUE_LLM_BATCH = "llm_batch"

app = Celery("cjproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue(QUEUE_CJ), Queue(QUEUE_LLM), Queue(QUEUE_LLM_BATCH))
app.conf.task_default_queue = QUEUE_CJ
app.conf.task_create_missing_queues = False
app.conf.task_routes = {
    "assessments.*": {"queue": QUEUE_CJ},
    "llmgateway.run_comparison": {"queue": QUEUE_LLM},
    "llmgateway.run_comparison_bundle": {"queue": QUEUE_LLM},
    "llmgateway.*": {"queue": QUEUE_LLM_BATCH},
    "webhooks.*": {"queue": QUEUE_LLM_BATCH},
}
app.conf.beat_schedule = {
    "sweep-stalled-batches": {
        "task": "assessments.batch_sweep",
        "schedule": float(settings.CJ_SWEEP_SECONDS),
        "options": {"queue": QUEUE_CJ, "expires": max(1, settings.CJ_SWEEP_SECONDS - 1)},
    },
    "poll-provider-batches": {
        "task": "llmgateway.poll_provider_batches",
        "schedule": float(settings.LLM_BATCH_POLL_SECONDS),
        "options": {"queue": QUEUE_LLM_BATCH, "expires": max(1, settings.LLM_BATCH_POLL_SECONDS - 1)},
    },
    "resend-overdue-webhooks": {
        "task": "webhooks.resend",
        "schedule": 60.0,
        "options": {"queue": QUEUE_LLM_BATCH, "expires": 59},
    },
    "queue-metrics-snapshot": {
        "task": "llmgateway.queue_metrics_snapshot",
        "schedule": float(settings.LLM_METRICS_SNAPSHOT_SECONDS),
        "options": {"queue": QUEUE_LLM_BATCH, "expires": max(1, settings.LLM_METRICS_SNAPSHOT_SECONDS - 1)},
    },
}
app.autodiscover_tasks(["assessments", "llmgateway", "webhooks"])

# Workers keep their database connection from task to task, as web processes do between requests:
# Celery's Django fix-up would otherwise close it around every task (a new PostgreSQL session per
# comparison). With a reuse limit it never closes them itself; instead, before and after every
# task, Django's own rule drops a connection that is older than DATABASE_CONN_MAX_AGE or broken
# (CONN_HEALTH_CHECKS pings a reused connection before its first query, so a restarted
# PostgreSQL costs one reconnect, not a failed task).
app.conf["CELERY_DB_REUSE_MAX"] = 2**62


@task_prerun.connect
@task_postrun.connect
def _database_connections_checked(task: Any = None, **_: Any) -> None:
    # In process (eager) a task runs inside its caller's transaction: never touch that connection.
    if task is not None and not getattr(task.request, "is_eager", False):
        close_old_connections()


@setup_logging.connect
def _project_logging(**_: Any) -> None:
    # A receiver here stops Celery (worker and beat) from installing its own plain-text logging:
    # every process writes the project's JSON lines.
    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)


@task_prerun.connect
def _log_context_of_task(task_id: str | None = None, task: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    """Every line a task writes carries its Celery task id and name, and the batch and round when
    the task's arguments name them (the services pass comparison ids with `extra=`)."""
    if task is None or getattr(task.request, "is_eager", False):
        return
    log_context_clear()
    named = dict(zip(inspect.signature(task.run).parameters, args or (), strict=False)) | (kwargs or {})
    log_context_bind(
        task_id=task_id,
        task_name=task.name,
        batch_id=named.get("batch_id"),
        round=named.get("round_no"),
        request_id=named.get("request_id"),
    )


@task_postrun.connect
def _log_context_cleared(task: Any = None, **_: Any) -> None:
    if task is not None and not getattr(task.request, "is_eager", False):
        log_context_clear()


@worker_ready.connect
def _worker_heartbeats(**_: Any) -> None:
    from assessments.services.leases import worker_heartbeats_start, worker_identity

    worker_heartbeats_start(worker=worker_identity())


@task_received.connect
def _comparisons_held(request: Any = None, **_: Any) -> None:
    """In the worker's main process, as a call task arrives (to run now or after a countdown): its
    comparisons are this worker's until it runs them or its heartbeat stops."""
    from assessments.services.leases import comparisons_hold, worker_identity

    if request is None:
        return
    try:
        comparisons_hold(task_name=request.name, args=request.args, worker=worker_identity())
    except Exception:
        # The database is unreachable: the task still runs; its comparisons fall back to the lease.
        logging.getLogger(__name__).warning("Comparisons not marked as held", exc_info=True, extra={"task_id": request.id})
