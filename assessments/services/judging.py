"""People judging beside the LLM: invitations, pairs handed out on request (leases), verdicts
recorded like the LLM's, and how a batch waits for people and ends.

- A pair is chosen when a person asks (`judging_next_pair`), by the engine's planner, from the
  θ and SE of the latest scoring; `moderation` hands out pairs the LLM has judged instead.
- A lease holds the pair for `CJ_JUDGING_LEASE_SECONDS`; an answer after that is still taken
  if the batch still accepts people's work; an abandoned pair goes back to the pool.
- An answer becomes a succeeded `Comparison` (judge label `human:<user id>`, never a name) and
  is counted like an LLM result (`comparisons_planned`, `batch_counters_bump`), so the fit and
  the stop rule see it.
- A batch whose LLM rounds would stop while people still owe judgements waits for them
  (`awaiting_people`); a `human` batch waits from the start. `judging_checkpoint` rescores it
  every `CJ_JUDGING_CHECKPOINT_EVERY` human judgements and ends it through `batch_conclude`
  (so `batch_finish`) once people's share is done, the deadline passed or the stop rule's
  reliability or grade targets are met.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from assessments.engine import pairing
from assessments.metadata import metadata_append, metadata_merge
from assessments.models import (
    HUMAN_JUDGE_MODES,
    HUMAN_JUDGE_PREFIX,
    Batch,
    BatchJudge,
    BatchState,
    Comparison,
    ComparisonStatus,
    EndReason,
    JudgeMode,
    JudgingLease,
    LeaseStatus,
)
from assessments.services.endings import batch_conclude, batch_finish
from assessments.services.results import batch_counters_bump, batch_counters_refresh
from assessments.services.scoring import batch_score
from cjproject.errors import Conflict, InvalidInput

logger = logging.getLogger(__name__)

# The labels people see: never an essay's id, a file name or a student's name.
LABEL_A = "Essay A"
LABEL_B = "Essay B"
# Default share of the budget asked of people when a batch names none.
DEFAULT_HUMAN_SHARE = {JudgeMode.HYBRID: 0.3, JudgeMode.MODERATION: 0.1}
# Stop rules that end a `human` batch before its budget is spent: the targets of quality. In
# hybrid and moderation batches people's share is done in full (or the deadline passes): the
# LLM reaches such targets within minutes, before anyone has judged.
QUALITY_REASONS = (EndReason.RELIABILITY_REACHED, EndReason.GRADES_SETTLED)


def human_judge_label(user_id: int) -> str:
    """A person's judge label in comparisons, logs and results: opaque, never a name."""
    return f"{HUMAN_JUDGE_PREFIX}{user_id}"


@dataclass(frozen=True)
class JudgingProgress:
    judged_by_you: int
    human_judgements: int
    human_quota: int
    still_needed: int


@dataclass(frozen=True)
class PairOffer:
    """A pair handed to a person, as they see it: opaque labels and the texts, nothing else."""

    lease_id: int
    expires_at: datetime
    essay_a_text: str
    essay_b_text: str
    progress: JudgingProgress
    label_a: str = LABEL_A
    label_b: str = LABEL_B


@dataclass(frozen=True)
class NoPair:
    """Why there is no pair for this person now."""

    reason: str
    progress: JudgingProgress


@dataclass(frozen=True)
class JudgementRecorded:
    comparison_id: int
    winner: str
    created: bool  # False: the same answer was recorded before (nothing changed)
    progress: JudgingProgress


# --- Who may judge -----------------------------------------------------------------------------


def judging_permitted(*, batch: Batch, user: Any) -> bool:
    """The owner, an invited person, or a superuser."""
    return bool(
        user.is_superuser or batch.owner_id == user.pk or BatchJudge.objects.filter(batch=batch, user_id=user.pk).exists()
    )


def batch_judge_invite(*, batch: Batch, user: User) -> BatchJudge:
    """Invite a person to judge a batch (again: the same invitation)."""
    invitation, created = BatchJudge.objects.get_or_create(batch=batch, user=user)
    if created:
        logger.info("Judge invited", extra={"batch_id": batch.pk, "judge": human_judge_label(user.pk)})
    return invitation


