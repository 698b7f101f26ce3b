"""Structured JSON log lines: message, level, logger, and every `extra=` key (batch_id, round ...).

Every process (web, workers, beat) writes them: Celery is told not to configure logging itself
(cjproject/celery.py). The identifiers of the work in hand (Celery `task_id` and task name,
`batch_id`, `round`, `comparison_id`) are held in a context variable, bound by the task signals
and the services, and added to every line written meanwhile by `ContextFilter`.

Callers pass identifiers only (batch, round, comparison ids): never essay text or student names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


_CELERY_DATA_KEPT = {"id", "name", "runtime", "eta"}

_context: ContextVar[dict[str, Any] | None] = ContextVar("cj_log_context", default=None)


def log_context_bind(**values: Any) -> None:
    """Add identifiers (None values are skipped) to every log line written from here on in this task."""
    _context.set({**(_context.get() or {}), **{key: value for key, value in values.items() if value is not None}})


def log_context_clear() -> None:
    _context.set(None)


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Identifiers added to the log lines written inside the block, then the previous ones again."""
    token = _context.set({**(_context.get() or {}), **{key: value for key, value in values.items() if value is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Adds the bound identifiers to a record (a key passed with `extra=` wins), and the task id
    and name of Celery's own task lines ("Task ... received", "... succeeded")."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if record.name.startswith("celery") and isinstance(record.args, dict) and "id" in record.args:
            record.__dict__.setdefault("task_id", record.args["id"])
            record.__dict__.setdefault("task_name", record.args.get("name"))
        data = getattr(record, "data", None)
        if record.name.startswith("celery") and isinstance(data, dict):
            # A task's arguments and return value may carry a judge's answer: never logged.
            record.data = {key: value for key, value in data.items() if key in _CELERY_DATA_KEPT}
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)
