"""Rounds of a batch: plan pairs with the engine, send them as a chord, score the round and decide.

A round is planned inside the transaction that holds its batch and sent once it commits
(`round_dispatch`); its chord body (`round_complete`) reads the database, refits, and opens the
next round or ends the batch. Work is claimed with conditional UPDATEs, so a redelivered task or a
sweeper's second body changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from celery import chord
from django.conf import settings
from django.db import transaction
from django.db.models import F, Min
from django.utils import timezone

from assessments import metrics
from assessments.engine import pairing, stopping
from assessments.engine.schedule import round_size
from assessments.metadata import metadata_append
from assessments.models import OPEN_COMPARISON_STATES, Batch, BatchState, Comparison, ComparisonStatus, EndReason, EssayRole
from assessments.schemas import CJAssessmentRequestData, CJLLMComparisonMetadata
from assessments.selectors.batches import batch_request
from assessments.services.endings import batch_conclude
from assessments.services.judging import batch_await_people
from assessments.services.results import RESULT_CALLBACK_TASK, batch_counters_refresh
from assessments.services.scoring import BatchScore, batch_score
from cjproject.errors import InvalidInput
from llmgateway.schemas import LLMConfigOverrides, PromptParts
from llmgateway.services import provider_resolve

logger = logging.getLogger(__name__)
# A batch stops after a round with fewer judgements than this resolved only at its end; from
# this many on, a success rate below CJ_MIN_SUCCESS_RATE fails it at once (`_judge_failing`).
MIN_RESOLVED_FOR_SUCCESS_RATE = 20


def judge_panel_resolve(*, request: CJAssessmentRequestData) -> list[tuple[str, LLMConfigOverrides | None]]:
    """(label, overrides) of each judge: one without a panel, else each panel judge's parameters
    applied over the batch's `llm_config_overrides`. Labels are unique within the batch."""
    if not request.options.judges:
        provider_resolve(overrides=request.llm_config_overrides)
        return [("", request.llm_config_overrides)]
    base = request.llm_config_overrides or LLMConfigOverrides()
    judges: list[tuple[str, LLMConfigOverrides | None]] = []
    for index, judge in enumerate(request.options.judges):
        merged = base.model_copy(update=judge.model_dump(exclude_none=True))
        try:
            provider, model = provider_resolve(overrides=merged)
        except InvalidInput as exc:
            fields = {f"options.judges.{index}.{name.rsplit('.', 1)[-1]}": msgs for name, msgs in exc.fields.items()}
            raise InvalidInput("unknown judge", fields=fields) from None
        label = f"{provider.name}/{model}"
        if merged.temperature_override is not None:
            label += f" (temperature {merged.temperature_override:g})"
        if any(existing == label for existing, _ in judges):
            label += f" #{index + 1}"
        judges.append((label, merged))
    return judges


def _budget_of(batch: Batch) -> int:
    return int(batch.processing_metadata["comparison_budget"]["max_pairs_requested"])


def _segment(batch: Batch) -> dict[str, Any]:
    """The current run of rounds: the first one, or the latest continuation.

    `start_round` and `start_planned` say where it began; round limits and round sizes count
    from there. `reliability_target` None (a continuation without one) spends the new budget.
    """
    return batch.processing_metadata.get("segment", {"start_round": 1, "start_planned": 0, "reliability_target": "default"})


def _max_rounds(request: CJAssessmentRequestData) -> int:
    return request.options.max_rounds or settings.CJ_MAX_ROUNDS


def _judged_pairs(*, batch: Batch, index_of: dict[int, int]) -> np.ndarray:
    """(first, second) indices of every comparison planned so far, cancelled ones excluded."""
    rows = batch.comparisons.exclude(status=ComparisonStatus.CANCELLED).values_list("essay_a_id", "essay_b_id")
    return np.array([(index_of[a], index_of[b]) for a, b in rows], dtype=np.int64).reshape(-1, 2)