def batch_judge_invite_named(*, batch: Batch, username: str, staff_only: bool = False) -> tuple[BatchJudge, bool]:
    """Invite an active user by user name (`staff_only`: one who can sign in to the admin, where
    the judging page is); returns the invitation and whether it is new. Unknown: InvalidInput."""
    people = User.objects.filter(username=username, is_active=True)
    person = (people.filter(is_staff=True) if staff_only else people).first()
    if person is None:
        who = "grader (staff user)" if staff_only else "active user"
        raise InvalidInput("unknown person", fields={"username": [f"no {who} named {username!r}"]})
    existed = BatchJudge.objects.filter(batch=batch, user=person).exists()
    return batch_judge_invite(batch=batch, user=person), not existed


def batch_judge_remove(*, batch: Batch, user: User) -> bool:
    """Withdraw an invitation; the person's open pair goes back to the pool, their verdicts stay."""
    with transaction.atomic():
        JudgingLease.objects.filter(batch=batch, user=user, status=LeaseStatus.OPEN).update(status=LeaseStatus.EXPIRED)
        removed, _ = BatchJudge.objects.filter(batch=batch, user=user).delete()
    return bool(removed)


# --- How much people are asked for -------------------------------------------------------------


def human_quota(*, batch: Batch) -> int:
    """Human judgements the batch asks for: the whole budget (`human`), or `human_share` of it."""
    if batch.judge_mode not in HUMAN_JUDGE_MODES:
        return 0
    budget = int(batch.processing_metadata.get("comparison_budget", {}).get("max_pairs_requested", 0))
    if batch.judge_mode == JudgeMode.HUMAN:
        return budget
    share = batch.human_share or DEFAULT_HUMAN_SHARE[JudgeMode(batch.judge_mode)]
    return max(1, math.ceil(share * budget))


def _human_judgements(batch: Batch) -> Any:
    return Comparison.objects.filter(batch=batch, judge_user__isnull=False, status=ComparisonStatus.SUCCEEDED)


def judging_progress(*, batch: Batch, user: Any) -> JudgingProgress:
    done = _human_judgements(batch).count()
    quota = human_quota(batch=batch)
    return JudgingProgress(
        judged_by_you=_human_judgements(batch).filter(judge_user_id=user.pk).count(),
        human_judgements=done,
        human_quota=quota,
        still_needed=max(0, quota - done),
    )


def _deadline_passed(batch: Batch, now: datetime) -> bool:
    return batch.human_deadline is not None and batch.human_deadline <= now


def judging_closed_reason(*, batch: Batch, now: datetime | None = None, ignore_state: bool = False) -> str | None:
    """Why people cannot judge this batch now (None: they can)."""
    now = now or timezone.now()
    if batch.judge_mode not in HUMAN_JUDGE_MODES:
        return "this batch is judged by the LLM only"
    if not ignore_state and batch.state == BatchState.CREATED:
        return "the batch has not started yet"
    if not ignore_state and batch.state not in (BatchState.RUNNING, BatchState.SCORING):
        return f"the batch has finished ({batch.state})"
    if _deadline_passed(batch, now):
        return "the deadline for human judgements has passed"
    if _human_judgements(batch).count() >= human_quota(batch=batch):
        return "the batch needs no more human judgements"
    return None


# --- Handing out pairs -------------------------------------------------------------------------


def judging_leases_expire(*, batch_id: int | None = None, now: datetime | None = None) -> int:
    """Open leases past their expiry go back to the pool; returns how many."""
    leases = JudgingLease.objects.filter(status=LeaseStatus.OPEN, expires_at__lte=now or timezone.now())
    if batch_id is not None:
        leases = leases.filter(batch_id=batch_id)
    return leases.update(status=LeaseStatus.EXPIRED)


