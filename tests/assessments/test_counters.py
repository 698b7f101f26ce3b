"""The batch's counters: one short update per recorded result, exact again when a round closes."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from assessments import services
from assessments.models import Batch, ComparisonStatus
from llmgateway.models import LLMRequest
from llmgateway.services.calls import result_of
from tests.conftest import essays

# Real commits: the counter moves when the result's transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)


def _reopened(owner, n):
    """A finished batch with three of its judged comparisons put back to waiting for a result."""
    batch = services.batch_create(owner=owner, request={"essays": essays(n)})
    services.batch_start(batch_id=batch.pk)
    reopened = list(batch.comparisons.filter(status=ComparisonStatus.SUCCEEDED)[:3])
    batch.comparisons.filter(pk__in=[c.pk for c in reopened]).update(
        status=ComparisonStatus.SENT, winner=None, confidence=None, justification="", counted=False
    )
    services.batch_counters_refresh(batch_id=batch.pk)
    return Batch.objects.get(pk=batch.pk), reopened


def _record(comparison):
    result = result_of(LLMRequest.objects.get(pk=comparison.llm_request_id))
    with CaptureQueriesContext(connection) as queries:
        assert services.comparison_record(result=result) is True
    return [q["sql"] for q in queries.captured_queries]


def test_each_result_moves_the_counters_by_one_at_the_same_cost_at_any_batch_size(owner):
    statements = {}
    for n in (6, 40):
        batch, reopened = _reopened(owner, n)
        succeeded, cost = batch.comparisons_succeeded, batch.cost_usd
        for step, comparison in enumerate(reopened, start=1):
            sql = _record(comparison)
            batch.refresh_from_db()
            assert batch.comparisons_succeeded == succeeded + step
            assert not any("COUNT(" in s.upper() for s in sql), "a result must not recount the batch"
            statements[n] = len(sql)
        assert batch.cost_usd >= cost
    assert statements[6] == statements[40]


def test_the_exact_recount_repairs_a_counter_that_missed_a_result(owner):
    batch, reopened = _reopened(owner, 6)
    judged = batch.comparisons_succeeded
    # A worker that recorded a result and died before its counter moved: the row says judged, the counter does not.
    batch.comparisons.filter(pk=reopened[0].pk).update(status=ComparisonStatus.SUCCEEDED, winner="a")
    assert Batch.objects.get(pk=batch.pk).comparisons_succeeded == judged
    services.batch_counters_refresh(batch_id=batch.pk)
    assert Batch.objects.get(pk=batch.pk).comparisons_succeeded == judged + 1


def test_a_result_is_counted_once_whether_the_recount_or_its_own_update_comes_first(owner):
    batch, reopened = _reopened(owner, 6)
    judged = batch.comparisons_succeeded
    first, second = reopened[:2]
    for comparison in (first, second):
        batch.comparisons.filter(pk=comparison.pk).update(status=ComparisonStatus.SUCCEEDED, winner="a")
    services.batch_counters_bump(batch_id=batch.pk, comparison_id=first.pk, succeeded=True, cost_usd=Decimal("0"))
    services.batch_counters_refresh(batch_id=batch.pk)  # after a bump: counts it once
    services.batch_counters_bump(batch_id=batch.pk, comparison_id=second.pk, succeeded=True, cost_usd=Decimal("0"))
    services.batch_counters_bump(batch_id=batch.pk, comparison_id=first.pk, succeeded=True, cost_usd=Decimal("0"))
    assert Batch.objects.get(pk=batch.pk).comparisons_succeeded == judged + 2


def test_a_bump_and_a_round_holding_the_batch_never_deadlock(owner):
    """A round's scoring holds the batch row and then recounts (locking comparisons) while a
    bump for the round's last result is under way: the bump waits for the batch instead of
    holding its comparison against the recount (which PostgreSQL broke as a deadlock)."""
    batch, reopened = _reopened(owner, 6)
    judged = batch.comparisons_succeeded
    comparison = reopened[0]
    batch.comparisons.filter(pk=comparison.pk).update(status=ComparisonStatus.SUCCEEDED, winner="a")
    batch_locked, bump_started = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def round_scoring() -> None:
        try:
            with transaction.atomic():
                list(Batch.objects.select_for_update().filter(pk=batch.pk))
                batch_locked.set()
                bump_started.wait(5)
                time.sleep(0.3)  # the bump is now blocked on a lock
                services.batch_counters_refresh(batch_id=batch.pk)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    scoring = threading.Thread(target=round_scoring)
    scoring.start()
    assert batch_locked.wait(5)
    bump_started.set()
    try:
        services.batch_counters_bump(batch_id=batch.pk, comparison_id=comparison.pk, succeeded=True, cost_usd=Decimal("0"))
    except BaseException as error:  # noqa: BLE001
        errors.append(error)
    scoring.join(10)
    assert not errors, errors
    assert Batch.objects.get(pk=batch.pk).comparisons_succeeded == judged + 1
