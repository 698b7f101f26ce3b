"""Writes of the CJ domain: assignments, anchors, batches, rounds, results, sweeping.

Every state change goes through a function here. Tasks are enqueued with
`transaction.on_commit`; work is claimed with conditional UPDATEs so that two workers (or a
redelivered task) never both act on one comparison or one round.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import numpy as np
from celery import chord
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from pydantic import ValidationError

from assessments import metrics, workflow
from assessments.batch_scoring import BatchScore, batch_score
from assessments.engine import pairing, stopping
from assessments.engine.scales import UnknownGradeError, get_scale
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
)
from assessments.schemas import (
    ANCHOR_ID_PREFIX,
    CJAnchorMetadata,
    CJAssessmentRequestData,
    CJLLMComparisonMetadata,
    ComparisonBudget,
)
from assessments.webhooks import batch_webhook_schedule
from cjproject.errors import Conflict, InvalidInput, invalid_from_pydantic
from llmgateway.schemas import ComparisonResult, LLMConfigOverrides, PromptParts
from llmgateway.services import provider_resolve

logger = logging.getLogger(__name__)

RESULT_CALLBACK_TASK = "assessments.comparison_result_received"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- Assignments and anchors -------------------------------------------------------------------


def assignment_create(
    *,
    owner: AbstractBaseUser,
    title: str,
    student_prompt: str,
    instructions: str = "",
    grade_scale: str = "swedish_a_f",
    custom_grades: Sequence[str] | None = None,
    context_origin: str = ContextOrigin.RESEARCH,
) -> Assignment:
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = ["must not be blank"]
    if not student_prompt.strip():
        errors["student_prompt"] = ["must not be blank"]
    if context_origin not in ContextOrigin.values:
        errors["context_origin"] = [f"{context_origin!r} is not allowed; choose one of: {', '.join(ContextOrigin.values)}"]
    try:
        get_scale(grade_scale, custom_grades)
    except UnknownGradeError as exc:
        errors["grade_scale"] = [str(exc)]
    if errors:
        raise InvalidInput("invalid assignment", fields=errors)
    return Assignment.objects.create(
        owner=owner,
        title=title.strip(),
        student_prompt=student_prompt,
        instructions=instructions,
        grade_scale=grade_scale,
        custom_grades=list(custom_grades or []),
        context_origin=context_origin,
    )


def anchor_register(*, assignment: Assignment, label: str, grade: str, text: str) -> AnchorEssay:
    """Add an anchor essay of known grade; the grade must belong to the assignment's scale."""
    errors: dict[str, list[str]] = {}
    if not label.strip():
        errors["label"] = ["must not be blank"]
    if not text.strip():
        errors["text"] = ["must not be blank"]
    try:
        assignment.scale.validate(grade)
    except UnknownGradeError as exc:
        errors["grade"] = [str(exc)]
    if errors:
        raise InvalidInput("invalid anchor", fields=errors)
    try:
        with transaction.atomic():
            return AnchorEssay.objects.create(
                assignment=assignment, label=label.strip(), grade=grade, text=text, text_sha256=text_sha256(text)
            )
    except IntegrityError:
        raise InvalidInput("invalid anchor", fields={"label": [f"{label!r} is already an anchor of this assignment"]}) from None


# Fields that shape what a judge is shown or how grades are read: fixed once a batch uses them.
ASSIGNMENT_CONTENT_FIELDS = ("student_prompt", "instructions", "grade_scale", "custom_grades", "context_origin")