def judging_next_pair(*, batch: Batch, user: Any) -> PairOffer | NoPair:
    """The pair this person should judge now.

    1. Expired leases of the batch go back to the pool.
    2. The person's own open lease, if any, is handed out again (asking twice is harmless).
    3. If the batch does not accept people's work now, say why.
    4. Choose a pair this person has never judged nor skipped, and nobody holds: `moderation`:
       one the LLM judged, fewest human verdicts first; otherwise the engine's planner on the
       latest θ and SE, preferring pairs nobody judged, then pairs only others judged.
    5. Draw which essay is shown first, and lease it for `CJ_JUDGING_LEASE_SECONDS`.
    """
    if not judging_permitted(batch=batch, user=user):
        raise Conflict("not a judge of this batch", fields={"batch": ["you are not invited to judge this batch"]})
    now = timezone.now()
    judging_leases_expire(batch_id=batch.pk, now=now)
    own = _open_lease(batch=batch, user=user)
    if own is not None:
        return _offer(own, batch=batch, user=user)
    batch.refresh_from_db()
    reason = judging_closed_reason(batch=batch, now=now)
    if reason is not None:
        return NoPair(reason=reason, progress=judging_progress(batch=batch, user=user))
    pair = _choose_pair(batch=batch, user=user)
    if pair is None:
        return NoPair(
            reason="you have judged every pair this batch can offer you", progress=judging_progress(batch=batch, user=user)
        )
    first, second = pair if secrets.randbelow(2) == 0 else (pair[1], pair[0])
    try:
        with transaction.atomic():
            lease = JudgingLease.objects.create(
                batch=batch,
                user=user,
                essay_a_id=first,
                essay_b_id=second,
                expires_at=now + timedelta(seconds=settings.CJ_JUDGING_LEASE_SECONDS),
            )
    except IntegrityError:  # the same person asked twice at once: the other request leased a pair
        other = _open_lease(batch=batch, user=user)
        if other is None:
            raise
        lease = other
    logger.info(
        "Pair leased to a person", extra={"batch_id": batch.pk, "lease_id": lease.pk, "judge": human_judge_label(user.pk)}
    )
    return _offer(lease, batch=batch, user=user)


def _open_lease(*, batch: Batch, user: Any) -> JudgingLease | None:
    return (
        JudgingLease.objects.filter(batch=batch, user_id=user.pk, status=LeaseStatus.OPEN, expires_at__gt=timezone.now())
        .select_related("essay_a", "essay_b")
        .first()
    )


def _offer(lease: JudgingLease, *, batch: Batch, user: Any) -> PairOffer:
    return PairOffer(
        lease_id=lease.pk,
        expires_at=lease.expires_at,
        essay_a_text=lease.essay_a.text,
        essay_b_text=lease.essay_b.text,
        progress=judging_progress(batch=batch, user=user),
    )


def _choose_pair(*, batch: Batch, user: Any) -> tuple[int, int] | None:
    """Essay ids (unordered) of the pair to offer, or None when none is left for this person."""
    essays = list(batch.essays.order_by("id").values("id", "role", "theta", "se", "grade_probabilities"))
    index_of = {e["id"]: i for i, e in enumerate(essays)}
    n = len(essays)
    if n < 2:
        return None
    ids = [e["id"] for e in essays]

    def index_pairs(rows: Any) -> np.ndarray:
        return np.array([(index_of[a], index_of[b]) for a, b in rows], dtype=np.int64).reshape(-1, 2)

    live = batch.comparisons.exclude(status=ComparisonStatus.CANCELLED)
    judged = index_pairs(live.values_list("essay_a_id", "essay_b_id"))
    # Never for this person: pairs they judged or skipped; not now: pairs someone holds.
    own = index_pairs(live.filter(judge_user_id=user.pk).values_list("essay_a_id", "essay_b_id"))
    skipped = index_pairs(
        JudgingLease.objects.filter(batch=batch, user_id=user.pk, status=LeaseStatus.SKIPPED).values_list(
            "essay_a_id", "essay_b_id"
        )
    )
    held = index_pairs(JudgingLease.objects.filter(batch=batch, status=LeaseStatus.OPEN).values_list("essay_a_id", "essay_b_id"))
    never = np.concatenate([own, skipped, held])
    if batch.judge_mode == JudgeMode.MODERATION:
        llm = index_pairs(
            live.filter(judge_user__isnull=True, status=ComparisonStatus.SUCCEEDED).values_list("essay_a_id", "essay_b_id")
        )
        humans = index_pairs(live.filter(judge_user__isnull=False).values_list("essay_a_id", "essay_b_id"))
        chosen = moderation_pick(llm_pairs=llm, human_pairs=humans, excluded=never, n_items=n, seed=secrets.randbits(32))
        return None if chosen is None else (ids[chosen[0]], ids[chosen[1]])
    from assessments.services.rounds import pairing_state

    floor = settings.CJ_MIN_COMPARISONS_PER_ESSAY
    # Fresh pairs first (most informative), then pairs only others have judged.
    for excluded in (np.concatenate([judged, never]), never):
        state = pairing_state(batch=batch, essays=essays, judged=judged, excluded=excluded)
        plan = pairing.plan_round(state, n_pairs=1, seed=secrets.randbits(32), allow_repeats=False, floor=floor)
        if len(plan.pairs):
            a, b = (int(x) for x in plan.pairs[0])
            return ids[a], ids[b]
    return None


