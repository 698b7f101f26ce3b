"""Writers of results: CSV rows (`EXPORT_COLUMNS`, one row per essay) and the JSON document."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from assessments.models import Batch
from assessments.results.building import batch_essay_results, batch_results_document
from assessments.results.schema import EXPORT_COLUMNS, EXPORT_DECIMALS, EssayResult

if TYPE_CHECKING:
    from _typeshed import SupportsWrite


def essay_results_csv_write(rows: Iterable[EssayResult], handle: SupportsWrite[str]) -> None:
    """Write the rows, with a header, in `EXPORT_COLUMNS` (the API's, admin's, demo's and ENG5's CSV)."""
    writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_csv_row(row) for row in rows)


def _csv_row(row: EssayResult) -> dict[str, Any]:
    """A row with its figures rounded to `EXPORT_DECIMALS` and whole win counts as integers
    (7, not 7.0; a tie counts half, so 6.5 stays)."""
    data = row.model_dump(include=set(EXPORT_COLUMNS))
    for name, value in data.items():
        if isinstance(value, float):
            data[name] = int(value) if name == "wins" and value.is_integer() else round(value, EXPORT_DECIMALS)
    return data


def batch_results_csv(*, batch: Batch) -> str:
    """One row per essay, best first, in `EXPORT_COLUMNS`."""
    buffer = io.StringIO()
    essay_results_csv_write(batch_essay_results(batch=batch), buffer)
    return buffer.getvalue()


def batch_results_json(*, batch: Batch) -> dict[str, Any]:
    """The `cj-results` document as JSON-ready data (what the exports send)."""
    return batch_results_document(batch=batch).model_dump(mode="json")
