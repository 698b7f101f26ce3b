"""Reads of the CJ domain, one module per entity, counted in the database; nothing here writes.

- `assignments`: the assignments a user may see, their anchors' coverage of the scale;
- `batches`: the batches a user may see, a batch's stored request, progress and comparisons;
- `results`: a batch's results summary, its per-essay rows, its plot;
- `judges`: the judges on offer, the judges a batch asked for, cost estimates;
- `essays`: one essay's comparisons and record;
- `usage`: tokens and cost by model and by batch.

The reads the API, the admin and the commands call are re-exported here.
"""

from assessments.selectors.assignments import assignment_anchor_coverage, assignments_visible
from assessments.selectors.batches import (
    batch_comparisons,
    batch_progress,
    batch_request,
    batch_status,
    batches_judgeable,
    batches_visible,
)
from assessments.selectors.results import batch_plot_rows, batch_result_rows, batch_results

__all__ = [
    "assignment_anchor_coverage",
    "assignments_visible",
    "batch_comparisons",
    "batch_plot_rows",
    "batch_progress",
    "batch_request",
    "batch_result_rows",
    "batch_results",
    "batch_status",
    "batches_judgeable",
    "batches_visible",
]