def moderation_pick(
    *, llm_pairs: np.ndarray, human_pairs: np.ndarray, excluded: np.ndarray, n_items: int, seed: int
) -> tuple[int, int] | None:
    """A pair the LLM judged and this person may take: fewest human verdicts so far first (so a
    sample spreads over the LLM's pairs before any is judged by a second person), random among ties."""
    llm_keys = np.unique(pairing.pair_keys(llm_pairs, n_items))
    llm_keys = llm_keys[~np.isin(llm_keys, pairing.pair_keys(excluded, n_items))]
    if llm_keys.size == 0:
        return None
    # Human verdicts per LLM pair, by sorted lookup (no LLM pairs × human pairs comparison).
    human_keys, human_counts = np.unique(pairing.pair_keys(human_pairs, n_items), return_counts=True)
    votes = np.zeros(len(llm_keys), dtype=np.int64)
    if human_keys.size:
        at = np.minimum(np.searchsorted(human_keys, llm_keys), human_keys.size - 1)
        found = human_keys[at] == llm_keys
        votes[found] = human_counts[at[found]]
    candidates = llm_keys[votes == votes.min()]
    key = int(np.random.default_rng(seed).choice(candidates))
    return key // n_items, key % n_items


def judging_skip(*, batch: Batch, user: Any, lease_id: int) -> bool:
    """The person passes on this pair: never offered to them again (others may get it).
    Skipping twice is harmless; a pair already answered cannot be skipped (Conflict)."""
    lease = JudgingLease.objects.filter(pk=lease_id, batch=batch, user_id=user.pk).first()
    if lease is None:
        raise InvalidInput("unknown pair", fields={"lease_id": [f"no pair {lease_id} was handed to you in this batch"]})
    if lease.status == LeaseStatus.RECORDED:
        raise Conflict("pair already judged", fields={"lease_id": ["you have already judged this pair"]})
    JudgingLease.objects.filter(pk=lease.pk, status__in=[LeaseStatus.OPEN, LeaseStatus.EXPIRED]).update(
        status=LeaseStatus.SKIPPED
    )
    return True


def judging_release(*, batch: Batch, user: Any) -> int:
    """ "Stop for now": the person's open pair goes back to the pool at once."""
    return JudgingLease.objects.filter(batch=batch, user_id=user.pk, status=LeaseStatus.OPEN).update(status=LeaseStatus.EXPIRED)


# --- Recording a verdict -----------------------------------------------------------------------


