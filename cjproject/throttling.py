"""API throttles that hold under concurrency: a fixed-window counter incremented atomically in the
cache (Redis `INCR` when there is one), not DRF's read-the-history-then-write-it, which lets
concurrent requests through past the rate. Same scopes and rates as DRF's (`user`, `anon`)."""

from __future__ import annotations

import time
from typing import Any

from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


class _AtomicWindow(SimpleRateThrottle):
    # Set by SimpleRateThrottle.__init__ from the rate.
    num_requests: int
    duration: int
    _wait: int = 0

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        now = int(time.time())
        window = now // self.duration
        key = f"{ident}:w{window}"
        self.cache.add(key, 0, timeout=self.duration + 1)
        try:
            count = self.cache.incr(key)
        except ValueError:  # expired between add and incr: this request opens the window
            self.cache.add(key, 1, timeout=self.duration + 1)
            count = 1
        self._wait = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self) -> float | None:
        return max(1, self._wait)


class AtomicUserRateThrottle(_AtomicWindow, UserRateThrottle):
    """Requests per authenticated user (and per address without a login, as DRF's does)."""


class AtomicAnonRateThrottle(_AtomicWindow, AnonRateThrottle):
    """Requests per client address without a login."""
