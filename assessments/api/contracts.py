"""The body of `POST /api/v1/batches`: the batch contract plus what only HTTP clients give.

`CJAssessmentRequestData` (assessments.schemas) stays the one definition of a batch request; this
extends it with the webhook URL, which the API stores on the batch, not in the request snapshot.
"""

from __future__ import annotations

from pydantic import Field, HttpUrl

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