def judging_record(
    *, batch: Batch, user: Any, lease_id: int, winner: str, comment: str = "", duration_ms: int | None = None
) -> JudgementRecorded:
    """Record a person's verdict on their leased pair, once.

    1. Lock the batch's row, then the lease (it must be this person's, in this batch).
    2. Already answered: the same winner returns the same comparison (nothing counted twice);
       another winner is a Conflict. A skipped pair is a Conflict.
    3. The batch must still accept people's work (running or scoring; deadline not passed).
    4. Create a succeeded Comparison (judge label `human:<id>`, time capped by the lease's age
       and `CJ_JUDGING_MAX_DURATION_SECONDS`), add it to `comparisons_planned` and count it
       with `batch_counters_bump`, as an LLM result is.
    5. A batch waiting only for people is checked (`judging_checkpoint`) every
       `CJ_JUDGING_CHECKPOINT_EVERY` human judgements and when their share is done.
    """
    if winner not in ("a", "b"):
        raise InvalidInput("invalid judgement", fields={"winner": ['"a" (Essay A is better) or "b" (Essay B is better)']})
    now = timezone.now()
    with transaction.atomic():
        # The batch's row first, then the lease: the one lock order of every writer of a batch's
        # counters (see `results._batch_lock`) and of a checkpoint, which ends open leases.
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        lease = (
            JudgingLease.objects.select_for_update(of=("self",))
            .filter(pk=lease_id, batch=batch, user_id=user.pk)
            .select_related("comparison")
            .first()
        )
        if lease is None:
            raise InvalidInput("unknown pair", fields={"lease_id": [f"no pair {lease_id} was handed to you in this batch"]})
        if lease.status == LeaseStatus.RECORDED and lease.comparison is not None:
            if lease.comparison.winner != winner:
                raise Conflict(
                    "judgement already recorded",
                    fields={"winner": [f"this pair was recorded with winner {lease.comparison.winner!r}; it cannot change"]},
                )
            return JudgementRecorded(
                comparison_id=lease.comparison.pk, winner=winner, created=False, progress=judging_progress(batch=batch, user=user)
            )
        if lease.status == LeaseStatus.SKIPPED:
            raise Conflict("pair skipped", fields={"lease_id": ["you skipped this pair; ask for the next one"]})
        if batch.state not in (BatchState.RUNNING, BatchState.SCORING):
            raise Conflict("batch not judging", fields={"batch": [f"the batch is {batch.state}: it takes no more judgements"]})
        if _deadline_passed(batch, now):
            raise Conflict("deadline passed", fields={"batch": ["the deadline for human judgements has passed"]})
        elapsed_ms = int((now - lease.created_at).total_seconds() * 1000)
        cap_ms = settings.CJ_JUDGING_MAX_DURATION_SECONDS * 1000
        took = min(duration_ms if duration_ms is not None else elapsed_ms, elapsed_ms, cap_ms)
        try:
            with transaction.atomic():
                comparison = Comparison.objects.create(
                    batch=batch,
                    round_no=max(batch.current_round, 1),
                    essay_a_id=lease.essay_a_id,
                    essay_b_id=lease.essay_b_id,
                    status=ComparisonStatus.SUCCEEDED,
                    winner=winner,
                    judge=human_judge_label(user.pk),
                    judge_user_id=user.pk,
                    comment=comment,
                    duration_ms=max(0, took),
                    sent_at=lease.created_at,
                    completed_at=now,
                )
        except IntegrityError:
            raise Conflict("pair already judged", fields={"lease_id": ["you have already judged this pair"]}) from None
        Batch.objects.filter(pk=batch.pk).update(comparisons_planned=F("comparisons_planned") + 1, updated_at=now)
        lease.status = LeaseStatus.RECORDED
        lease.comparison = comparison
        lease.save(update_fields=["status", "comparison"])
        batch_counters_bump(batch_id=batch.pk, comparison_id=comparison.pk, succeeded=True, cost_usd=comparison.cost_usd)
        progress = judging_progress(batch=batch, user=user)
        if batch.awaiting_people and (
            progress.still_needed == 0 or progress.human_judgements % settings.CJ_JUDGING_CHECKPOINT_EVERY == 0
        ):
            judging_checkpoint_schedule(batch_id=batch.pk)
    logger.info(
        "Human judgement recorded",
        extra={"batch_id": batch.pk, "comparison_id": comparison.pk, "judge": comparison.judge, "duration_ms": took},
    )
    return JudgementRecorded(comparison_id=comparison.pk, winner=winner, created=True, progress=progress)


# --- A batch waiting for people ----------------------------------------------------------------


def judging_awaited(*, batch: Batch, now: datetime | None = None) -> bool:
    """True when people still owe this batch judgements (mode, deadline, share), whatever its state."""
    return judging_closed_reason(batch=batch, now=now, ignore_state=True) is None


def batch_await_people(*, batch: Batch, llm_reason: str | None) -> bool:
    """Keep a batch running for people instead of ending it (its LLM rounds are done, or it has
    none); True if it now waits. Call under the batch's row lock."""
    if not judging_awaited(batch=batch):
        return False
    Batch.objects.filter(pk=batch.pk).update(state=BatchState.RUNNING, awaiting_people=True, updated_at=timezone.now())
    metadata_merge(instance=batch, values={"awaiting_people": {"since": timezone.now().isoformat(), "llm_reason": llm_reason}})
    logger.info("Batch waits for human judgements", extra={"batch_id": batch.pk, "llm_reason": llm_reason})
    return True


def judging_checkpoint_schedule(*, batch_id: int) -> None:
    from assessments.tasks import judging_checkpoint

    transaction.on_commit(lambda: judging_checkpoint.delay(batch_id))