def pairing_state(
    *, batch: Batch, essays: Sequence[Mapping[str, Any]], judged: np.ndarray, excluded: np.ndarray
) -> pairing.PairingState:
    """The engine's view of a batch for planning: θ, SE and P(grade) of the last scoring, counts
    and A/B balance from `judged` (index pairs judged or in flight), and `excluded` as the pairs
    the planner must not offer (for a round: the judged ones; for a person: also their own)."""
    n = len(essays)
    grading = batch.processing_metadata.get("grading", {})
    boundaries, probabilities = None, None
    if grading.get("available"):
        boundaries = np.array([c for c in grading["cuts"] if c is not None], dtype=float)
        grades = grading["grades"]
        probabilities = np.array([[(e["grade_probabilities"] or {}).get(g, np.nan) for g in grades] for e in essays], dtype=float)
    return pairing.PairingState(
        theta=np.array([e["theta"] if e["theta"] is not None else 0.0 for e in essays]),
        se=np.array([e["se"] if e["se"] is not None else np.nan for e in essays]),
        comparisons=np.bincount(judged.ravel(), minlength=n),
        shown_first=np.bincount(judged[:, 0], minlength=n),
        shown_second=np.bincount(judged[:, 1], minlength=n),
        is_anchor=np.array([e["role"] == EssayRole.ANCHOR for e in essays]),
        judged_pairs=excluded,
        boundaries=boundaries,
        grade_probabilities=probabilities,
    )


def round_open(*, batch: Batch, round_no: int) -> int:
    """Plan a round with the engine, create its Comparison rows, send them on commit.

    Must run inside a transaction that holds the batch (claimed by the caller). Round 1 is a
    connected design; later rounds are adaptive, from the θ, SE and P(grade) stored by the last
    scoring and its grade cut points: grade-directed when there are grades (`pairing.plan_round`).
    Comparisons that failed for good do not count against the budget, so this round replaces
    them with new pairs. Returns the number of comparisons planned (0: nothing left to compare).
    """
    request = batch_request(batch=batch)
    essays = list(batch.essays.order_by("id").values("id", "role", "theta", "se", "grade_probabilities"))
    index_of = {e["id"]: i for i, e in enumerate(essays)}
    n = len(essays)
    used = batch.budget_spent
    size = round_size(round_no=round_no, n_essays=n, budget=_budget_of(batch), used=used, max_rounds=_max_rounds(request))
    if size == 0:
        return 0
    is_anchor = np.array([e["role"] == EssayRole.ANCHOR for e in essays])
    seed = request.options.seed * 1000 + round_no
    both_orders = request.options.judge_both_orders and size >= 2
    if both_orders:
        size //= 2  # each chosen pair is judged twice, once in each order
    if round_no == 1:
        k = max(1, min(n - 1, round(2 * size / n)))
        pairs = pairing.initial_design(n, k=k, is_anchor=is_anchor, seed=seed)[:size]
    else:
        judged = _judged_pairs(batch=batch, index_of=index_of)
        state = pairing_state(batch=batch, essays=essays, judged=judged, excluded=judged)
        floor = request.options.min_comparisons_per_essay or settings.CJ_MIN_COMPARISONS_PER_ESSAY
        pairs = pairing.plan_round(state, n_pairs=size, seed=seed, floor=floor).pairs
    if len(pairs) == 0:
        return 0
    if both_orders:
        pairs = np.concatenate([pairs, pairs[:, ::-1]])
    ids = [e["id"] for e in essays]
    rows = Comparison.objects.bulk_create(
        [Comparison(batch=batch, round_no=round_no, essay_a_id=ids[a], essay_b_id=ids[b]) for a, b in pairs]
    )
    Batch.objects.filter(pk=batch.pk).update(
        current_round=round_no, comparisons_planned=F("comparisons_planned") + len(rows), updated_at=timezone.now()
    )
    comparison_ids = [c.pk for c in rows]
    transaction.on_commit(lambda: round_dispatch(batch_id=batch.pk, round_no=round_no, comparison_ids=comparison_ids))
    logger.info(
        "Round planned", extra={"batch_id": batch.pk, "round": round_no, "comparisons": len(rows), "budget_used_before": used}
    )
    return len(rows)


