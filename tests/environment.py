"""The test run's environment, set before Django reads its settings (`-p tests.environment`
in pyproject's addopts), and inherited by the worker processes that tests start.

- Each process of a parallel run (`pytest -n 2`, pytest-xdist) gets its own Redis database, as
  pytest-django gives it its own PostgreSQL database: one process's real workers, queues,
  flushes and rate limits never reach another's.
- Scoring keeps TEST_POSTERIOR_DRAWS posterior draws instead of 300: the flows under test do not
  depend on P(grade) to two decimals, and scoring is most of their time. The engine's own tests
  call it with its defaults; set CJ_POSTERIOR_DRAWS to run a test with more.
- DJANGO_DEBUG stays off, as in production, so the settings need a secret key: a test-only one.
  The test client, the live server and the workers speak plain HTTP: no redirect to HTTPS, no
  secure-only cookies.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

REDIS_DATABASES = 16
TEST_POSTERIOR_DRAWS = "60"


def _own_database(url: str, worker: int) -> str:
    """The URL with its database number moved down by the worker's number (gw0 keeps it)."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("redis"):
        return url
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base - worker) % REDIS_DATABASES}"))


_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw"):
    for _name in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        if os.environ.get(_name):
            os.environ[_name] = _own_database(os.environ[_name], int(_worker[2:]))

os.environ.setdefault("CJ_POSTERIOR_DRAWS", TEST_POSTERIOR_DRAWS)
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-never-used-outside-the-test-suite-0123456789")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "false")