def judging_checkpoint(*, batch_id: int) -> str | None:
    """Rescore a batch waiting for people and end it when it should; returns the end reason.

    Ends it when people's share is done or the deadline passed (reason: `human_deadline` for a
    passed deadline, else the LLM's own stop reason, else `budget_exhausted`), or, in a `human`
    batch, early when the stop rule's reliability or grade target is met.
    """
    from assessments.services.rounds import stopping_decision

    with transaction.atomic():
        batch = Batch.objects.select_for_update().filter(pk=batch_id, state=BatchState.RUNNING, awaiting_people=True).first()
        if batch is None:
            return None
        batch_counters_refresh(batch_id=batch_id)
        batch.refresh_from_db()
        score = batch_score(batch=batch)
        round_no = max(batch.current_round, 1)
        decision = stopping_decision(batch=batch, score=score, round_no=round_no)
        now = timezone.now()
        reason: str | None = None
        if batch.judge_mode == JudgeMode.HUMAN and decision.reason in QUALITY_REASONS:
            reason = decision.reason
        elif not judging_awaited(batch=batch, now=now):
            llm_reason = (batch.processing_metadata.get("awaiting_people") or {}).get("llm_reason")
            reason = EndReason.HUMAN_DEADLINE if _deadline_passed(batch, now) else (llm_reason or EndReason.BUDGET_EXHAUSTED)
        entry = {"round": round_no, "decision": reason or "awaiting_people", "checkpoint": "people", **decision.inputs}
        logger.info("Continuation decision evaluated", extra={"batch_id": batch_id, **entry})
        metadata_append(instance=batch, key="decisions", item=entry)
        if reason:
            Batch.objects.filter(pk=batch_id).update(awaiting_people=False)
            judging_leases_end(batch_id=batch_id)
            if batch.comparisons_succeeded == 0:  # nobody judged anything: nothing to score
                batch_finish(
                    batch=batch,
                    state=BatchState.FAILED,
                    reason=reason,
                    message="no judgement was made before the batch had to end (deadline passed)",
                )
            else:
                batch_conclude(batch=batch, reason=reason, score=score, round_no=round_no)
    return reason


def judging_close(*, batch_id: int) -> str | None:
    """The owner ends human judging now: the deadline becomes now, and a batch waiting only for
    people is scored and finished (`human_deadline`). Returns the end reason (None: it goes on,
    as its LLM rounds still run)."""
    Batch.objects.filter(pk=batch_id, judge_mode__in=HUMAN_JUDGE_MODES).update(human_deadline=timezone.now())
    judging_leases_end(batch_id=batch_id)
    logger.info("Human judging closed by the owner", extra={"batch_id": batch_id})
    return judging_checkpoint(batch_id=batch_id)


def judging_leases_end(*, batch_id: int) -> int:
    """A batch that ends takes no more answers: its open leases expire."""
    return JudgingLease.objects.filter(batch_id=batch_id, status=LeaseStatus.OPEN).update(status=LeaseStatus.EXPIRED)


def judging_deadlines_sweep(*, now: datetime) -> list[int]:
    """Beat: expire old leases; check batches waiting for people whose deadline has passed."""
    judging_leases_expire(now=now)
    due = list(
        Batch.objects.filter(state=BatchState.RUNNING, awaiting_people=True)
        .filter(Q(human_deadline__lte=now))
        .values_list("pk", flat=True)
    )
    for batch_id in due:
        judging_checkpoint_schedule(batch_id=batch_id)
    return due


# --- Excluding a judge -------------------------------------------------------------------------


def judge_exclude(*, batch: Batch, judge: str, excluded: bool = True) -> list[str]:
    """Leave a judge's verdicts out of the fit (or bring them back) and rescore; returns the
    batch's excluded judges. `judge` is a label from the results' `judges` (an LLM's
    `provider/model`, a person's `human:<id>`); the verdicts stay stored."""
    labels = set(batch.comparisons.values_list("judge", flat=True).distinct())
    labels.discard("")
    known = labels | {"default"} if batch.comparisons.filter(judge="").exists() else labels
    if judge not in known:
        raise InvalidInput(
            "unknown judge", fields={"judge": [f"no judge {judge!r} in this batch; judges: {', '.join(sorted(known))}"]}
        )
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        current = set(batch.processing_metadata.get("excluded_judges", []))
        current = current | {judge} if excluded else current - {judge}
        metadata_merge(instance=batch, values={"excluded_judges": sorted(current)})
        batch.refresh_from_db()
        batch_score(batch=batch)
    logger.info("Judge exclusion changed", extra={"batch_id": batch.pk, "judge": judge, "excluded": excluded})
    return sorted(current)
