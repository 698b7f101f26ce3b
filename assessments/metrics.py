"""Metrics of the CJ flow, served at `/metrics` beside the gateway's (shared across processes).

Counters and histograms go through the gateway's Redis-backed buffer; the number of batches by
state is a live gauge counted in the database at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from llmgateway.metrics import MetricsBuffer, register_collector, register_counter, register_histogram

DURATION_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400)

register_counter("cj_rounds_total", "Rounds scored (chord bodies that ran), by decision.")
register_counter("cj_decisions_total", "Continuation decisions, by decision (continue or an end reason).")
register_counter("cj_comparisons_recorded_total", "Judgements recorded on comparisons, by status.")
register_counter("cj_batches_finished_total", "Batches that ended, by state and end reason.")
register_histogram("cj_round_duration_seconds", DURATION_BUCKETS, "From a round's planning to its scoring.")
register_histogram("cj_batch_duration_seconds", DURATION_BUCKETS, "From a batch's start to its end.")


class BatchStateCollector(Collector):
    """`cj_batches{state}`: batches in each state, counted in the database."""

    def collect(self) -> Iterator[Any]:
        from assessments.models import Batch, BatchState

        family = GaugeMetricFamily("cj_batches", "Batches by state.", labels=["state"])
        counts = dict(Batch.objects.values_list("state").annotate(n=Count("pk")))
        for state in BatchState.values:
            family.add_metric([state], counts.get(state, 0))
        yield family


register_collector(BatchStateCollector())


def record(*, counters: dict[str, dict[str, str]] | None = None, durations: dict[str, float] | None = None) -> None:
    """Add one to each counter (name → labels) and observe each duration (name → seconds)."""
    buffer = MetricsBuffer()
    for name, labels in (counters or {}).items():
        buffer.inc(name, **labels)
    for name, seconds in (durations or {}).items():
        buffer.observe(name, seconds)
    buffer.flush()
