"""Webhooks of both apps: each owner's signing secrets, the notices to send, every delivery
attempt (the log an owner reads) and the one retry policy.

Batches (`assessments`) and the gateway (`llmgateway`) hand a notice to `services.webhook_notice_send`;
the signing and the guarded POST are `cjproject.webhooks`'. This app knows nothing of batches or
comparisons beyond the kind and id a notice is about.
"""
