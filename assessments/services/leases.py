"""Worker liveness: each worker process writes a heartbeat row every few seconds and marks the
comparisons whose calls it received; the sweeper re-sends the ones held by a worker gone silent."""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from assessments.models import Comparison, ComparisonStatus, WorkerHeartbeat

# The gateway tasks whose first argument names the calls (one request id, or a list of them).
CALL_TASKS = ("llmgateway.run_comparison", "llmgateway.run_comparison_bundle")


def worker_identity() -> str:
    """This process, as a heartbeat and a holder name: a restarted worker is a new holder."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_heartbeat(*, worker: str) -> None:
    WorkerHeartbeat.objects.update_or_create(worker=worker, defaults={"beat_at": timezone.now()})


def worker_heartbeats_start(*, worker: str) -> threading.Thread:
    """Write a heartbeat now, then every `CJ_WORKER_HEARTBEAT_SECONDS` from a daemon thread (it
    dies with the process: that is the point)."""
    worker_heartbeat(worker=worker)

    def beat() -> None:
        while True:
            threading.Event().wait(settings.CJ_WORKER_HEARTBEAT_SECONDS)
            close_old_connections()
            try:
                worker_heartbeat(worker=worker)
            except Exception:  # noqa: BLE001 - a database outage: the next beat tries again
                close_old_connections()

    thread = threading.Thread(target=beat, name="cj-heartbeat", daemon=True)
    thread.start()
    return thread


def comparisons_hold(*, task_name: str, args: Any, worker: str) -> int:
    """Mark the comparisons of a received call task as held by `worker`; returns how many."""
    if task_name not in CALL_TASKS or not args:
        return 0
    ids = args[0] if isinstance(args[0], list) else [args[0]]
    return Comparison.objects.filter(llm_request_id__in=ids, status=ComparisonStatus.SENT).update(held_by=worker)