def round_dispatch(*, batch_id: int, round_no: int, comparison_ids: Sequence[int]) -> None:
    """Create the gateway requests and send the round as a chord (header: calls, body: scoring).

    The header is flat: gateway tasks (one per comparison, per bundle or per provider batch job,
    by batching mode); the body reads the database, never the chord's result list.
    """
    from assessments.tasks import round_complete as round_complete_task
    from llmgateway.services import batching_mode_resolve, comparison_requests_create, comparison_signatures

    batch = Batch.objects.select_related("assignment").get(pk=batch_id)
    request = batch_request(batch=batch)
    batching_mode = batching_mode_resolve(request.options.batching_mode)
    assignment = batch.assignment
    judges = judge_panel_resolve(request=request)
    with transaction.atomic():
        # One INSERT for the gateway requests and one UPDATE for the comparisons: a round of
        # 1,500 comparisons is sent in well under a second. Rows are locked against a second
        # dispatch of the same round.
        comparisons = list(
            Comparison.objects.select_for_update(of=("self",))
            .filter(pk__in=comparison_ids, status=ComparisonStatus.PENDING)
            .select_related("essay_a", "essay_b")
            .order_by("pk")
        )
        plan = [(comparison, *judges[position % len(judges)]) for position, comparison in enumerate(comparisons)]
        requests = comparison_requests_create(
            items=[
                (
                    PromptParts(
                        student_prompt=assignment.student_prompt if assignment else "",
                        instructions=assignment.instructions if assignment else "",
                        essay_a=comparison.essay_a.text,
                        essay_b=comparison.essay_b.text,
                    ),
                    overrides,
                    CJLLMComparisonMetadata(
                        essay_a_id=comparison.essay_a_id,
                        essay_b_id=comparison.essay_b_id,
                        batch_id=batch_id,
                        comparison_id=comparison.pk,
                        comparison_iteration=round_no,
                        cj_llm_batching_mode=batching_mode,
                        judge=judge,
                    ).model_dump(mode="json"),
                )
                for comparison, judge, overrides in plan
            ],
            callback=RESULT_CALLBACK_TASK,
        )
        now = timezone.now()
        for (comparison, judge, _), llm_request in zip(plan, requests, strict=True):
            comparison.status = ComparisonStatus.SENT
            comparison.sent_at = now
            comparison.llm_request = llm_request
            comparison.attempt += 1
            comparison.request_metadata = llm_request.metadata
            comparison.judge = judge
        Comparison.objects.bulk_update(
            comparisons, ["status", "sent_at", "llm_request", "attempt", "request_metadata", "judge"], batch_size=500
        )
        sent_ids = [llm_request.pk for llm_request in requests]
    header = comparison_signatures(request_ids=sent_ids, batching_mode=batching_mode)
    body = round_complete_task.si(batch_id, round_no)
    logger.info("Round sent", extra={"batch_id": batch_id, "round": round_no, "comparisons": len(sent_ids)})
    try:
        if header:
            chord(header)(body)
        else:
            body.delay()
    except Exception:
        # The broker refused the round (down at publish): nothing was sent. Back to pending, so
        # the sweeper sends it again in seconds instead of waiting for the lease.
        Comparison.objects.filter(pk__in=[c.pk for c in comparisons], status=ComparisonStatus.SENT).update(
            status=ComparisonStatus.PENDING, sent_at=None
        )
        logger.exception("Round could not be sent; the sweeper sends it again", extra={"batch_id": batch_id, "round": round_no})


def round_complete(*, batch_id: int, round_no: int) -> None:
    """The chord body: score every valid comparison, then open the next round or finalize.

    1. Claim the round: running → scoring, only if the batch is still on `round_no`.
    2. If comparisons of the round are still open, give the claim back (the sweeper retries).
    3. Refit Bradley–Terry on all succeeded comparisons, project grades, store both.
    4. `engine.stopping.decide` (reliability, grades settled, budget, cost, pairs, rounds): stop
       and finalize with its reason, or open the next round (no pairs left: `pairs_exhausted`).
    One log line and one `decisions` entry carry every input of the decision.
    """
    claimed = Batch.objects.filter(pk=batch_id, state=BatchState.RUNNING, current_round=round_no).update(
        state=BatchState.SCORING, updated_at=timezone.now()
    )
    if not claimed:
        logger.info("Round body skipped: batch not waiting on this round", extra={"batch_id": batch_id, "round": round_no})
        return
    batch = Batch.objects.get(pk=batch_id)
    open_count = batch.comparisons.filter(round_no=round_no, status__in=OPEN_COMPARISON_STATES).count()
    if open_count:
        Batch.objects.filter(pk=batch_id, state=BatchState.SCORING).update(state=BatchState.RUNNING, updated_at=timezone.now())
        logger.warning(
            "Round body ran with comparisons still open", extra={"batch_id": batch_id, "round": round_no, "open": open_count}
        )
        return
    try:
        _round_score_and_decide(batch_id=batch_id, round_no=round_no)
    except Exception:
        # Nothing of the round's scoring was kept (one transaction): give the claim back, so a
        # retry (or the sweeper) scores it in seconds instead of after the task time limit.
        Batch.objects.filter(pk=batch_id, state=BatchState.SCORING).update(state=BatchState.RUNNING, updated_at=timezone.now())
        raise


