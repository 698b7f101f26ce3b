"""Many batches at once on the same workers: each one completes, and its counters are exact."""

import pytest

from assessments.models import Batch
from tests.e2e.conftest import assert_counters_exact, batch_started, wait_until_finished

pytestmark = pytest.mark.worker


def test_ten_concurrent_batches_of_twenty_essays_all_complete_with_exact_counters(owner, assignment, celery_workers):
    celery_workers.start()
    batch_ids = [
        batch_started(
            owner=owner, assignment=assignment, students=20, comparisons_per_essay=4, seed=i, batching_mode="serial_bundle"
        ).pk
        for i in range(10)
    ]

    outcome = wait_until_finished(batch_ids, timeout=150)

    batches = list(Batch.objects.filter(pk__in=batch_ids))
    unfinished = {b.pk: (b.state, b.current_round) for b in batches if not b.is_terminal}
    assert outcome.finished, f"unfinished batches: {unfinished}"
    assert {(b.state, b.end_reason) for b in batches} == {("completed", "budget_exhausted")}
    for batch in batches:
        assert_counters_exact(batch)
        assert batch.comparisons_succeeded == batch.comparisons_planned == 46  # (20 students + 3 anchors) · 4 / 2
        assert batch.essays.filter(theta__isnull=True).count() == 0
        assert [d["round"] for d in batch.processing_metadata["decisions"]] == list(range(1, batch.current_round + 1))
