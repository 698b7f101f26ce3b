"""The project's Celery app for e2e worker processes (`celery -A tests.e2e.worker_app worker`),
with test-only hooks switched on by the environment. Without them it is `cjproject`'s app as is.

- `CJ_E2E_VISIBILITY_TIMEOUT=<s>`: this worker restores unacknowledged messages older than that
  (a dead worker's tasks) and looks for them every second, instead of after the production
  visibility timeout (many minutes).
- `CJ_E2E_HEADER_FAULT=raise_before_delivery|raise_after_delivery`: the first
  `CJ_E2E_HEADER_FAULT_COUNT` (default 1) gateway header tasks raise RuntimeError, before calling
  the provider or after delivering their results; each request raises at most once, so a task
  sent again for it runs normally. Counted in Redis, across every process.
- `CJ_E2E_MOCK_RAISES_EVERY=<n>`: the mock raises an unexpected ValueError (not a ProviderError)
  for every request whose id is a multiple of n.
"""

from __future__ import annotations

import os
from typing import Any

from celery import signals

from cjproject.celery import app

__all__ = ["app"]

_FAULT_KEY = "cj-e2e:header-fault"

if os.environ.get("CJ_E2E_VISIBILITY_TIMEOUT"):
    app.conf.broker_transport_options = {
        **(app.conf.broker_transport_options or {}),
        "visibility_timeout": float(os.environ["CJ_E2E_VISIBILITY_TIMEOUT"]),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }


def _fault_due(request_id: int) -> bool:
    """True for the first N distinct requests, once each."""
    from llmgateway.store import shared_redis

    client = shared_redis()
    limit = int(os.environ.get("CJ_E2E_HEADER_FAULT_COUNT", "1"))
    if not client.sadd(f"{_FAULT_KEY}:ids", request_id):
        return False
    return client.incr(f"{_FAULT_KEY}:count") <= limit


@signals.worker_process_init.connect
def _install_hooks(**_: Any) -> None:
    fault = os.environ.get("CJ_E2E_HEADER_FAULT", "")
    if fault:
        from llmgateway import tasks

        run = tasks._run

        def _run_with_fault(task: Any, request_ids: list[int], *, concurrent: bool) -> Any:
            if fault == "raise_before_delivery" and _fault_due(request_ids[0]):
                raise RuntimeError(f"injected failure of a header task before request {request_ids[0]} ran")
            report = run(task, request_ids, concurrent=concurrent)
            if fault == "raise_after_delivery" and _fault_due(request_ids[0]):
                raise RuntimeError(f"injected failure of a header task after request {request_ids[0]} was delivered")
            return report

        tasks._run = _run_with_fault

    every = int(os.environ.get("CJ_E2E_MOCK_RAISES_EVERY", "0"))
    if every:
        from llmgateway.providers.mock import MockProvider

        compare = MockProvider.compare

        def _compare_or_raise(self: MockProvider, request: dict[str, Any], *, context: Any) -> Any:
            if context.request_id % every == 0:
                raise ValueError("injected unexpected exception in the mock")
            return compare(self, request, context=context)

        MockProvider.compare = _compare_or_raise
