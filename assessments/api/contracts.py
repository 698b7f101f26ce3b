"""The body of `POST /api/v1/batches`: the batch contract plus what only HTTP clients give.

`CJAssessmentRequestData` (assessments.schemas) stays the one definition of a batch request; this
extends it with the webhook URL, which the API stores on the batch, not in the request snapshot.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from assessments.schemas import CJAssessmentRequestData


class BatchCreate(CJAssessmentRequestData):
    webhook_url: HttpUrl | None = Field(
        default=None,
        max_length=2000,
        description=(
            "POSTed a `batch.finished` notice when the batch finishes, signed with your webhook secret "
            "(Standard Webhooks; create one first: POST /api/v1/webhook-secrets)."
        ),
    )

    def request_data(self) -> CJAssessmentRequestData:
        """The contract without the HTTP-only fields (already validated: no second pass)."""
        return CJAssessmentRequestData.model_construct(
            **{name: getattr(self, name) for name in CJAssessmentRequestData.model_fields},
            _fields_set=self.model_fields_set - {"webhook_url"},
        )


# --- People judging: what `next-pair` and `judgements` answer ----------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JudgingProgressOut(_Answer):
    judged_by_you: int = Field(description="judgements you have recorded in this batch")
    human_judgements: int = Field(description="judgements recorded by people in this batch")
    human_quota: int = Field(description="judgements the batch asks of people (its budget, or its human_share of it)")
    still_needed: int = Field(description="human judgements the batch still needs")


class EssayShown(_Answer):
    label: str = Field(description='"Essay A" or "Essay B": opaque, never an id or a name')
    text: str


class PairOut(_Answer):
    lease_id: int = Field(description="send it back with your judgement")
    expires_at: datetime = Field(
        description="after this the pair may go to someone else (an answer is still taken while the batch judges)"
    )
    essay_a: EssayShown
    essay_b: EssayShown


class NextPairOut(_Answer):
    """The pair to judge now, or none and why (`reason`)."""

    batch_id: int
    pair: PairOut | None = None
    reason: str | None = Field(default=None, description="why there is no pair (the batch has enough, its deadline passed, ...)")
    student_prompt: str = ""
    instructions: str = Field(default="", description="the rubric")
    progress: JudgingProgressOut


class JudgementOut(_Answer):
    comparison_id: int
    winner: str
    replayed: bool = Field(description="true when the same answer had been recorded before (nothing was counted twice)")
    progress: JudgingProgressOut


class JudgeInviteIn(_Answer):
    username: str = Field(min_length=1, max_length=150, description="the user name of the person to invite")


class JudgeOut(_Answer):
    user_id: int
    username: str
    judge: str = Field(description="their judge label in comparisons and results: `human:<user_id>`")
    invited_at: datetime


class JudgesOut(_Answer):
    judges: list[JudgeOut] = Field(description="people invited to judge, first invited first")


class JudgeExclusionIn(_Answer):
    judge: str = Field(min_length=1, max_length=200, description="a judge label from the results' `judges`")
    excluded: bool = Field(default=True, description="true: leave its verdicts out of the fit; false: bring them back")


class JudgeExclusionOut(_Answer):
    excluded_judges: list[str]
