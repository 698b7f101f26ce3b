"""Results of comparisons: record a judge's verdict (idempotent) and keep the batch's counters.

Counters move by one per recorded result (constant cost, whatever the batch's size) and are
recounted exactly from the comparisons when a round closes, is swept or a batch is cancelled.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Count, F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from assessments import metrics
from assessments.models import OPEN_COMPARISON_STATES, Batch, BatchState, Comparison, ComparisonStatus
from assessments.schemas import CJLLMComparisonMetadata
from llmgateway.schemas import ComparisonResult

logger = logging.getLogger(__name__)

# The task the gateway hands each result to (`assessments.tasks.comparison_record`).
RESULT_CALLBACK_TASK = "assessments.comparison_record"


def comparison_record(*, result: ComparisonResult | dict[str, Any]) -> bool:
    """Record a judge's result for its comparison; True if this call recorded it.

    A conditional UPDATE: only a comparison still waiting (pending or sent) accepts a result, so
    a second delivery of the same result changes nothing. Counters move with F().
    """
    if not isinstance(result, ComparisonResult):
        result = ComparisonResult.model_validate(result)
    meta = CJLLMComparisonMetadata.model_validate(result.metadata)
    succeeded = result.status == "succeeded" and result.answer is not None
    fields: dict[str, Any] = {
        "status": ComparisonStatus.SUCCEEDED if succeeded else ComparisonStatus.FAILED,
        "provider": result.provider,
        "model": result.model,
        "prompt_sha256": result.prompt_sha256,
        "input_tokens": result.usage.input_tokens,
        "output_tokens": result.usage.output_tokens,
        "cache_read_tokens": result.usage.cache_read_tokens,
        "cache_write_tokens": result.usage.cache_write_tokens,
        "cost_usd": Decimal(str(result.cost_usd)),
        "raw_response": result.raw_response,
        "completed_at": timezone.now(),
    }
    if succeeded and result.answer is not None:
        fields.update(
            winner=result.answer.winner.lower(), confidence=result.answer.confidence, justification=result.answer.justification
        )
    else:
        fields.update(error_category=result.error_category or "internal", error_detail=result.error_detail)
    recorded = Comparison.objects.filter(pk=meta.comparison_id, batch_id=meta.batch_id, status__in=OPEN_COMPARISON_STATES).update(
        **fields
    )
    if recorded:
        # The batch's counters move once this result is committed, not here: the gateway records
        # a group of results in one transaction, and an update here would hold the batch row
        # locked until that commit, serialising every worker on it.
        transaction.on_commit(
            partial(
                batch_counters_bump,
                batch_id=meta.batch_id,
                comparison_id=meta.comparison_id,
                succeeded=succeeded,
                cost_usd=fields["cost_usd"],
            )
        )
        transaction.on_commit(
            partial(
                round_close_if_done, batch_id=meta.batch_id, round_no=meta.comparison_iteration, comparison_id=meta.comparison_id
            )
        )
    if not recorded:
        logger.info("Duplicate result ignored", extra={"batch_id": meta.batch_id, "comparison_id": meta.comparison_id})
        return False
    metrics.record(counters={"cj_comparisons_recorded_total": {"status": fields["status"]}})
    return True


def round_close_if_done(*, batch_id: int, round_no: int, comparison_id: int) -> None:
    """Score the round now if this result was its last open comparison, whoever sent it.

    The chord body does the same for results of the round's first sending; a comparison the
    sweeper sent again is outside the chord, so without this its round would wait for the
    sweeper. `round_complete` claims the round, so a second body is skipped. In process (eager)
    the chord body always runs: nothing to do.
    """
    from assessments.tasks import round_complete

    if round_complete.app.conf.task_always_eager:
        return
    waiting = Batch.objects.filter(pk=batch_id, state=BatchState.RUNNING, current_round=round_no).exists()
    still_open = Comparison.objects.filter(batch_id=batch_id, round_no=round_no, status__in=OPEN_COMPARISON_STATES)
    if waiting and not still_open.exists():
        logger.info("Round's last result landed", extra={"batch_id": batch_id, "round": round_no, "comparison_id": comparison_id})
        round_complete.delay(batch_id, round_no)


def batch_counters_bump(*, batch_id: int, comparison_id: int, succeeded: bool, cost_usd: Decimal) -> None:
    """Count one recorded result: the batch row locked, two short UPDATEs; the same cost at any batch size.

    The comparison's `counted` flag makes it exactly once, also against a recount running at the
    same moment: whichever marks the row first counts it (the other waits on the row lock, then
    finds it counted). A result recorded by a process that died before this ran is counted by the
    next recount (`batch_counters_refresh`, when its round closes or the sweeper passes).
    """
    counter = "comparisons_succeeded" if succeeded else "comparisons_failed"
    with transaction.atomic():
        _batch_lock(batch_id=batch_id)
        if Comparison.objects.filter(pk=comparison_id, counted=False).update(counted=True):
            Batch.objects.filter(pk=batch_id).update(
                **{counter: F(counter) + 1}, cost_usd=F("cost_usd") + cost_usd, updated_at=timezone.now()
            )


def _batch_lock(*, batch_id: int) -> None:
    """Lock the batch's row before any comparison row: the one order of every writer of the
    counters (a bump, a recount, a round's scoring), so that two of them never deadlock (a bump
    holding its comparison while waiting for the batch, a round holding the batch while its
    recount waits for that comparison)."""
    list(Batch.objects.select_for_update().filter(pk=batch_id).values_list("pk", flat=True))


def batch_counters_refresh(*, batch_id: int) -> None:
    """Recount the batch's judged and failed comparisons and its cost from the comparisons.

    Counted in the database from the comparisons themselves, so a recount is exact whenever it
    runs and repeating it is harmless; it also marks the batch as progressing (`updated_at`).
    """
    comparisons = Comparison.objects.filter(batch_id=OuterRef("pk")).order_by().values("batch_id")
    with transaction.atomic():
        _batch_lock(batch_id=batch_id)
        # Mark every result counted first (row locks), then count: what a bump committed before
        # is in the count, and a bump that comes after finds its comparison counted.
        Comparison.objects.filter(
            batch_id=batch_id, status__in=(ComparisonStatus.SUCCEEDED, ComparisonStatus.FAILED), counted=False
        ).update(counted=True)
        Batch.objects.filter(pk=batch_id).update(
            comparisons_succeeded=Coalesce(
                Subquery(comparisons.filter(status=ComparisonStatus.SUCCEEDED).annotate(n=Count("pk")).values("n")), 0
            ),
            comparisons_failed=Coalesce(
                Subquery(comparisons.filter(status=ComparisonStatus.FAILED).annotate(n=Count("pk")).values("n")), 0
            ),
            cost_usd=Coalesce(Subquery(comparisons.annotate(total=Sum("cost_usd")).values("total")), Decimal("0")),
            updated_at=timezone.now(),
        )
