"""The flow across the queue: a real worker on Redis runs every round's chord to the end."""

import threading

import pytest
from django.db import connection

from assessments import services
from assessments.models import Batch
from tests.conftest import essays
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.worker


def test_a_real_worker_completes_every_round_chord(owner, assignment, celery_worker_process):
    batch = services.batch_create(
        owner=owner, request={"essays": essays(8), "assignment_id": assignment.pk, "options": {"reliability_target": 0.99}}
    )
    services.batch_start(batch_id=batch.pk)

    with _database_sessions_seen() as sessions:
        finished = wait_for(lambda: Batch.objects.get(pk=batch.pk).is_terminal, timeout=120)

    batch = Batch.objects.get(pk=batch.pk)
    assert finished, f"batch still {batch.state} in round {batch.current_round}"
    assert (batch.state, batch.end_reason) == ("completed", "budget_exhausted")
    assert batch.current_round >= 2  # at least one chord body opened a further round
    assert batch.comparisons_succeeded == batch.comparisons.filter(status="succeeded").count() == batch.comparisons_planned
    assert batch.essays.filter(theta__isnull=True).count() == 0
    assert len(batch.processing_metadata["decisions"]) == batch.current_round
    # Workers reuse their database connections: a handful of sessions, not one per task.
    assert 0 < len(sessions) <= 12 < batch.comparisons_planned, sorted(sessions)


class _database_sessions_seen:
    """Every PostgreSQL session of other processes seen on the test database while it runs."""

    def __init__(self) -> None:
        self.seen: set[tuple[int, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._database = connection.settings_dict["NAME"]

    def _watch(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        with psycopg.connect(**params, autocommit=True) as watcher:
            own = watcher.info.backend_pid
            while not self._stop.is_set():
                rows = watcher.execute(
                    "SELECT pid, backend_start::text FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                    (self._database, own),
                ).fetchall()
                self.seen.update((pid, start) for pid, start in rows)
                self._stop.wait(0.05)

    def __enter__(self) -> set[tuple[int, str]]:
        if connection.vendor != "postgresql":
            pytest.skip("counts PostgreSQL sessions")
        self._thread.start()
        return self.seen

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
