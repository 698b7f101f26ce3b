"""How one worker process keeps many provider calls in flight: a thread pool per process.

Choice (measured with `bench/gateway_throughput.py`): a `serial_bundle` task carries up to
`LLM_BUNDLE_SIZE` comparisons and runs their provider calls on a pool of `LLM_MAX_IN_FLIGHT`
threads, while the task's own thread does all database work and delivers each result as it
completes. Why threads, not gevent or asyncio:
- provider calls are blocking HTTP through the official SDKs' sync clients, which release the
  GIL while waiting: a thread per call costs about 60 KB and no change to the SDK code;
- only the calls run on the pool, so a bundle of 100 uses one database connection, not 100
  (gevent or a thread *pool of Celery* would open one per greenlet/thread, and psycopg is not
  gevent-safe without patching the whole process);
- asyncio would need the async SDK clients and async ORM access inside a sync Celery task, for
  no gain at this scale (calls are seconds long; a thread switch is microseconds).
The pool is created lazily per process (after Celery's prefork), so forked children never
inherit a parent's threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from django.conf import settings

T = TypeVar("T")
R = TypeVar("R")

_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=settings.LLM_MAX_IN_FLIGHT, thread_name_prefix="llm-call"))
        return _pool[1]


def map_completed(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[list[tuple[T, R]]]:
    """Run `fn` on every item on the pool; yield the (item, result) pairs completed since the
    last yield, so that the caller can store each group in one transaction."""
    executor = pool()
    pending: dict[Future[R], T] = {executor.submit(fn, item): item for item in items}
    while pending:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        yield [(pending.pop(future), future.result()) for future in done]
