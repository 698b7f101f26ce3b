"""Writes of a batch's life: create (and submit), start, cancel, rescore and continue it.

Every state change is a conditional UPDATE or happens under the batch's row lock; rounds are
planned by `services.rounds` and sent once the transaction commits.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from assessments.engine.schedule import budget_for
from assessments.metadata import metadata_append, metadata_merge
from assessments.models import (
    OPEN_COMPARISON_STATES,
    TERMINAL_STATES,
    AnchorEssay,
    Assignment,
    Batch,
    BatchState,
    Comparison,
    ComparisonStatus,
    ContextOrigin,
    EndReason,
    Essay,
    EssayRole,
    JudgeMode,
)
from assessments.schemas import ANCHOR_ID_PREFIX, BatchOptions, CJAnchorMetadata, CJAssessmentRequestData, ComparisonBudget
from assessments.services.assignments import anchor_register, assignment_create, text_sha256
from assessments.services.endings import batch_finish
from assessments.services.judging import batch_await_people, judging_leases_end
from assessments.services.results import batch_counters_refresh
from assessments.services.rounds import judge_panel_resolve, round_open
from assessments.services.scoring import BatchScore, batch_score
from cjproject.errors import Conflict, InvalidInput, invalid_from_pydantic
from llmgateway.services import comparison_requests_cancel

logger = logging.getLogger(__name__)


def batch_create(
    *,
    owner: User,
    request: CJAssessmentRequestData | dict[str, Any],
    webhook_url: str = "",
    idempotency_key: str | None = None,
    idempotency_body_sha256: str = "",
) -> Batch:
    """Validate a request and store the batch, its essays and the request snapshot, all or nothing.

    `webhook_url` receives a signed notice when the batch finishes; `idempotency_key` (unique per
    owner, IntegrityError on a repeat) and the digest of the body come from an API client.

    1. Validate the request (pydantic) and resolve the judge (provider and model must exist).
    2. Resolve the anchors: the assignment's, or inline ones (a research assignment is created
       for them), each grade checked against the scale.
    3. In one transaction: the Batch, one Essay per student and per anchor, and the metadata
       (`original_request`, `comparison_budget`, anchors' `CJAnchorMetadata`).
    """
    if not isinstance(request, CJAssessmentRequestData):
        try:
            request = CJAssessmentRequestData.model_validate(request)
        except ValidationError as exc:
            raise invalid_from_pydantic(exc, "batch request") from None
    judge_panel_resolve(request=request)  # every judge must exist: provider and model (errors name the field)
    _judge_mode_check(request.options)
    with transaction.atomic():
        assignment = _assignment_for(owner=owner, request=request)
        overrides = request.llm_config_overrides
        if assignment and assignment.context_origin == ContextOrigin.CANONICAL and overrides and overrides.rubric_override:
            raise InvalidInput(
                "rubric override refused",
                fields={"llm_config_overrides.rubric_override": ["a canonical assignment's rubric cannot be overridden"]},
            )
        anchors = list(assignment.anchors.all()) if assignment else []
        n_essays = len(request.essays) + len(anchors)
        if n_essays < 2:  # refused now, not failed later as insufficient_essays
            raise InvalidInput(
                "too few essays", fields={"essays": ["a batch needs at least two essays to compare (students and anchors)"]}
            )
        budget = budget_for(
            n_essays=n_essays,
            comparisons_per_essay=request.options.comparisons_per_essay or settings.CJ_COMPARISONS_PER_ESSAY,
            override=request.max_comparisons_override,
            ceiling=settings.CJ_MAX_COMPARISONS_CEILING,
        )
        # Inline anchors became an assignment: the snapshot names it alone (the grade scale is the
        # assignment's now), so that the request validates again when a worker rehydrates it.
        snapshot = request.model_copy(
            update={"user_id": owner.pk, "assignment_id": assignment.pk if assignment else None}
            | ({"grade_scale": None, "custom_grades": None} if assignment is not None and request.anchors else {})
        )
        batch = Batch.objects.create(
            owner=owner,
            assignment=assignment,
            judge_mode=request.options.judge_mode,
            human_share=request.options.human_share or 0.0,
            human_deadline=request.options.human_deadline,
            language=request.language,
            course_code=request.course_code,
            webhook_url=webhook_url,
            idempotency_key=idempotency_key,
            idempotency_body_sha256=idempotency_body_sha256,
            processing_metadata={
                "original_request": snapshot.model_dump(mode="json", exclude={"essays", "anchors"}),
                "comparison_budget": ComparisonBudget(
                    max_pairs_requested=budget.max_pairs,
                    source=budget.source,
                    capped_from=budget.asked if budget.capped else None,
                ).model_dump(),
            },
        )
        Essay.objects.bulk_create(
            [
                Essay(batch=batch, external_id=e.id, role=EssayRole.STUDENT, text=e.text, text_sha256=text_sha256(e.text))
                for e in request.essays
            ]
            + (_anchor_essays(batch=batch, assignment=assignment, anchors=anchors) if assignment is not None else [])
        )
    if budget.capped:
        logger.warning(
            "Comparison budget capped by CJ_MAX_COMPARISONS_CEILING",
            extra={"batch_id": batch.pk, "asked": budget.asked, "max_pairs": budget.max_pairs},
        )
    logger.info(
        "Batch created",
        extra={
            "batch_id": batch.pk,
            "students": len(request.essays),
            "anchors": len(anchors),
            "max_pairs": budget.max_pairs,
            "budget_source": budget.source,
        },
    )
    return batch


def _judge_mode_check(options: BatchOptions) -> None:
    """`human_share` only where people take a share; a deadline not already past."""
    fields: dict[str, list[str]] = {}
    if options.human_share is not None and options.judge_mode not in (JudgeMode.HYBRID, JudgeMode.MODERATION):
        fields["options.human_share"] = [
            f"only for judge_mode hybrid or moderation (a {options.judge_mode} batch: people judge all or none of it)"
        ]
    if options.human_deadline is not None:
        if options.judge_mode == JudgeMode.LLM:
            fields["options.human_deadline"] = ["only when people judge (judge_mode human, hybrid or moderation)"]
        elif options.human_deadline <= timezone.now():
            fields["options.human_deadline"] = ["must be in the future"]
    if fields:
        raise InvalidInput("invalid judge mode", fields=fields)


def _anchor_essays(*, batch: Batch, assignment: Assignment, anchors: list[AnchorEssay]) -> list[Essay]:
    """One unsaved Essay per anchor of the assignment, with its `CJAnchorMetadata`."""
    return [
        Essay(
            batch=batch,
            external_id=f"{ANCHOR_ID_PREFIX}{a.label}",
            role=EssayRole.ANCHOR,
            text=a.text,
            text_sha256=a.text_sha256,
            anchor_grade=a.grade,
            processing_metadata={
                "anchor": CJAnchorMetadata(
                    anchor_id=a.pk,
                    label=a.label,
                    grade=a.grade,
                    grade_index=assignment.scale.index(a.grade),
                    scale=assignment.scale.name,
                    text_sha256=a.text_sha256,
                ).model_dump()
            },
        )
        for a in anchors
    ]


def batch_submit(
    *,
    owner: User,
    request: CJAssessmentRequestData,
    webhook_url: str = "",
    idempotency_key: str | None = None,
    idempotency_body_sha256: str = "",
) -> Batch:
    """Create a batch (see `batch_create`) and start it from a worker once the transaction commits."""
    with transaction.atomic():
        batch = batch_create(
            owner=owner,
            request=request,
            webhook_url=webhook_url,
            idempotency_key=idempotency_key,
            idempotency_body_sha256=idempotency_body_sha256,
        )
        batch_start_schedule(batch_id=batch.pk)
    return batch


def _assignment_for(*, owner: User, request: CJAssessmentRequestData) -> Assignment | None:
    if request.assignment_id is not None:
        assignment = Assignment.objects.filter(pk=request.assignment_id).first()
        if assignment is None or (assignment.owner_id != owner.pk and not getattr(owner, "is_superuser", False)):
            raise InvalidInput(
                "unknown assignment", fields={"assignment_id": [f"no assignment {request.assignment_id} of yours"]}
            )
        return assignment
    if not request.anchors:
        return None  # a guest batch: ranked without grades
    assignment = assignment_create(
        owner=owner,
        title=f"Inline assignment ({len(request.anchors)} anchors)",
        student_prompt=request.student_prompt or "(not given)",
        instructions=request.instructions,
        grade_scale=request.grade_scale or "",
        custom_grades=request.custom_grades,
    )
    for index, anchor in enumerate(request.anchors):
        try:
            anchor_register(assignment=assignment, label=anchor.label, grade=anchor.grade, text=anchor.text)
        except InvalidInput as exc:
            raise InvalidInput(
                "invalid anchor", fields={f"anchors.{index}.{name}": msgs for name, msgs in exc.fields.items()}
            ) from None
    return assignment


def batch_start(*, batch_id: int) -> bool:
    """Move a created batch to running and send its first round once the transaction commits.

    Returns False when the batch was not in `created` (already started, or finished).
    """
    with transaction.atomic():
        claimed = Batch.objects.filter(pk=batch_id, state=BatchState.CREATED).update(
            state=BatchState.RUNNING, started_at=timezone.now(), updated_at=timezone.now()
        )
        if not claimed:
            return False
        batch = Batch.objects.get(pk=batch_id)
        n_essays = batch.essays.count()
        if n_essays < 2:
            batch_finish(
                batch=batch,
                state=BatchState.FAILED,
                reason=EndReason.INSUFFICIENT_ESSAYS,
                message=f"a batch needs at least 2 essays (students and anchors) to compare; it has {n_essays}",
            )
            return True
        metadata_append(instance=batch, key="events", item={"at": timezone.now().isoformat(), "event": "started"})
        if batch.judge_mode != JudgeMode.HUMAN:
            round_open(batch=batch, round_no=1)
            return True
        # People only: no LLM round; human judgements are recorded as round 1 while it waits.
        Batch.objects.filter(pk=batch_id).update(current_round=1)
        batch.refresh_from_db()
        if not batch_await_people(batch=batch, llm_reason=None):
            batch_finish(
                batch=batch,
                state=BatchState.FAILED,
                reason=EndReason.HUMAN_DEADLINE,
                message="the deadline for human judgements had passed before the batch started",
            )
    return True


def batch_start_schedule(*, batch_id: int) -> bool:
    """Start a created batch from a worker (task `batch_start`) once the transaction commits.

    The API and the admin both start batches this way, so no web request plans a round itself.
    False when the batch is not waiting to start (already started, or finished); a second
    start that slips through is harmless, as `batch_start` claims the batch.
    """
    from assessments.tasks import batch_start as batch_start_task

    if not Batch.objects.filter(pk=batch_id, state=BatchState.CREATED).exists():
        return False
    transaction.on_commit(lambda: batch_start_task.delay(batch_id))
    return True


# --- Actions on a batch ------------------------------------------------------------------------


def batch_cancel(*, batch_id: int) -> bool:
    """Stop a batch: nothing more is sent, waiting comparisons are cancelled, results arriving
    later are ignored (they find no waiting comparison), and what was judged is scored. False
    when it had already finished."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        if batch.state in TERMINAL_STATES:
            return False
        open_comparisons = Comparison.objects.filter(batch_id=batch_id, status__in=OPEN_COMPARISON_STATES)
        # Calls still queued are withdrawn at the gateway: they never reach the provider (nor the bill).
        withdrawn = comparison_requests_cancel(
            request_ids=list(open_comparisons.exclude(llm_request=None).values_list("llm_request_id", flat=True))
        )
        waiting = open_comparisons.update(status=ComparisonStatus.CANCELLED, completed_at=timezone.now())
        judging_leases_end(batch_id=batch_id)
        batch_finish(
            batch=batch,
            state=BatchState.CANCELLED,
            reason=EndReason.CANCELLED,
            message="cancelled on request",
            details={"waiting_cancelled": waiting, "calls_withdrawn": withdrawn},
        )
        # What was judged before the cancel is scored now, so its results show without a rescore.
        batch_counters_refresh(batch_id=batch_id)
        batch.refresh_from_db()
        batch_score(batch=batch)
    return True


def batch_deletable(*, batch: Batch) -> bool:
    """A batch may be deleted before it starts or after it ends; a running one is cancelled first."""
    return batch.state == BatchState.CREATED or batch.state in TERMINAL_STATES


def batch_delete(*, batch_id: int) -> bool:
    """Delete a batch that has not started or has ended, with its essays and comparisons (their
    provider requests stay, for the usage accounts). False when it is running (or gone)."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None or not batch_deletable(batch=batch):
            return False
        state = batch.state
        batch.delete()
    logger.info("Batch deleted", extra={"batch_id": batch_id, "state": state})
    return True


def batch_rescore(*, batch_id: int) -> BatchScore | None:
    """Refit θ, SE and grades from the stored comparisons; no model is called."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        batch_counters_refresh(batch_id=batch_id)
        batch.refresh_from_db()
        score = batch_score(batch=batch)
        metadata_append(instance=batch, key="events", item={"at": timezone.now().isoformat(), "event": "rescored"})
    logger.info("Batch rescored", extra={"batch_id": batch_id})
    return score


def batch_continue(*, batch_id: int, additional_comparisons: int, reliability_target: float | None = None) -> Batch:
    """Judge more pairs for a finished batch: a new budget on top of what was used, history kept.

    The batch goes back to running and the next round (adaptive, from the current θ) is sent
    on commit. Without a `reliability_target` the new budget is spent in full (the batch had
    already met or missed its target); the round limit counts from the continuation.
    """
    if additional_comparisons < 1:
        raise InvalidInput("invalid continuation", fields={"additional_comparisons": ["must be at least 1"]})
    if reliability_target is not None and not 0 < reliability_target < 1:
        raise InvalidInput("invalid continuation", fields={"reliability_target": ["must be between 0 and 1 (exclusive)"]})
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        if batch.state not in (BatchState.COMPLETED, BatchState.FAILED) or batch.end_reason == EndReason.INSUFFICIENT_ESSAYS:
            raise Conflict(
                "batch cannot be continued",
                fields={
                    "state": [
                        f"a {batch.state} batch ({batch.end_reason or 'no end reason'}) cannot be continued; "
                        "only completed or failed batches with essays to compare can"
                    ]
                },
            )
        ceiling = settings.CJ_MAX_COMPARISONS_CEILING
        asked = batch.budget_spent + additional_comparisons
        new_budget = min(asked, ceiling)
        if new_budget <= batch.budget_spent:
            raise InvalidInput(
                "invalid continuation",
                fields={"additional_comparisons": [f"the batch is at the ceiling of {ceiling} comparisons"]},
            )
        next_round = batch.current_round + 1
        previous = {"state": batch.state, "end_reason": batch.end_reason, "round": batch.current_round}
        Batch.objects.filter(pk=batch_id).update(
            state=BatchState.RUNNING,
            end_reason="",
            end_message="",
            finished_at=None,
            awaiting_people=False,
            updated_at=timezone.now(),
        )
        metadata_merge(
            instance=batch,
            values={
                "comparison_budget": ComparisonBudget(
                    max_pairs_requested=new_budget, source="runner_override", capped_from=asked if asked > new_budget else None
                ),
                "segment": {
                    "start_round": next_round,
                    "start_planned": batch.comparisons_planned,
                    "reliability_target": reliability_target,
                },
            },
        )
        metadata_append(
            instance=batch,
            key="continuations",
            item={
                "at": timezone.now().isoformat(),
                "from": previous,
                "additional_comparisons": additional_comparisons,
                "budget": new_budget,
            },
        )
        batch.refresh_from_db()
        if round_open(batch=batch, round_no=next_round) == 0:
            batch_finish(
                batch=batch, state=BatchState.COMPLETED, reason=EndReason.PAIRS_EXHAUSTED, message="no pair left to compare"
            )
    logger.info("Batch continued", extra={"batch_id": batch_id, "round": next_round, "budget": new_budget})
    return Batch.objects.get(pk=batch_id)
