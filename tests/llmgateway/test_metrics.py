"""Prometheus metrics shared by every worker process, and the queue_metrics_snapshot log line."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from llmgateway import services
from llmgateway.schemas import PromptParts
from llmgateway.tasks import queue_metrics_snapshot
from tests.llmgateway.conftest import STRONG, WEAK

ROOT = Path(__file__).resolve().parents[2]


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        named = line.startswith((name + "{", name + " "))
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.django_db
def test_metrics_count_calls_tokens_callbacks_and_queue_depth():
    for _ in range(3):
        request = services.comparison_request_create(parts=PromptParts(essay_a=STRONG, essay_b=WEAK), overrides=None, metadata={})
        services.comparison_execute(request_id=request.pk)
    services.comparison_request_create(parts=PromptParts(essay_a=STRONG, essay_b=WEAK), overrides=None, metadata={})  # waiting
    text = Client().get("/metrics").content.decode()
    assert _sample(text, "llm_provider_comparison_callbacks_total", result="succeeded") == 3
    assert _sample(text, "llm_provider_call_duration_seconds_count", provider="mock") == 3
    assert _sample(text, "llm_provider_tokens_total", type="input") > 0
    assert _sample(text, "llm_provider_queue_wait_time_seconds_count", provider="mock") == 3
    assert _sample(text, "llm_provider_queue_depth", provider="mock") == 1
    assert "llm_provider_breaker_state" in text and "llm_provider_calls_in_flight" in text


@pytest.mark.django_db
def test_metrics_from_another_process_are_served_here():
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'cjproject.settings'); django.setup();"
        "from llmgateway.metrics import MetricsBuffer; b = MetricsBuffer();"
        "b.inc('llm_provider_errors_total', 2, provider='anthropic', model='claude-sonnet-4-6', category='overloaded');"
        "b.inc('llm_provider_comparison_callbacks_total', 5, result='failed'); b.flush()"
    )
    for _ in range(2):  # two worker processes
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    text = Client().get("/metrics").content.decode()
    assert _sample(text, "llm_provider_errors_total", provider="anthropic", category="overloaded") == 4
    assert _sample(text, "llm_provider_comparison_callbacks_total", result="failed") == 10


@pytest.mark.django_db
def test_the_snapshot_is_one_structured_log_line(caplog):
    services.comparison_request_create(parts=PromptParts(essay_a=STRONG, essay_b=WEAK), overrides=None, metadata={})
    with caplog.at_level(logging.INFO, logger="llmgateway"):
        queue_metrics_snapshot.apply()
    [record] = [r for r in caplog.records if r.getMessage() == "queue_metrics_snapshot"]
    assert record.queue_depth == {"mock": 1} and record.queue_depth_total == 1
    assert "oldest_queued_seconds" in vars(record) and "broker_queues" in vars(record)
    assert STRONG not in caplog.text


@pytest.mark.django_db
def test_finding_9_metrics_answer_only_this_host_without_a_token(settings):
    settings.METRICS_TOKEN = ""
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    refused = Client(REMOTE_ADDR="203.0.113.9").get("/metrics")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"


@pytest.mark.django_db
def test_finding_9_metrics_need_the_token_when_one_is_set(settings):
    settings.METRICS_TOKEN = "scrape-me"
    assert Client().get("/metrics").status_code == 403  # not even from this host
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200
