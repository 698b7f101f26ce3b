"""Writers of results: CSV rows (`EXPORT_COLUMNS`, one row per essay) and the JSON document.

The exports stream: essays and comparisons are read a chunk at a time and sent as they are
written, so a batch of 10,000 essays and 50,000 comparisons never sits in memory as one document.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from assessments.models import Batch
from assessments.results.building import (
    batch_essay_results_stream,
    batch_results_document,
    comparison_entries,
)
from assessments.results.schema import EXPORT_COLUMNS, EXPORT_DECIMALS, EssayResult

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

# Where a document without comparisons has the list the stream fills in.
_EMPTY_COMPARISONS = '"comparisons":[]'


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
    return "".join(batch_results_csv_stream(batch=batch))


def batch_results_csv_stream(*, batch: Batch) -> Iterator[str]:
    """The CSV of `batch_results_csv` in pieces of about 64 kB (the header first)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in batch_essay_results_stream(batch=batch):
        writer.writerow(_csv_row(row))
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def batch_results_json(*, batch: Batch) -> dict[str, Any]:
    """The `cj-results` document as JSON-ready data."""
    return batch_results_document(batch=batch).model_dump(mode="json")


def batch_results_json_stream(*, batch: Batch) -> Iterator[str]:
    """The `cj-results` document as compact JSON text with its comparisons streamed, 1,000 a
    piece: the same document as `batch_results_json`."""
    document = batch_results_document(batch=batch, with_comparisons=False)
    head, tail = document.model_dump_json().split(_EMPTY_COMPARISONS, 1)
    yield head + '"comparisons":['
    id_of = dict(batch.essays.values_list("pk", "external_id"))
    parts: list[str] = []
    for n, entry in enumerate(comparison_entries(batch=batch, id_of=id_of)):
        parts.append(("," if n else "") + entry.model_dump_json())
        if len(parts) == 1000:
            yield "".join(parts)
            parts = []
    yield "".join(parts) + "]" + tail
