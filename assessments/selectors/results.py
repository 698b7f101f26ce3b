"""Reads of a batch's results: the API's summary, the per-essay rows, the plot's rows.

The shapes are `assessments.results.schema`'s and they are built by `assessments.results.building`,
so the API, the admin, the exports and the ENG5 runner read one definition.
"""

from __future__ import annotations

from assessments.models import Batch
from assessments.plots import PlotRow
from assessments.results.building import batch_essay_results, batch_results_summary
from assessments.results.schema import EssayResult, ResultsSummary


def batch_results(*, batch: Batch, offset: int = 0, limit: int | None = None, page_url: str = "") -> ResultsSummary:
    """What `GET /api/v1/batches/{id}/results` answers: see `building.batch_results_summary`."""
    return batch_results_summary(batch=batch, offset=offset, limit=limit, page_url=page_url)


def batch_result_rows(*, batch: Batch) -> list[EssayResult]:
    """Every essay of the batch, best first, as one results row each."""
    return batch_essay_results(batch=batch)


def batch_plot_rows(*, rows: list[EssayResult]) -> list[PlotRow]:
    """The scored essays of these rows, as the caterpillar plot draws them."""
    return [
        PlotRow(label=r.essay_id, theta=r.theta, se=r.se, anchor_grade=r.anchor_grade or None)
        for r in rows
        if r.theta is not None and r.se is not None
    ]
