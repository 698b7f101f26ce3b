"""Writes of the CJ domain, one module per entity; every state change goes through a function here.

- `assignments`: assignments and their anchor essays;
- `batches`: create (and submit), start, cancel, rescore, continue, delete;
- `rounds`: plan a round with the engine, send it as a chord, score it and decide;
- `results`: record a judge's verdict, recount a batch's counters;
- `scoring`: a batch's rows to the engine and its statistics back;
- `endings`: how a batch ends (state, end reason, event, metric, webhook);
- `sweeper`: beat's recovery of stuck rounds, stalled batches and lost comparisons;
- `webhooks`: a batch's `batch.finished` notice (handed to the `webhooks` app);
- `tokens`: API tokens, hashed at rest;
- `judging`: people judging beside the LLM (invitations, leases, verdicts, waiting for people).

The verbs that views, admin actions, commands and tasks call are re-exported here, so a call
site reads `services.batch_start(batch_id=...)`.
"""

from assessments.services.assignments import (
    ASSIGNMENT_CONTENT_FIELDS,
    anchor_delete,
    anchor_register,
    assignment_create,
    assignment_delete,
    assignment_update,
)
from assessments.services.batches import (
    batch_cancel,
    batch_continue,
    batch_create,
    batch_deletable,
    batch_delete,
    batch_rescore,
    batch_start,
    batch_start_schedule,
    batch_submit,
)
from assessments.services.judging import (
    batch_judge_invite,
    batch_judge_invite_named,
    batch_judge_remove,
    judge_exclude,
    judging_checkpoint,
    judging_close,
    judging_next_pair,
    judging_record,
    judging_release,
    judging_skip,
)
from assessments.services.results import batch_counters_bump, batch_counters_refresh, comparison_record
from assessments.services.rounds import round_complete, round_dispatch
from assessments.services.sweeper import batch_sweep
from assessments.services.tokens import api_token_create, api_token_revoke

__all__ = [
    "ASSIGNMENT_CONTENT_FIELDS",
    "anchor_delete",
    "anchor_register",
    "api_token_create",
    "api_token_revoke",
    "assignment_create",
    "assignment_delete",
    "assignment_update",
    "batch_cancel",
    "batch_continue",
    "batch_counters_bump",
    "batch_counters_refresh",
    "batch_create",
    "batch_deletable",
    "batch_delete",
    "batch_judge_invite",
    "batch_judge_invite_named",
    "batch_judge_remove",
    "batch_rescore",
    "batch_start",
    "batch_start_schedule",
    "batch_submit",
    "batch_sweep",
    "comparison_record",
    "judge_exclude",
    "judging_checkpoint",
    "judging_close",
    "judging_next_pair",
    "judging_record",
    "judging_release",
    "judging_skip",
    "round_complete",
    "round_dispatch",
]
