"""What `/metrics` serves: the figures workers stored (`llmgateway.metrics`) and the live gauges.

Live gauges are read at scrape time: queue depth from the database, broker queue lengths, calls
in flight and breaker states. Other apps add their own collectors (`metrics.register_collector`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from llmgateway import selectors
from llmgateway.breaker import STATE_VALUE, breaker_states
from llmgateway.metrics import COUNTERS, HISTOGRAMS, counters, histograms, in_flight


class RedisCollector(Collector):
    """Serves the shared figures and the live gauges to a Prometheus registry."""

    def collect(self) -> Iterator[Any]:
        label_names_seen: dict[str, list[str]] = {}
        for name, help_text in COUNTERS.items():
            series = counters().get(name, [])
            names = sorted({k for labels, _ in series for k in labels})
            label_names_seen[name] = names
            family = CounterMetricFamily(name.removesuffix("_total"), help_text, labels=names)
            for labels, value in series:
                family.add_metric([labels.get(n, "") for n in names], value)
            yield family
        stored = histograms()
        for name, (buckets, help_text) in HISTOGRAMS.items():
            observed = stored.get(name, {})
            label_names = sorted({k for labels_json in observed for k in json.loads(labels_json)})
            histogram = HistogramMetricFamily(name, help_text, labels=label_names)
            for labels_json, values in observed.items():
                label_values = json.loads(labels_json)
                cumulative, rows = 0.0, []
                for bound in (*map(str, buckets), "+Inf"):
                    cumulative += values.get(bound, 0.0)
                    rows.append((bound, cumulative))
                histogram.add_metric([label_values.get(n, "") for n in label_names], rows, values.get("sum", 0.0))
            yield histogram
        depth = GaugeMetricFamily("llm_provider_queue_depth", "Requests waiting for a call, by provider.", labels=["provider"])
        for provider, count in selectors.queue_depth().items():
            depth.add_metric([provider], count)
        yield depth
        broker = GaugeMetricFamily("llm_broker_queue_messages", "Messages waiting in a Celery queue.", labels=["queue"])
        for queue, count in selectors.broker_queue_lengths().items():
            broker.add_metric([queue], count)
        yield broker
        flight = GaugeMetricFamily("llm_provider_calls_in_flight", "Provider calls under way, by provider.", labels=["provider"])
        for provider, calls in in_flight().items():
            flight.add_metric([provider], calls)
        yield flight
        breaker = GaugeMetricFamily(
            "llm_provider_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open.", labels=["provider", "model"]
        )
        for (provider, model), state in breaker_states().items():
            breaker.add_metric([provider, model], STATE_VALUE[state])
        yield breaker
