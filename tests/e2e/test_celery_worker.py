"""The flow across the queue: a real worker on Redis runs every round's chord to the end."""

import pytest

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

    finished = wait_for(lambda: Batch.objects.get(pk=batch.pk).is_terminal, timeout=120)

    batch = Batch.objects.get(pk=batch.pk)
    assert finished, f"batch still {batch.state} in round {batch.current_round}"
    assert (batch.state, batch.end_reason) == ("completed", "budget_exhausted")
    assert batch.current_round >= 2  # at least one chord body opened a further round
    assert batch.comparisons_succeeded == batch.comparisons.filter(status="succeeded").count() == batch.comparisons_planned
    assert batch.essays.filter(theta__isnull=True).count() == 0
    assert len(batch.processing_metadata["decisions"]) == batch.current_round
