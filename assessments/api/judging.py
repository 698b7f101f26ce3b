"""Shaping people's judging for HTTP: a pair offer or a recorded verdict as the API's contracts
(the admin's judging page shows the same pair offer)."""

from __future__ import annotations

from assessments.api.contracts import EssayShown, JudgementOut, JudgeOut, JudgingProgressOut, NextPairOut, PairOut
from assessments.models import Batch, BatchJudge
from assessments.services.judging import JudgementRecorded, JudgingProgress, NoPair, PairOffer, human_judge_label


def progress_out(progress: JudgingProgress) -> JudgingProgressOut:
    return JudgingProgressOut(
        judged_by_you=progress.judged_by_you,
        human_judgements=progress.human_judgements,
        human_quota=progress.human_quota,
        still_needed=progress.still_needed,
    )


def next_pair_answer(*, batch: Batch, offer: PairOffer | NoPair) -> NextPairOut:
    assignment = batch.assignment
    common = {
        "batch_id": batch.pk,
        "student_prompt": assignment.student_prompt if assignment is not None else "",
        "instructions": assignment.instructions if assignment is not None else "",
        "progress": progress_out(offer.progress),
    }
    if isinstance(offer, NoPair):
        return NextPairOut(pair=None, reason=offer.reason, **common)
    return NextPairOut(
        pair=PairOut(
            lease_id=offer.lease_id,
            expires_at=offer.expires_at,
            essay_a=EssayShown(label=offer.label_a, text=offer.essay_a_text),
            essay_b=EssayShown(label=offer.label_b, text=offer.essay_b_text),
        ),
        **common,
    )


def judgement_answer(recorded: JudgementRecorded) -> JudgementOut:
    return JudgementOut(
        comparison_id=recorded.comparison_id,
        winner=recorded.winner,
        replayed=not recorded.created,
        progress=progress_out(recorded.progress),
    )


def judge_out(invitation: BatchJudge) -> JudgeOut:
    return JudgeOut(
        user_id=invitation.user_id,
        username=invitation.user.get_username(),
        judge=human_judge_label(invitation.user_id),
        invited_at=invitation.invited_at,
    )