def _round_score_and_decide(*, batch_id: int, round_no: int) -> None:
    """Steps 3 and 4 of `round_complete`, in one transaction."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        batch_counters_refresh(batch_id=batch_id)
        batch.refresh_from_db()
        score = batch_score(batch=batch)
        decision = stopping_decision(batch=batch, score=score, round_no=round_no)
        reason = decision.reason
        if not decision.stop and _judge_failing(batch):
            reason = EndReason.LOW_SUCCESS_RATE  # `batch_conclude` fails the batch with the figures
        if not decision.stop and not reason:
            Batch.objects.filter(pk=batch_id).update(state=BatchState.RUNNING, updated_at=timezone.now())
            batch.refresh_from_db()
            if round_open(batch=batch, round_no=round_no + 1) == 0:
                reason = EndReason.PAIRS_EXHAUSTED
        waits = bool(reason) and batch_await_people(batch=batch, llm_reason=reason)
        entry = {"round": round_no, "decision": "awaiting_people" if waits else (reason or "continue"), **decision.inputs}
        if waits:
            reason = None
        logger.info("Continuation decision evaluated", extra={"batch_id": batch_id, **entry})
        planned_at = batch.comparisons.filter(round_no=round_no).aggregate(first=Min("created_at"))["first"]
        decided = str(entry["decision"])
        metrics.record(
            counters={"cj_rounds_total": {"decision": decided}, "cj_decisions_total": {"decision": decided}},
            durations={"cj_round_duration_seconds": (timezone.now() - planned_at).total_seconds()} if planned_at else None,
        )
        metadata_append(instance=batch, key="decisions", item=entry)
        if reason:
            batch_conclude(batch=batch, reason=reason, score=score, round_no=round_no)


def _judge_failing(batch: Batch) -> bool:
    """Too few judgements succeeded, over enough of them to tell: failures are replaced by new
    pairs, so going on would spend the budget again on a judge that keeps failing."""
    resolved = batch.comparisons_succeeded + batch.comparisons_failed
    return resolved >= MIN_RESOLVED_FOR_SUCCESS_RATE and batch.comparisons_succeeded < settings.CJ_MIN_SUCCESS_RATE * resolved


def _grade_certainty(asked: float | None) -> float | None:
    """The batch's grades_settled target: its own, else the deployment's (0: off)."""
    return asked or settings.CJ_GRADE_CERTAINTY_TARGET or None


def stopping_decision(*, batch: Batch, score: BatchScore | None, round_no: int) -> stopping.Decision:
    """Gather what `engine.stopping.decide` needs from the batch, its request and its score."""
    request = batch_request(batch=batch)
    options = request.options
    essays = list(batch.essays.order_by("id").values_list("id", "role"))
    index_of = {pk: i for i, (pk, _) in enumerate(essays)}
    n = len(essays)
    is_student = np.array([role == EssayRole.STUDENT for _, role in essays])
    judged = _judged_pairs(batch=batch, index_of=index_of)
    ordered_judged = np.unique(judged[:, 0] * n + judged[:, 1]).size
    projection = score.projection if score else None
    segment = _segment(batch)
    reliability_target = segment["reliability_target"]
    if reliability_target == "default":
        reliability_target = options.reliability_target or settings.CJ_RELIABILITY_TARGET
    state = stopping.StoppingState(
        rounds_completed=round_no - segment["start_round"] + 1,
        comparisons=batch.budget_spent,
        reliability=score.population.reliability if score else float("nan"),
        student_comparisons=score.population.comparisons[is_student]
        if score
        else np.zeros(int(is_student.sum()), dtype=np.int64),
        # A pair may be judged once in each order (position balance), so ordered pairs count.
        pairs_available=n * (n - 1) - ordered_judged,
        cost=float(batch.cost_usd),
        primary_probability=projection.primary_probability[is_student] if projection else None,
    )
    config = stopping.StoppingConfig(
        reliability_target=reliability_target,
        min_comparisons=options.min_comparisons_per_essay or settings.CJ_MIN_COMPARISONS_PER_ESSAY,
        max_comparisons=None,
        budget=_budget_of(batch),
        cost_limit=options.cost_limit_usd,
        max_rounds=_max_rounds(request),
        grade_certainty=_grade_certainty(options.grade_confidence) if segment["reliability_target"] == "default" else None,
    )
    return stopping.decide(state, config)
