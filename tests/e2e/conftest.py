"""Real Celery worker processes on the test broker and the test database.

`celery_workers` starts, kills (SIGKILL to the whole process group) and restarts workers, each
with its own extra environment (mock behaviour, retry settings, test hooks of `worker_app`);
`celery_worker_process` is one worker on every queue. The test Redis database is flushed before
and after, so that queues, unacknowledged messages, chord counters and the gateway's breaker and
rate-limit state never leak from one test into the next.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from cjproject.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
ALL_QUEUES = "cj,llm,llm_batch"


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process that must share this test run's database and broker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    db = connection.settings_dict
    env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env["CELERY_RESULT_BACKEND"] = settings.CELERY_RESULT_BACKEND
    env["LOG_LEVEL"] = "WARNING"
    env.update(extra or {})
    return env


def _flush_test_redis() -> None:
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@dataclass
class Workers:
    """Worker processes of one test: each runs in its own session, so a kill reaches its children."""

    tmp_path: Path
    started: list[Worker] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def start(
        self,
        *,
        env: dict[str, str] | None = None,
        queues: str = ALL_QUEUES,
        concurrency: int = 2,
        app: str = "cjproject",
    ) -> Worker:
        name = f"e2e{next(self._numbers)}@{os.getpid()}"
        log_path = self.tmp_path / f"{name.split('@')[0]}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    app,
                    "worker",
                    "-n",
                    name,
                    "-Q",
                    queues,
                    "-c",
                    str(concurrency),
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=ROOT,
                env=worker_env(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(name=name, process=process, log_path=log_path)
        self.started.append(worker)
        deadline = time.monotonic() + 30
        while not celery_app.control.ping(destination=[name], timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker {name} did not start (exit code {process.poll()}):\n{worker.log_tail()}")
        return worker

    def kill(self, worker: Worker) -> None:
        """SIGKILL the worker and its pool children at once: nothing is acknowledged or cleaned up."""
        with suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=10)

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                os.killpg(worker.process.pid, signal.SIGTERM)
        for worker in self.started:
            try:
                worker.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.process.pid, signal.SIGKILL)
                worker.process.wait(timeout=10)


@contextmanager
def _workers_running(tmp_path: Path) -> Iterator[Workers]:
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs REDIS_URL or CELERY_BROKER_URL pointing at Redis (make test sets it)")
    if connection.vendor != "postgresql":
        pytest.skip("a worker process needs a shared database server: run with DATABASE_URL=postgres://...")
    _flush_test_redis()
    workers = Workers(tmp_path=tmp_path)
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield workers
    finally:
        celery_app.conf.task_always_eager = previous
        workers.stop_all()
        _flush_test_redis()


@pytest.fixture
def celery_workers(transactional_db: None, tmp_path: Path) -> Iterator[Workers]:
    """Start workers on demand; tasks leave this process for real while the test runs."""
    with _workers_running(tmp_path) as workers:
        yield workers


@pytest.fixture
def celery_worker_process(transactional_db: None, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """One `celery worker` on every queue (self-contained: other test packages import it)."""
    with _workers_running(tmp_path) as workers:
        yield workers.start().process


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# --- Batches driven by real workers -----------------------------------------------------------


def beat_ahead_seconds() -> float:
    """How far ahead a simulated beat looks so that every recovery rule is due (the lease of a
    sent comparison, the grace before driving a round), yet a batch is not failed as stalled."""
    ahead = max(settings.CJ_COMPARISON_LEASE_SECONDS, settings.CJ_SWEEP_GRACE_SECONDS) + 1
    assert ahead < settings.CJ_STALL_TIMEOUT_SECONDS, "a simulated beat would fail batches as stalled"
    return ahead


def simulate_beat() -> dict[str, list[int]]:
    """What beat's `assessments.batch_sweep` would do once the lease and the grace have passed."""
    from assessments import services

    return services.batch_sweep(now=timezone.now() + timedelta(seconds=beat_ahead_seconds()))


@dataclass
class Outcome:
    finished: bool
    beats: list[dict[str, list[int]]]


def wait_until_finished(batch_ids: list[int], *, timeout: float, beat_when_quiet: float | None = None) -> Outcome:
    """Wait for every batch to reach a terminal state.

    With `beat_when_quiet`, a beat is simulated whenever the batches made no progress for that
    many seconds (what beat would do once the lease and the grace have passed); the beats'
    reports are returned, so a test can say what recovered a batch.
    """
    from assessments.models import Batch

    def progress() -> list[tuple[Any, ...]]:
        return list(
            Batch.objects.filter(pk__in=batch_ids)
            .order_by("pk")
            .values_list("state", "current_round", "comparisons_succeeded", "comparisons_failed")
        )

    beats: list[dict[str, list[int]]] = []
    deadline = time.monotonic() + timeout
    last, quiet_since = progress(), time.monotonic()
    while time.monotonic() < deadline:
        if Batch.objects.filter(pk__in=batch_ids).exclude(state__in=["completed", "failed", "cancelled"]).count() == 0:
            return Outcome(finished=True, beats=beats)
        time.sleep(0.2)
        now_progress = progress()
        if now_progress != last:
            last, quiet_since = now_progress, time.monotonic()
        elif beat_when_quiet is not None and time.monotonic() - quiet_since > beat_when_quiet:
            beats.append(simulate_beat())
            quiet_since = time.monotonic()
    return Outcome(finished=False, beats=beats)


def comparison_counts(batch: Any) -> dict[str, int]:
    """Comparison rows of a batch by status, counted in the database."""
    return dict(batch.comparisons.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))


def assert_counters_exact(batch: Any) -> None:
    """The batch's counters equal its rows: nothing lost, nothing counted twice."""
    counts = comparison_counts(batch)
    waiting = sum(n for status, n in counts.items() if status not in ("succeeded", "failed"))
    assert batch.comparisons_succeeded == counts.get("succeeded", 0), counts
    assert batch.comparisons_failed == counts.get("failed", 0), counts
    assert batch.comparisons_succeeded + batch.comparisons_failed + waiting == batch.comparisons_planned, counts
    assert sum(counts.values()) == batch.comparisons_planned, counts
    if batch.is_terminal:
        assert counts.get("pending", 0) + counts.get("sent", 0) == 0, f"a finished batch left comparisons open: {counts}"


def batch_started(*, owner: Any, assignment: Any, students: int, **options: Any) -> Any:
    """Create a batch of `students` essays (and the assignment's anchors) and start it."""
    from assessments import services
    from tests.conftest import essays

    batch = services.batch_create(
        owner=owner, request={"essays": essays(students), "assignment_id": assignment.pk, "options": options}
    )
    services.batch_start(batch_id=batch.pk)
    return batch


def describe(batch: Any, *workers: Worker) -> str:
    """Where a batch is stuck: its state, its rows by status, its gateway requests, the workers' logs."""
    from llmgateway.models import LLMRequest

    batch.refresh_from_db()
    requests = dict(LLMRequest.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    lines = [
        f"batch {batch.pk} {batch.state} ({batch.end_reason or '-'}) in round {batch.current_round}",
        f"comparisons: {comparison_counts(batch)}; gateway requests: {requests}",
    ]
    for request in LLMRequest.objects.exclude(status__in=["succeeded", "failed"])[:3]:
        lines.append(f"request {request.pk} {request.status} attempts {request.attempts}: {request.attempt_log[-3:]}")
    lines += [f"--- {w.name}\n{w.log_tail(1500)}" for w in workers]
    return "\n".join(lines)
