"""Gateway services, one module per concern:

- `requests`: resolve the provider and model, store requests, the signatures that run them;
- `calls`: run stored requests against providers and deliver each final result;
- `batch_jobs`: provider batch-API jobs (submit, poll, settle).

The verbs the tasks, the API and the CJ flow call are re-exported here.
"""

from llmgateway.services.batch_jobs import batch_job_poll, batch_job_submit, batch_jobs_poll
from llmgateway.services.calls import (
    RunReport,
    backoff_seconds,
    comparison_deliver,
    comparison_execute,
    comparison_run,
    result_of,
)
from llmgateway.services.requests import (
    batching_mode_resolve,
    comparison_request_create,
    comparison_request_submit,
    comparison_requests_cancel,
    comparison_requests_create,
    comparison_signatures,
    comparison_webhook_schedule,
    provider_resolve,
)

__all__ = [
    "RunReport",
    "backoff_seconds",
    "batch_job_poll",
    "batch_job_submit",
    "batch_jobs_poll",
    "batching_mode_resolve",
    "comparison_deliver",
    "comparison_execute",
    "comparison_request_create",
    "comparison_request_submit",
    "comparison_requests_cancel",
    "comparison_requests_create",
    "comparison_run",
    "comparison_signatures",
    "comparison_webhook_schedule",
    "provider_resolve",
    "result_of",
]
