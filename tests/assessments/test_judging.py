"""People judging beside the LLM: who may judge, pairs handed out on request, leases, verdicts
counted like the LLM's, batches that wait for people, and the mixed fit."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from assessments import services
from assessments.models import Batch, BatchJudge, Comparison, EndReason, JudgingLease, LeaseStatus
from assessments.services import judging
from assessments.services.judging import NoPair, PairOffer
from cjproject.errors import Conflict, InvalidInput
from tests.conftest import essays

pytestmark = pytest.mark.django_db
# Tests whose flow runs on commit (LLM rounds in process, checkpoints) need real commits.
committing = pytest.mark.django_db(transaction=True)


@pytest.fixture
def grader(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="grader", password="grader-pass-123")


def _start(owner: Any, n: int = 4, **options: Any) -> Batch:
    request: dict[str, Any] = {"essays": essays(n), "options": options}
    budget = options.pop("budget", None)
    if budget:
        request["max_comparisons_override"] = budget
    batch = services.batch_create(owner=owner, request=request)
    services.batch_start(batch_id=batch.pk)
    return Batch.objects.get(pk=batch.pk)


def _judge(batch: Batch, user: Any, winner: str = "a") -> Any:
    offer = services.judging_next_pair(batch=batch, user=user)
    assert isinstance(offer, PairOffer), offer
    return offer, services.judging_record(batch=batch, user=user, lease_id=offer.lease_id, winner=winner, duration_ms=1500)


def test_a_human_batch_calls_no_llm_and_waits_for_people(owner):
    batch = _start(owner, judge_mode="human")
    assert batch.state == "running" and batch.awaiting_people
    assert batch.comparisons.count() == 0
    assert batch.current_round == 1


def test_the_owner_and_invited_graders_may_judge_and_nobody_else(owner, grader, other_user):
    batch = _start(owner, judge_mode="human")
    services.batch_judge_invite(batch=batch, user=grader)
    assert isinstance(services.judging_next_pair(batch=batch, user=owner), PairOffer)
    assert isinstance(services.judging_next_pair(batch=batch, user=grader), PairOffer)
    with pytest.raises(Conflict):
        services.judging_next_pair(batch=batch, user=other_user)
    from assessments.selectors import batches_judgeable

    assert list(batches_judgeable(user=grader)) == [batch]
    assert list(batches_judgeable(user=other_user)) == []


def test_asking_twice_hands_out_the_same_pair_under_opaque_labels(owner):
    batch = _start(owner, judge_mode="human")
    first = services.judging_next_pair(batch=batch, user=owner)
    again = services.judging_next_pair(batch=batch, user=owner)
    assert isinstance(first, PairOffer) and isinstance(again, PairOffer)
    assert first.lease_id == again.lease_id
    assert (first.label_a, first.label_b) == ("Essay A", "Essay B")
    assert JudgingLease.objects.filter(batch=batch, status=LeaseStatus.OPEN).count() == 1


def test_a_verdict_is_counted_once_like_an_llm_result(owner):
    batch = _start(owner, judge_mode="human")
    offer, recorded = _judge(batch, owner, "b")
    assert recorded.created
    again = services.judging_record(batch=batch, user=owner, lease_id=offer.lease_id, winner="b")
    assert not again.created and again.comparison_id == recorded.comparison_id
    batch.refresh_from_db()
    assert (batch.comparisons_planned, batch.comparisons_succeeded) == (1, 1)
    comparison = Comparison.objects.get(pk=recorded.comparison_id)
    assert comparison.judge == f"human:{owner.pk}" and comparison.judge_user == owner
    assert comparison.status == "succeeded" and comparison.winner == "b" and comparison.counted
    assert comparison.duration_ms is not None and comparison.duration_ms <= 1500


def test_another_answer_for_a_recorded_pair_is_a_conflict(owner):
    batch = _start(owner, judge_mode="human")
    offer, _ = _judge(batch, owner, "a")
    with pytest.raises(Conflict) as excinfo:
        services.judging_record(batch=batch, user=owner, lease_id=offer.lease_id, winner="b")
    assert "winner" in excinfo.value.fields
    assert Comparison.objects.filter(batch=batch).count() == 1


def test_a_pair_leased_to_someone_else_is_an_unknown_pair(owner, grader):
    batch = _start(owner, judge_mode="human")
    services.batch_judge_invite(batch=batch, user=grader)
    offer = services.judging_next_pair(batch=batch, user=owner)
    with pytest.raises(InvalidInput) as excinfo:
        services.judging_record(batch=batch, user=grader, lease_id=offer.lease_id, winner="a")
    assert "lease_id" in excinfo.value.fields


def test_a_person_never_gets_the_same_pair_twice(owner):
    batch = _start(owner, n=4, judge_mode="human", budget=50)  # 6 distinct pairs
    seen = []
    while isinstance(offer := services.judging_next_pair(batch=batch, user=owner), PairOffer):
        lease = JudgingLease.objects.get(pk=offer.lease_id)
        seen.append(frozenset((lease.essay_a_id, lease.essay_b_id)))
        services.judging_record(batch=batch, user=owner, lease_id=offer.lease_id, winner="a")
    assert len(seen) == 6 and len(set(seen)) == 6
    assert isinstance(offer, NoPair) and "every pair" in offer.reason


def test_two_people_may_judge_the_same_pair_once_fresh_pairs_run_out(owner, grader):
    batch = _start(owner, n=3, judge_mode="human", budget=50)  # 3 pairs
    services.batch_judge_invite(batch=batch, user=grader)
    for _ in range(3):
        _judge(batch, owner)
    for _ in range(3):
        _judge(batch, grader)
    assert Comparison.objects.filter(batch=batch, judge_user=grader).count() == 3


def test_the_database_refuses_a_second_verdict_of_one_person_on_one_pair(owner):
    from django.db import IntegrityError, transaction

    batch = _start(owner, judge_mode="human")
    _, recorded = _judge(batch, owner)
    c = Comparison.objects.get(pk=recorded.comparison_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        Comparison.objects.create(
            batch=batch,
            round_no=1,
            essay_a_id=c.essay_b_id,
            essay_b_id=c.essay_a_id,
            status="succeeded",
            winner="a",
            judge_user=owner,
        )


def test_an_expired_lease_returns_its_pair_to_the_pool(owner, grader):
    batch = _start(owner, n=3, judge_mode="human")
    services.batch_judge_invite(batch=batch, user=grader)
    # Three pairs: the owner holds one, the grader one; the third is left.
    held = services.judging_next_pair(batch=batch, user=owner)
    services.judging_next_pair(batch=batch, user=grader)
    JudgingLease.objects.filter(pk=held.lease_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    fresh = services.judging_next_pair(batch=batch, user=owner)
    assert fresh.lease_id != held.lease_id
    assert JudgingLease.objects.get(pk=held.lease_id).status == LeaseStatus.EXPIRED
    # A late answer to the expired lease is still taken while the batch judges.
    late = services.judging_record(batch=batch, user=owner, lease_id=held.lease_id, winner="a")
    assert late.created


def test_a_skipped_pair_is_never_offered_to_that_person_again(owner):
    batch = _start(owner, n=3, judge_mode="human", budget=50)
    offer = services.judging_next_pair(batch=batch, user=owner)
    skipped = JudgingLease.objects.get(pk=offer.lease_id)
    assert services.judging_skip(batch=batch, user=owner, lease_id=offer.lease_id)
    offered = []
    while isinstance(offer := services.judging_next_pair(batch=batch, user=owner), PairOffer):
        lease = JudgingLease.objects.get(pk=offer.lease_id)
        offered.append({lease.essay_a_id, lease.essay_b_id})
        services.judging_record(batch=batch, user=owner, lease_id=offer.lease_id, winner="b")
    assert {skipped.essay_a_id, skipped.essay_b_id} not in offered and len(offered) == 2
    with pytest.raises(Conflict):
        services.judging_record(batch=batch, user=owner, lease_id=skipped.pk, winner="a")


@committing
def test_a_human_batch_finishes_when_its_budget_is_judged(owner):
    batch = _start(owner, n=4, judge_mode="human", budget=3)
    for _ in range(3):
        _judge(batch, owner)
    batch.refresh_from_db()
    assert (batch.state, batch.end_reason) == ("completed", EndReason.BUDGET_EXHAUSTED)
    assert not batch.awaiting_people
    assert batch.processing_metadata["scoring"]["n_comparisons"] == 3
    offer = services.judging_next_pair(batch=batch, user=owner)
    assert isinstance(offer, NoPair) and "finished" in offer.reason


@committing
def test_a_passed_deadline_ends_a_batch_waiting_for_people(owner):
    deadline = timezone.now() + timedelta(hours=1)
    batch = _start(owner, n=4, judge_mode="human", human_deadline=deadline.isoformat())
    _judge(batch, owner)
    Batch.objects.filter(pk=batch.pk).update(human_deadline=timezone.now() - timedelta(seconds=1))
    services.batch_sweep()
    batch.refresh_from_db()
    assert (batch.state, batch.end_reason) == ("completed", EndReason.HUMAN_DEADLINE)


def test_a_batch_waiting_for_people_is_not_stalled_by_the_sweeper(owner, settings):
    batch = _start(owner, judge_mode="human")
    Batch.objects.filter(pk=batch.pk).update(updated_at=timezone.now() - timedelta(days=2))
    services.batch_sweep()
    batch.refresh_from_db()
    assert batch.state == "running" and batch.awaiting_people


@committing
def test_hybrid_llm_rounds_run_then_the_batch_waits_for_peoples_share(owner):
    batch = _start(owner, n=5, judge_mode="hybrid", human_share=0.2, comparisons_per_essay=4, max_rounds=2)
    llm = batch.comparisons.filter(judge_user__isnull=True).count()
    assert llm > 0 and batch.state == "running" and batch.awaiting_people
    quota = judging.human_quota(batch=batch)
    assert quota == 2  # 0.2 × 10
    for _ in range(quota):
        _judge(batch, owner)
    batch.refresh_from_db()
    assert batch.state == "completed" and batch.end_reason != EndReason.HUMAN_DEADLINE
    scoring = batch.processing_metadata["scoring"]
    assert scoring["n_comparisons"] == llm + quota  # the fit used both
    labels = {row["judge"] for row in batch.processing_metadata["judges"]}
    assert f"human:{owner.pk}" in labels


@committing
def test_moderation_hands_out_only_pairs_the_llm_judged_and_measures_agreement(owner, grader):
    batch = _start(owner, n=5, judge_mode="moderation", human_share=0.3, comparisons_per_essay=4, max_rounds=2)
    services.batch_judge_invite(batch=batch, user=grader)
    llm_pairs = {frozenset(p) for p in batch.comparisons.filter(judge_user__isnull=True).values_list("essay_a_id", "essay_b_id")}
    for person in (owner, grader, owner):
        offer, _ = _judge(batch, person, "a")
        lease = JudgingLease.objects.get(pk=offer.lease_id)
        assert frozenset((lease.essay_a_id, lease.essay_b_id)) in llm_pairs
    from assessments.results.building import batch_agreement

    report = batch_agreement(batch=batch)
    assert report is not None and report.human_judgements == 3
    assert report.ai_human.n == 3  # every verdict was on a pair the LLM had judged


@committing
def test_excluding_a_judge_refits_without_its_verdicts(owner):
    batch = _start(owner, n=5, judge_mode="hybrid", human_share=0.3, comparisons_per_essay=4, max_rounds=2)
    for _ in range(2):
        _judge(batch, owner)
    services.batch_rescore(batch_id=batch.pk)
    batch.refresh_from_db()
    before = batch.processing_metadata["scoring"]["n_comparisons"]
    assert before == batch.comparisons_succeeded
    excluded = services.judge_exclude(batch=batch, judge=f"human:{owner.pk}")
    batch.refresh_from_db()
    assert excluded == [f"human:{owner.pk}"]
    assert batch.processing_metadata["scoring"]["n_comparisons"] == before - 2
    with pytest.raises(InvalidInput):
        services.judge_exclude(batch=batch, judge="nobody")


def test_human_share_is_refused_outside_hybrid_and_moderation(owner):
    with pytest.raises(InvalidInput) as excinfo:
        services.batch_create(owner=owner, request={"essays": essays(3), "options": {"human_share": 0.5}})
    assert "options.human_share" in excinfo.value.fields
    past = (timezone.now() - timedelta(days=1)).isoformat()
    request = {"essays": essays(3), "options": {"judge_mode": "human", "human_deadline": past}}
    with pytest.raises(InvalidInput) as excinfo:
        services.batch_create(owner=owner, request=request)
    assert "options.human_deadline" in excinfo.value.fields


def test_an_llm_batch_offers_no_pair_to_people(owner):
    batch = services.batch_create(owner=owner, request={"essays": essays(4)})
    offer = services.judging_next_pair(batch=batch, user=owner)
    assert isinstance(offer, NoPair) and "LLM only" in offer.reason
    assert not BatchJudge.objects.exists()


def test_moderation_picks_an_llm_pair_with_the_fewest_human_verdicts():
    import numpy as np

    llm = np.array([[0, 1], [2, 1], [3, 4], [0, 4]])
    humans = np.array([[1, 0], [1, 2], [4, 3], [1, 0]])  # (0,1) twice, (1,2) and (3,4) once, (0,4) never
    picks = {
        judging.moderation_pick(llm_pairs=llm, human_pairs=humans, excluded=np.empty((0, 2)), n_items=5, seed=s)
        for s in range(20)
    }
    assert picks == {(0, 4)}
    excluded = np.array([[4, 0]])
    picks = {judging.moderation_pick(llm_pairs=llm, human_pairs=humans, excluded=excluded, n_items=5, seed=s) for s in range(20)}
    assert picks == {(1, 2), (3, 4)}
    assert judging.moderation_pick(llm_pairs=llm[:1], human_pairs=humans, excluded=llm[:1], n_items=5, seed=0) is None