def assignment_update(*, assignment: Assignment, changes: dict[str, Any]) -> Assignment:
    """Change an assignment. Its title may always change; its prompt, rubric, scale and origin only
    while no batch uses it (a batch's later rounds and continuations read them), and its scale
    only to one that holds every anchor's grade."""
    errors: dict[str, list[str]] = {}
    content = sorted(name for name in ASSIGNMENT_CONTENT_FIELDS if name in changes and changes[name] != getattr(assignment, name))
    if content and assignment.batches.exists():
        raise Conflict(
            "assignment in use",
            fields={name: ["cannot change once a batch uses the assignment; create a new assignment"] for name in content},
        )
    merged = {name: changes.get(name, getattr(assignment, name)) for name in ("title", *ASSIGNMENT_CONTENT_FIELDS)}
    if not str(merged["title"]).strip():
        errors["title"] = ["must not be blank"]
    if not str(merged["student_prompt"]).strip():
        errors["student_prompt"] = ["must not be blank"]
    if merged["context_origin"] not in ContextOrigin.values:
        allowed = ", ".join(ContextOrigin.values)
        errors["context_origin"] = [f"{merged['context_origin']!r} is not allowed; choose one of: {allowed}"]
    try:
        scale = get_scale(merged["grade_scale"], merged["custom_grades"])
        outside = sorted({a.grade for a in assignment.anchors.all()} - set(scale.grades))
        if outside:
            errors["grade_scale"] = [f"the anchors' grades {', '.join(outside)} are not on this scale"]
    except UnknownGradeError as exc:
        errors["grade_scale"] = [str(exc)]
    if errors:
        raise InvalidInput("invalid assignment", fields=errors)
    for name, value in merged.items():
        setattr(assignment, name, value.strip() if name == "title" else value)
    assignment.custom_grades = list(assignment.custom_grades or [])
    assignment.save()
    return assignment


def assignment_delete(*, assignment: Assignment) -> None:
    """Delete an assignment and its anchors; refused while a batch uses it (its results need it)."""
    used_by = assignment.batches.count()
    if used_by:
        raise Conflict("assignment in use", fields={"assignment": [f"{used_by} batch(es) use it; delete them first"]})
    assignment.delete()


def anchor_delete(*, anchor: AnchorEssay) -> None:
    """Remove an anchor from its assignment; batches keep their own copies of it."""
    anchor.delete()


# --- Batches -----------------------------------------------------------------------------------


