"""Exports of a batch's results: a CSV of essays and a JSON document with a versioned schema.

`cj-batch-export` version 1 is the batch's results (as `GET /api/v1/batches/{id}/results` returns
them) plus every comparison, under a header naming the schema and its version. The version
changes whenever a field changes meaning or is removed; adding a field does not change it.
The CSV has one row per essay with `selectors.EXPORT_COLUMNS`, the columns `cj_demo` writes.
Comparison records use the field names of the research runner's artefact (`cj-eng5-run`).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.utils import timezone

from assessments import selectors
from assessments.models import Batch

EXPORT_SCHEMA_NAME = "cj-batch-export"
EXPORT_SCHEMA_VERSION = 1


def batch_export_document(*, batch: Batch) -> dict[str, Any]:
    return {
        "schema_name": EXPORT_SCHEMA_NAME,
        "schema_version": EXPORT_SCHEMA_VERSION,
        "exported_at": timezone.now().isoformat(),
        "batch": {
            "id": batch.pk,
            "assignment_id": batch.assignment_id,
            "language": batch.language,
            "course_code": batch.course_code,
            "state": batch.state,
            "end_reason": batch.end_reason,
            "end_message": batch.end_message,
            "rounds": batch.current_round,
            "created_at": batch.created_at.isoformat(),
            "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
        },
        "results": selectors.batch_results(batch=batch),
        "comparisons": [comparison_record(c) for c in selectors.batch_comparisons(batch=batch)],
    }


def comparison_record(comparison: Any) -> dict[str, Any]:
    """One comparison, essays by their batch ids (shown first: `essay_a`)."""
    a, b = comparison.essay_a.external_id, comparison.essay_b.external_id
    return {
        "id": comparison.pk,
        "round": comparison.round_no,
        "essay_a": a,
        "essay_b": b,
        "status": comparison.status,
        "winner": comparison.winner,
        "winner_id": {"a": a, "b": b}.get(comparison.winner or ""),
        "confidence": comparison.confidence,
        "justification": comparison.justification,
        "judge": comparison.judge or (f"{comparison.provider}/{comparison.model}" if comparison.provider else ""),
        "provider": comparison.provider,
        "model": comparison.model,
        "prompt_sha256": comparison.prompt_sha256,
        "input_tokens": comparison.input_tokens,
        "output_tokens": comparison.output_tokens,
        "cache_read_tokens": comparison.cache_read_tokens,
        "cache_write_tokens": comparison.cache_write_tokens,
        "cost_usd": float(comparison.cost_usd),
        "attempt": comparison.attempt,
        "error_category": comparison.error_category,
        "sent_at": comparison.sent_at.isoformat() if comparison.sent_at else None,
        "completed_at": comparison.completed_at.isoformat() if comparison.completed_at else None,
    }


def batch_export_csv(*, batch: Batch) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=selectors.EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(selectors.batch_export_rows(batch=batch))
    return buffer.getvalue()