def batch_create(
    *,
    owner: AbstractBaseUser,
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
    batch_judges(request=request)  # every judge must exist: provider and model (errors name the field)
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
        budget = workflow.budget_for(
            n_essays=n_essays,
            comparisons_per_essay=request.options.comparisons_per_essay or settings.CJ_COMPARISONS_PER_ESSAY,
            override=request.max_comparisons_override,
            ceiling=settings.CJ_MAX_COMPARISONS_CEILING,
        )
        snapshot = request.model_copy(update={"user_id": owner.pk, "assignment_id": assignment.pk if assignment else None})
        batch = Batch.objects.create(
            owner=owner,
            assignment=assignment,
            language=request.language,
            course_code=request.course_code,
            webhook_url=webhook_url,
            idempotency_key=idempotency_key,
            idempotency_body_sha256=idempotency_body_sha256,
            processing_metadata={
                "original_request": snapshot.model_dump(mode="json", exclude={"essays", "anchors"}),
                "comparison_budget": ComparisonBudget(max_pairs_requested=budget.max_pairs, source=budget.source).model_dump(),
            },
        )
        Essay.objects.bulk_create(
            [
                Essay(batch=batch, external_id=e.id, role=EssayRole.STUDENT, text=e.text, text_sha256=text_sha256(e.text))
                for e in request.essays
            ]
            + [
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


def batch_submit(
    *,
    owner: AbstractBaseUser,
    request: CJAssessmentRequestData,
    webhook_url: str = "",
    idempotency_key: str | None = None,
    idempotency_body_sha256: str = "",
) -> Batch:
    """Create a batch (see `batch_create`) and start it once the transaction commits (API clients)."""
    from assessments.tasks import start_batch

    with transaction.atomic():
        batch = batch_create(
            owner=owner,
            request=request,
            webhook_url=webhook_url,
            idempotency_key=idempotency_key,
            idempotency_body_sha256=idempotency_body_sha256,
        )
        transaction.on_commit(lambda: start_batch.delay(batch.pk))
    return batch


def _assignment_for(*, owner: AbstractBaseUser, request: CJAssessmentRequestData) -> Assignment | None:
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


def batch_judges(*, request: CJAssessmentRequestData) -> list[tuple[str, LLMConfigOverrides | None]]:
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


def batch_request(*, batch: Batch) -> CJAssessmentRequestData:
    """Rehydrate the stored request: overrides, budget and user survive every round and restart."""
    stored = dict(batch.processing_metadata["original_request"])
    essays = list(batch.essays.filter(role=EssayRole.STUDENT).values("external_id", "text"))
    stored["essays"] = [{"id": e["external_id"], "text": e["text"]} for e in essays]
    return CJAssessmentRequestData.model_validate(stored)


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
            _batch_finish(
                batch=batch,
                state=BatchState.FAILED,
                reason=EndReason.INSUFFICIENT_ESSAYS,
                message=f"a batch needs at least 2 essays (students and anchors) to compare; it has {n_essays}",
            )
            return True
        metadata_append(instance=batch, key="events", item={"at": timezone.now().isoformat(), "event": "started"})
        _round_open(batch=batch, round_no=1)
    return True


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


def _round_open(*, batch: Batch, round_no: int, boundaries: np.ndarray | None = None) -> int:
    """Plan a round with the engine, create its Comparison rows, send them on commit.

    Must run inside a transaction that holds the batch (claimed by the caller). Round 1 is a
    connected design; later rounds are adaptive, from the θ and SE stored by the last scoring
    and the grade boundaries when anchors gave some. Returns the number of comparisons planned
    (0: nothing left to compare).
    """
    request = batch_request(batch=batch)
    essays = list(batch.essays.order_by("id").values("id", "role", "theta", "se"))
    index_of = {e["id"]: i for i, e in enumerate(essays)}
    n = len(essays)
    used = batch.comparisons_planned
    size = workflow.round_size(
        round_no=round_no, n_essays=n, budget=_budget_of(batch), used=used, max_rounds=_max_rounds(request)
    )
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
        state = pairing.PairingState(
            theta=np.array([e["theta"] if e["theta"] is not None else 0.0 for e in essays]),
            se=np.array([e["se"] if e["se"] is not None else np.nan for e in essays]),
            comparisons=np.bincount(judged.ravel(), minlength=n),
            shown_first=np.bincount(judged[:, 0], minlength=n),
            shown_second=np.bincount(judged[:, 1], minlength=n),
            is_anchor=is_anchor,
            judged_pairs=judged,
            boundaries=boundaries,
        )
        pairs = pairing.plan_round(state, n_pairs=size, seed=seed).pairs
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
    from assessments.tasks import round_completed
    from llmgateway.services import batching_mode_resolve, comparison_requests_create, comparison_signatures

    batch = Batch.objects.select_related("assignment").get(pk=batch_id)
    request = batch_request(batch=batch)
    batching_mode = batching_mode_resolve(request.options.batching_mode)
    assignment = batch.assignment
    judges = batch_judges(request=request)
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
    body = round_completed.si(batch_id, round_no)
    logger.info("Round sent", extra={"batch_id": batch_id, "round": round_no, "comparisons": len(sent_ids)})
    if header:
        chord(header)(body)
    else:
        body.delay()


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
    if succeeded:
        fields.update(
            winner=result.answer.winner.lower(), confidence=result.answer.confidence, justification=result.answer.justification
        )
    else:
        fields.update(error_category=result.error_category or "internal", error_detail=result.error_detail)
    recorded = Comparison.objects.filter(pk=meta.comparison_id, batch_id=meta.batch_id, status__in=OPEN_COMPARISON_STATES).update(
        **fields
    )
    if recorded:
        # The batch's counters are recounted once this result is committed, not bumped here: the
        # gateway records a group of results in one transaction, and a bump would hold the batch
        # row locked until that commit, serialising every worker on it.
        transaction.on_commit(partial(batch_counters_refresh, batch_id=meta.batch_id))
    if not recorded:
        logger.info("Duplicate result ignored", extra={"batch_id": meta.batch_id, "comparison_id": meta.comparison_id})
        return False
    metrics.record(counters={"cj_comparisons_recorded_total": {"status": fields["status"]}})
    return True


def batch_counters_refresh(*, batch_id: int) -> None:
    """Recount the batch's judged and failed comparisons and its cost, in one UPDATE.

    Counted in the database from the comparisons themselves, so a recount is exact whenever it
    runs and repeating it is harmless; it also marks the batch as progressing (`updated_at`).
    """
    comparisons = Comparison.objects.filter(batch_id=OuterRef("pk")).order_by().values("batch_id")
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
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        batch_counters_refresh(batch_id=batch_id)
        batch.refresh_from_db()
        score = batch_score(batch=batch)
        decision = _stopping_decision(batch=batch, score=score, round_no=round_no)
        reason = decision.reason
        if not decision.stop:
            Batch.objects.filter(pk=batch_id).update(state=BatchState.RUNNING, updated_at=timezone.now())
            batch.refresh_from_db()
            boundaries = score.projection.calibration.boundaries if score and score.projection else None
            if _round_open(batch=batch, round_no=round_no + 1, boundaries=boundaries) == 0:
                reason = EndReason.PAIRS_EXHAUSTED
        entry = {"round": round_no, "decision": reason or "continue", **decision.inputs}
        logger.info("Continuation decision evaluated", extra={"batch_id": batch_id, **entry})
        planned_at = batch.comparisons.filter(round_no=round_no).aggregate(first=Min("created_at"))["first"]
        metrics.record(
            counters={"cj_rounds_total": {"decision": entry["decision"]}, "cj_decisions_total": {"decision": entry["decision"]}},
            durations={"cj_round_duration_seconds": (timezone.now() - planned_at).total_seconds()} if planned_at else None,
        )
        metadata_append(instance=batch, key="decisions", item=entry)
        if reason:
            _batch_conclude(batch=batch, reason=reason, score=score, round_no=round_no)


def _batch_conclude(*, batch: Batch, reason: str, score: BatchScore | None, round_no: int) -> None:
    """Finish a batch the stopping rule ended: completed, unless too few judgements succeeded."""
    batch.refresh_from_db()
    resolved = batch.comparisons_succeeded + batch.comparisons_failed
    share = batch.comparisons_succeeded / resolved if resolved else 0.0
    if share < settings.CJ_MIN_SUCCESS_RATE:
        _batch_finish(
            batch=batch,
            state=BatchState.FAILED,
            reason=EndReason.LOW_SUCCESS_RATE,
            message=(
                f"only {batch.comparisons_succeeded} of {resolved} judgements succeeded ({share:.0%}), below the required "
                f"{settings.CJ_MIN_SUCCESS_RATE:.0%}; the judge ({batch.comparisons_failed} failures) is not reliable enough "
                f"to rank this batch (the stopping rule had said: {reason})"
            ),
        )
        return
    ssr = score.fit.ssr if score else float("nan")
    _batch_finish(
        batch=batch,
        state=BatchState.COMPLETED,
        reason=reason,
        message=f"{batch.comparisons_succeeded} comparisons judged in {round_no} rounds; SSR {ssr:.3f}",
    )


def _stopping_decision(*, batch: Batch, score: BatchScore | None, round_no: int) -> stopping.Decision:
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
        comparisons=batch.comparisons_planned,
        ssr=score.fit.ssr if score else float("nan"),
        student_comparisons=score.fit.comparisons[is_student] if score else np.zeros(int(is_student.sum()), dtype=np.int64),
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
        grade_confidence=options.grade_confidence if segment["reliability_target"] == "default" else None,
    )
    return stopping.decide(state, config)


def _batch_finish(*, batch: Batch, state: str, reason: str, message: str) -> None:
    finished = (
        Batch.objects.filter(pk=batch.pk)
        .exclude(state__in=TERMINAL_STATES)
        .update(state=state, end_reason=reason, end_message=message, finished_at=timezone.now(), updated_at=timezone.now())
    )
    if not finished:
        return
    started_at = Batch.objects.values_list("started_at", flat=True).get(pk=batch.pk)
    metrics.record(
        counters={"cj_batches_finished_total": {"state": state, "end_reason": reason}},
        durations={"cj_batch_duration_seconds": (timezone.now() - started_at).total_seconds()} if started_at else None,
    )
    metadata_append(instance=batch, key="events", item={"at": timezone.now().isoformat(), "event": state, "end_reason": reason})
    logger.info("Batch finished", extra={"batch_id": batch.pk, "state": state, "end_reason": reason})
    batch_webhook_schedule(batch_id=batch.pk)


# --- Actions on a batch ------------------------------------------------------------------------


def batch_cancel(*, batch_id: int) -> bool:
    """Stop a batch: nothing more is sent, waiting comparisons are cancelled, results arriving
    later are ignored (they find no waiting comparison). False when it had already finished."""
    with transaction.atomic():
        now = timezone.now()
        cancelled = (
            Batch.objects.filter(pk=batch_id)
            .exclude(state__in=TERMINAL_STATES)
            .update(
                state=BatchState.CANCELLED,
                end_reason=EndReason.CANCELLED,
                end_message="cancelled on request",
                finished_at=now,
                updated_at=now,
            )
        )
        if not cancelled:
            return False
        waiting = Comparison.objects.filter(batch_id=batch_id, status__in=OPEN_COMPARISON_STATES).update(
            status=ComparisonStatus.CANCELLED, completed_at=now
        )
        batch = Batch.objects.get(pk=batch_id)
        metadata_append(
            instance=batch, key="events", item={"at": now.isoformat(), "event": "cancelled", "waiting_cancelled": waiting}
        )
        batch_webhook_schedule(batch_id=batch_id)
    logger.info("Batch cancelled", extra={"batch_id": batch_id, "waiting_cancelled": waiting})
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
        new_budget = min(batch.comparisons_planned + additional_comparisons, ceiling)
        if new_budget <= batch.comparisons_planned:
            raise InvalidInput(
                "invalid continuation",
                fields={"additional_comparisons": [f"the batch is at the ceiling of {ceiling} comparisons"]},
            )
        next_round = batch.current_round + 1
        previous = {"state": batch.state, "end_reason": batch.end_reason, "round": batch.current_round}
        Batch.objects.filter(pk=batch_id).update(
            state=BatchState.RUNNING, end_reason="", end_message="", finished_at=None, updated_at=timezone.now()
        )
        metadata_merge(
            instance=batch,
            values={
                "comparison_budget": ComparisonBudget(max_pairs_requested=new_budget, source="runner_override"),
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
        boundaries = None
        grading = batch.processing_metadata.get("grading", {})
        if grading.get("available"):
            boundaries = np.array([c for c in grading["cuts"] if c is not None])
        if _round_open(batch=batch, round_no=next_round, boundaries=boundaries) == 0:
            _batch_finish(
                batch=batch, state=BatchState.COMPLETED, reason=EndReason.PAIRS_EXHAUSTED, message="no pair left to compare"
            )
    logger.info("Batch continued", extra={"batch_id": batch_id, "round": next_round, "budget": new_budget})
    return Batch.objects.get(pk=batch_id)


# --- Recovery ----------------------------------------------------------------------------------


def batch_sweep(*, now: Any = None) -> dict[str, list[int]]:
    """Drive on batches whose round body never ran, and fail batches that stopped progressing.

    1. A running batch whose current round has no open comparison, untouched for the grace
       period: its round body is run again (it claims the round, so a late real body is harmless).
    2. A batch left in `scoring` longer than a task may run (its worker died): back to running,
       and its body is run again.
    3. A running or scoring batch with no progress for `CJ_STALL_TIMEOUT_SECONDS`: failed, with
       end reason `stalled` and a message; its open comparisons are cancelled.
    4. A comparison sent longer ago than its lease (`CJ_COMPARISON_LEASE_SECONDS`: its task was
       lost, or its worker died) is sent again, the same request in the same order; after
       `CJ_MAX_SEND_ATTEMPTS` sends it fails with category `lost` and is counted.
    """
    from assessments.tasks import round_completed

    now = now or timezone.now()
    report: dict[str, list[int]] = {"driven": [], "failed": [], "resent": [], "lost": []}
    stalled_before = now - timedelta(seconds=settings.CJ_STALL_TIMEOUT_SECONDS)
    # A provider batch job may take hours (up to a day): while beat still polls it, its batch is
    # waiting, not stalled.
    live_jobs = _live_provider_jobs(since=stalled_before)
    waiting_on_a_live_job = Exists(
        Comparison.objects.filter(batch_id=OuterRef("pk"), status=ComparisonStatus.SENT, llm_request__batch_job__in=live_jobs)
    )
    stalled = Batch.objects.filter(state__in=[BatchState.RUNNING, BatchState.SCORING], updated_at__lt=stalled_before).exclude(
        waiting_on_a_live_job
    )
    for batch in stalled:
        with transaction.atomic():
            failed = Batch.objects.filter(
                pk=batch.pk, state__in=[BatchState.RUNNING, BatchState.SCORING], updated_at__lt=stalled_before
            ).update(
                state=BatchState.FAILED,
                end_reason=EndReason.STALLED,
                finished_at=now,
                updated_at=now,
                end_message=f"no progress for {settings.CJ_STALL_TIMEOUT_SECONDS} s; failed by the sweeper",
            )
            if failed:
                batch.comparisons.filter(status__in=OPEN_COMPARISON_STATES).update(status=ComparisonStatus.CANCELLED)
                metadata_append(
                    instance=batch, key="events", item={"at": now.isoformat(), "event": "failed", "end_reason": "stalled"}
                )
                batch_webhook_schedule(batch_id=batch.pk)
                report["failed"].append(batch.pk)
    Batch.objects.filter(
        state=BatchState.SCORING, updated_at__lt=now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    ).update(state=BatchState.RUNNING, updated_at=now)
    idle_before = now - timedelta(seconds=settings.CJ_SWEEP_GRACE_SECONDS)
    waiting = (
        Batch.objects.filter(state=BatchState.RUNNING, updated_at__lt=idle_before, current_round__gte=1)
        .annotate(
            open=Count(
                "comparisons", filter=Q(comparisons__round_no=F("current_round"), comparisons__status__in=OPEN_COMPARISON_STATES)
            )
        )
        .filter(open=0)
        .values_list("pk", "current_round")
    )
    for batch_id, round_no in waiting:
        logger.warning("Sweeper drives a round whose body never ran", extra={"batch_id": batch_id, "round": round_no})
        transaction.on_commit(lambda b=batch_id, r=round_no: round_completed.delay(b, r))
        report["driven"].append(batch_id)
    _comparisons_resend_expired(now=now, report=report)
    return report


def _live_provider_jobs(*, since: Any) -> Any:
    """Provider batch jobs not finished whose poller (beat) has touched them since `since`."""
    from llmgateway.models import ProviderBatchJob

    return (
        ProviderBatchJob.objects.filter(status__in=[ProviderBatchJob.Status.CREATED, ProviderBatchJob.Status.SUBMITTED])
        .annotate(seen=Coalesce("last_polled_at", "submitted_at", "created_at"))
        .filter(seen__gte=since)
        .values("pk")
    )


def _comparisons_resend_expired(*, now: Any, report: dict[str, list[int]]) -> None:
    """Re-send comparisons whose lease expired; fail those sent too often (category `lost`)."""
    from llmgateway.services import comparison_signatures

    lease_before = now - timedelta(seconds=settings.CJ_COMPARISON_LEASE_SECONDS)
    expired = (
        Comparison.objects.filter(
            status=ComparisonStatus.SENT, sent_at__lt=lease_before, batch__state=BatchState.RUNNING, llm_request__isnull=False
        )
        # Items of a provider batch job still being polled are not lost: sending them again
        # would pay for them twice.
        .exclude(llm_request__batch_job__in=_live_provider_jobs(since=lease_before))
        .values_list("pk", "batch_id", "llm_request_id", "attempt")
    )
    resend: list[int] = []
    for comparison_id, batch_id, request_id, attempt in expired:
        if attempt >= settings.CJ_MAX_SEND_ATTEMPTS:
            with transaction.atomic():
                lost = Comparison.objects.filter(pk=comparison_id, status=ComparisonStatus.SENT).update(
                    status=ComparisonStatus.FAILED,
                    error_category="lost",
                    error_detail=f"no result after {attempt} sends, each waited {settings.CJ_COMPARISON_LEASE_SECONDS} s",
                    completed_at=now,
                )
                if lost:
                    batch_counters_refresh(batch_id=batch_id)
                    report["lost"].append(comparison_id)
            continue
        renewed = Comparison.objects.filter(pk=comparison_id, status=ComparisonStatus.SENT, sent_at__lt=lease_before).update(
            sent_at=now, attempt=F("attempt") + 1
        )
        if renewed:
            resend.append(request_id)
            report["resent"].append(comparison_id)
    if resend:
        logger.warning("Sweeper re-sends comparisons whose lease expired", extra={"comparisons": len(resend)})
        signatures = comparison_signatures(request_ids=resend, batching_mode="per_request")
        transaction.on_commit(lambda: [signature.delay() for signature in signatures])
