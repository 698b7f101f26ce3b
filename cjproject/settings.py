"""All settings of the CJ service, read from the environment (django-environ).

With no environment at all the project runs on the *embedded default*: a SQLite file, Celery
tasks executed in process, and the offline mock judge. Every variable read here is documented in
`.env.example` and the README; `tests/test_settings.py` keeps the three in step.
Invalid values stop start-up with an `ImproperlyConfigured` error naming the variable.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

from llmgateway.vocabulary import BATCHING_MODES, MOCK_PROVIDER, PROVIDERS, SERIAL_BUNDLE

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env file is a convenience for developers; real deployments set the environment.
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(name: str, default: bool) -> bool:
    raw = env.str(name, default="")
    if raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off.")


def _number(name: str, default: float, *, cast: type[float], minimum: float | None = None) -> float:
    raw = env.str(name, default="")
    if raw == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a valid {cast.__name__}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
    return value


def _int(name: str, default: int, *, minimum: int | None = None) -> int:
    """An integer setting from the environment (`default` when unset), at least `minimum`."""
    return int(_number(name, default, cast=int, minimum=minimum))


def _float(name: str, default: float, *, minimum: float | None = None) -> float:
    """A decimal setting from the environment (`default` when unset), at least `minimum`."""
    return _number(name, default, cast=float, minimum=minimum)


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.str(name, default=default)
    if value not in allowed:
        raise ImproperlyConfigured(f"{name}={value!r} is not allowed; choose one of: {', '.join(allowed)}.")
    return value


def _url(name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = env.str(name, default="") or default  # set-but-empty counts as unset
    if value and urlparse(value).scheme not in schemes:
        raise ImproperlyConfigured(f"{name}={_redact(value)!r} must start with one of: {', '.join(s + '://' for s in schemes)}.")
    return value


def _redact(url: str) -> str:
    """Hide a password in a URL so that an error message never shows it."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


# --- Django core -------------------------------------------------------------------------------

# Off unless set: a deployment that forgets it must not serve Django's debug pages (issue #13).
# `make demo` and a laptop set DJANGO_DEBUG=true; the tests run with it off (tests/environment.py).
DEBUG = _bool("DJANGO_DEBUG", False)
_DEV_SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105 - refused unless DEBUG
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set: DJANGO_DEBUG is off (the default). In production set a long random key "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), the same on every machine; "
        "on a laptop, DJANGO_DEBUG=true runs with a development key."
    )
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Before assessments: the Graders group (set up after assessments migrates) needs its permissions.
    "webhooks",
    "llmgateway",
    "assessments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "cjproject.middleware.LengthRequiredMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cjproject.urls"
WSGI_APPLICATION = "cjproject.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------
# Embedded default: a SQLite file beside manage.py. DATABASE_URL=postgres://... uses psycopg 3.

DATABASE_URL = _url(
    "DATABASE_URL",
    f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
    ("sqlite", "postgres", "postgresql", "pgsql"),
)
DATABASES = {"default": environ.Env.db_url_config(DATABASE_URL)}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = _int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
# A reused connection is checked before its first query (workers and web alike keep theirs).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# --- Celery ------------------------------------------------------------------------------------
# No broker configured → tasks run in process (embedded default). CELERY_BROKER_URL wins over
# REDIS_URL; the result backend (needed by chords) defaults to the same Redis.

REDIS_URL = _url("REDIS_URL", "", ("redis", "rediss"))
CELERY_BROKER_URL = _url("CELERY_BROKER_URL", REDIS_URL, ("redis", "rediss", "amqp", "memory"))
CELERY_RESULT_BACKEND = _url(
    "CELERY_RESULT_BACKEND",
    REDIS_URL or (CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""),
    ("redis", "rediss"),
)
if CELERY_BROKER_URL and not CELERY_BROKER_URL.startswith("memory") and not CELERY_RESULT_BACKEND:
    raise ImproperlyConfigured(
        "CELERY_RESULT_BACKEND (or REDIS_URL) must be set with a non-Redis CELERY_BROKER_URL: "
        "rounds are Celery chords, which need a result backend."
    )
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_TIME_LIMIT = _int("CELERY_TASK_TIME_LIMIT", 300, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = int(CELERY_TASK_TIME_LIMIT * 0.9)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery keeps the project's logging (JSON lines, LOGGING below) instead of installing its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Longest wait a retried LLM call, and a retried webhook, can be scheduled for (Celery countdowns, seconds).
LLM_RETRY_MAX_DELAY = _int("LLM_RETRY_MAX_DELAY", 600, minimum=1)
CJ_WEBHOOK_RETRY_MAX_SECONDS = _int("CJ_WEBHOOK_RETRY_MAX_SECONDS", 600, minimum=1)
# Redis redelivers an unacknowledged task after visibility_timeout: it must exceed the longest
# countdown plus the longest run, or a scheduled retry would be delivered twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": max(LLM_RETRY_MAX_DELAY, CJ_WEBHOOK_RETRY_MAX_SECONDS) + CELERY_TASK_TIME_LIMIT + 600
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = CELERY_BROKER_TRANSPORT_OPTIONS
# Queues, routes and the beat schedule live beside the Celery app (cjproject/celery.py).

# --- The CJ service ----------------------------------------------------------------------------

CJ_COMPARISONS_PER_ESSAY = _int("CJ_COMPARISONS_PER_ESSAY", 10, minimum=1)
CJ_MAX_COMPARISONS_CEILING = _int("CJ_MAX_COMPARISONS_CEILING", 100000, minimum=1)
CJ_MAX_ROUNDS = _int("CJ_MAX_ROUNDS", 6, minimum=1)
# A batch stops early once its reliability (the population model's, which tracks the true r² on
# adaptive designs too) reaches this and every student has the minimum comparisons.
CJ_RELIABILITY_TARGET = _float("CJ_RELIABILITY_TARGET", 0.8, minimum=0.0)
# A batch also stops once the students' mean P(projected grade), the share of grades expected to
# be right, reaches this (end reason grades_settled); 0 turns the rule off unless a batch asks.
CJ_GRADE_CERTAINTY_TARGET = _float("CJ_GRADE_CERTAINTY_TARGET", 0.0, minimum=0.0)
# Posterior draws kept each time a batch is scored; 0: the engine's choice (300, fewer above 500
# essays). Fewer is faster and makes P(grade) noisier (its Monte Carlo error grows as 1/√draws).
CJ_POSTERIOR_DRAWS = _int("CJ_POSTERIOR_DRAWS", 0, minimum=0)
CJ_MIN_COMPARISONS_PER_ESSAY = _int("CJ_MIN_COMPARISONS_PER_ESSAY", 6, minimum=1)
# A batch whose judgements succeeded less often than this fails with end reason low_success_rate.
CJ_MIN_SUCCESS_RATE = _float("CJ_MIN_SUCCESS_RATE", 0.8, minimum=0.0)
if CJ_MIN_SUCCESS_RATE > 1.0:
    raise ImproperlyConfigured(f"CJ_MIN_SUCCESS_RATE={CJ_MIN_SUCCESS_RATE} is a share: at most 1.")
if CJ_RELIABILITY_TARGET >= 1.0:
    raise ImproperlyConfigured(f"CJ_RELIABILITY_TARGET={CJ_RELIABILITY_TARGET} must be below 1 (reliability never reaches 1).")
if CJ_GRADE_CERTAINTY_TARGET > 1.0:
    raise ImproperlyConfigured(f"CJ_GRADE_CERTAINTY_TARGET={CJ_GRADE_CERTAINTY_TARGET} is a share: at most 1 (0: off).")
CJ_STALL_TIMEOUT_SECONDS = _int("CJ_STALL_TIMEOUT_SECONDS", 3600, minimum=60)
CJ_SWEEP_GRACE_SECONDS = _int("CJ_SWEEP_GRACE_SECONDS", 60, minimum=0)
# A comparison sent this long ago without a result is sent again by the sweeper (a lost task or
# a dead worker), at most CJ_MAX_SEND_ATTEMPTS times in all; then it fails (category "lost").
CJ_COMPARISON_LEASE_SECONDS = _int("CJ_COMPARISON_LEASE_SECONDS", 1800, minimum=60)
CJ_MAX_SEND_ATTEMPTS = _int("CJ_MAX_SEND_ATTEMPTS", 3, minimum=1)
# People judging (README, "Teachers judge beside the LLM"): a pair handed to a person returns to
# the pool after CJ_JUDGING_LEASE_SECONDS without an answer; the time recorded per judgement is
# capped at CJ_JUDGING_MAX_DURATION_SECONDS (a page left open is not judging time); a batch
# waiting only for people is rescored (and its stop rule evaluated) every
# CJ_JUDGING_CHECKPOINT_EVERY human judgements.
CJ_JUDGING_LEASE_SECONDS = _int("CJ_JUDGING_LEASE_SECONDS", 600, minimum=30)
CJ_JUDGING_MAX_DURATION_SECONDS = _int("CJ_JUDGING_MAX_DURATION_SECONDS", 900, minimum=1)
CJ_JUDGING_CHECKPOINT_EVERY = _int("CJ_JUDGING_CHECKPOINT_EVERY", 10, minimum=1)
# Worker liveness: each worker process writes a heartbeat this often; the comparisons it received
# are sent again once its heartbeat is older than CJ_WORKER_HEARTBEAT_TIMEOUT_SECONDS (a dead
# worker costs seconds, not the lease). Beat runs the sweeper every CJ_SWEEP_SECONDS.
CJ_WORKER_HEARTBEAT_SECONDS = _int("CJ_WORKER_HEARTBEAT_SECONDS", 5, minimum=1)
CJ_WORKER_HEARTBEAT_TIMEOUT_SECONDS = _int("CJ_WORKER_HEARTBEAT_TIMEOUT_SECONDS", 30, minimum=3)
CJ_SWEEP_SECONDS = _int("CJ_SWEEP_SECONDS", 10, minimum=1)
if CJ_WORKER_HEARTBEAT_TIMEOUT_SECONDS < 3 * CJ_WORKER_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        f"CJ_WORKER_HEARTBEAT_TIMEOUT_SECONDS={CJ_WORKER_HEARTBEAT_TIMEOUT_SECONDS} must be at least three heartbeats "
        f"(3 x CJ_WORKER_HEARTBEAT_SECONDS={CJ_WORKER_HEARTBEAT_SECONDS}): a live worker must not look dead."
    )
if CJ_COMPARISON_LEASE_SECONDS >= CJ_STALL_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        f"CJ_COMPARISON_LEASE_SECONDS={CJ_COMPARISON_LEASE_SECONDS} must be below CJ_STALL_TIMEOUT_SECONDS="
        f"{CJ_STALL_TIMEOUT_SECONDS}: a lost comparison must be re-sent before its batch is failed as stalled."
    )

# --- LLM providers -----------------------------------------------------------------------------
# Keys and base URLs come from the environment only; they are never logged or returned.

LLM_DEFAULT_PROVIDER = _choice("LLM_DEFAULT_PROVIDER", MOCK_PROVIDER, PROVIDERS)
LLM_CREDENTIALS = {
    "anthropic": {
        "api_key": env.str("ANTHROPIC_API_KEY", default=""),
        "base_url": _url("ANTHROPIC_BASE_URL", "", ("http", "https")),
    },
    "openai": {
        "api_key": env.str("OPENAI_API_KEY", default=""),
        "base_url": _url("OPENAI_BASE_URL", "", ("http", "https")),
    },
    "openai_compatible": {
        "api_key": env.str("OPENAI_COMPATIBLE_API_KEY", default=""),
        "base_url": _url("OPENAI_COMPATIBLE_BASE_URL", "", ("http", "https")),
    },
    "mock": {"api_key": "", "base_url": ""},
}
# Seed of the offline mock judge: the same seed gives the same verdicts.
LLM_MOCK_SEED = env.str("LLM_MOCK_SEED", default="cj-mock")


def _mock_behaviour(raw: str) -> dict[str, float]:
    """`latency_ms=1000,error_rate=0.05,...` → the mock's behaviour, validated (schemas.MockBehaviour)."""
    from pydantic import ValidationError

    from llmgateway.schemas import MockBehaviour

    allowed = ", ".join(MockBehaviour.model_fields)
    try:
        pairs = dict(item.split("=", 1) for item in raw.split(",") if item.strip())
        return MockBehaviour.model_validate({k.strip(): float(v) for k, v in pairs.items()}).model_dump()
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    except ValueError:
        problem = "not key=number pairs"
    raise ImproperlyConfigured(f"LLM_MOCK_BEHAVIOUR={raw!r} is invalid ({problem}); use key=number pairs of: {allowed}.")


# Latency and fault injection of the mock, and the simulated judge's noise (key=number, comma-separated).
LLM_MOCK_BEHAVIOUR = _mock_behaviour(env.str("LLM_MOCK_BEHAVIOUR", default=""))
# Batching: the default mode; whether a caller's per-batch mode (its metadata hint) is honoured.
LLM_BATCHING_MODE = _choice("LLM_BATCHING_MODE", SERIAL_BUNDLE, BATCHING_MODES)
LLM_BATCHING_HINTS = _bool("LLM_BATCHING_HINTS", True)
# serial_bundle: comparisons per bundle task, and provider calls a worker process keeps in flight.
LLM_BUNDLE_SIZE = _int("LLM_BUNDLE_SIZE", 100, minimum=1)
LLM_MAX_IN_FLIGHT = _int("LLM_MAX_IN_FLIGHT", 128, minimum=1)
# Retries (Celery countdowns, jittered exponential backoff capped by LLM_RETRY_MAX_DELAY).
LLM_MAX_ATTEMPTS = _int("LLM_MAX_ATTEMPTS", 5, minimum=1)
LLM_INVALID_RESPONSE_RETRIES = _int("LLM_INVALID_RESPONSE_RETRIES", 2, minimum=0)
LLM_RETRY_BASE_DELAY = _float("LLM_RETRY_BASE_DELAY", 2.0, minimum=0)
LLM_REQUEST_TIMEOUT = _int("LLM_REQUEST_TIMEOUT", 120, minimum=1)
# Circuit breaker per provider/model (state in Redis).
LLM_BREAKER_FAILURE_THRESHOLD = _int("LLM_BREAKER_FAILURE_THRESHOLD", 5, minimum=1)
LLM_BREAKER_COOLDOWN_SECONDS = _int("LLM_BREAKER_COOLDOWN_SECONDS", 30, minimum=1)
# Token bucket per provider/model until the providers' headers say otherwise (0: no limit).
LLM_RATE_LIMIT_REQUESTS_PER_MINUTE = _int("LLM_RATE_LIMIT_REQUESTS_PER_MINUTE", 0, minimum=0)
LLM_RATE_LIMIT_TOKENS_PER_MINUTE = _int("LLM_RATE_LIMIT_TOKENS_PER_MINUTE", 0, minimum=0)
# Beat: how often provider batch jobs are polled, and the queue_metrics_snapshot log line.
LLM_BATCH_POLL_SECONDS = _int("LLM_BATCH_POLL_SECONDS", 60, minimum=1)
LLM_METRICS_SNAPSHOT_SECONDS = _int("LLM_METRICS_SNAPSHOT_SECONDS", 60, minimum=5)
# Webhooks (batches' and the gateway's notices, signed with each owner's secret): attempts in
# all, and the wait after a failed attempt, doubling from the base up to CJ_WEBHOOK_RETRY_MAX_SECONDS
# (in the Celery block above: the broker's visibility timeout exceeds it).
CJ_WEBHOOK_MAX_ATTEMPTS = _int("CJ_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
CJ_WEBHOOK_RETRY_BASE_SECONDS = _int("CJ_WEBHOOK_RETRY_BASE_SECONDS", 5, minimum=1)
# Networks (CIDRs, comma-separated) a webhook may reach although they are not public: loopback,
# private, link-local ... are refused otherwise (the SSRF guard of cjproject.webhooks).
CJ_WEBHOOK_ALLOWED_NETWORKS = env.list("CJ_WEBHOOK_ALLOWED_NETWORKS", default=[])
for _cidr in CJ_WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_cidr, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"CJ_WEBHOOK_ALLOWED_NETWORKS: {_cidr!r} is not a network (e.g. 10.0.0.0/8)") from None

# --- HTTP API ----------------------------------------------------------------------------------
# Limits of a batch sent over the API (400 naming the limit) and of any request body (413).

CJ_API_MAX_ESSAYS_PER_BATCH = _int("CJ_API_MAX_ESSAYS_PER_BATCH", 2000, minimum=1)
CJ_API_MAX_ESSAY_CHARS = _int("CJ_API_MAX_ESSAY_CHARS", 50000, minimum=1)
if CJ_API_MAX_ESSAY_CHARS > 100_000:
    raise ImproperlyConfigured(f"CJ_API_MAX_ESSAY_CHARS={CJ_API_MAX_ESSAY_CHARS} is above the contract's 100000 characters.")
API_MAX_BODY_BYTES = _int("API_MAX_BODY_BYTES", 10_000_000, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES


# Requests per authenticated user (token or session), and per client address without a login.
API_THROTTLE_USER_RATE = env.str("API_THROTTLE_USER_RATE", default="600/minute")
API_THROTTLE_ANON_RATE = env.str("API_THROTTLE_ANON_RATE", default="60/minute")
for _name, _rate in (("API_THROTTLE_USER_RATE", API_THROTTLE_USER_RATE), ("API_THROTTLE_ANON_RATE", API_THROTTLE_ANON_RATE)):
    _count, _, _period = _rate.partition("/")
    if not _count.isdigit() or int(_count) < 1 or _period not in ("second", "minute", "hour", "day"):
        raise ImproperlyConfigured(f"{_name}={_rate!r} is not a rate; use e.g. 600/minute (per second, minute, hour or day).")

# Reverse proxies in front of the web process that append to X-Forwarded-For (0: the header is
# ignored and the client address is the connection's, so a client cannot pick its own address).
API_TRUSTED_PROXY_COUNT = _int("API_TRUSTED_PROXY_COUNT", 0, minimum=0)
# Failed token authentications per client address and minute before a 429 (guessing keys).
API_AUTH_FAILURES_PER_MINUTE = _int("API_AUTH_FAILURES_PER_MINUTE", 20, minimum=1)

# Failed admin logins for one username from one address before a lockout, and its length.
ADMIN_LOGIN_MAX_FAILURES = _int("ADMIN_LOGIN_MAX_FAILURES", 5, minimum=1)
ADMIN_LOGIN_LOCKOUT_SECONDS = _int("ADMIN_LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# Bearer token Prometheus sends for GET /metrics; unset: /metrics answers only this host (loopback).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- HTTPS -------------------------------------------------------------------------------------
# With DJANGO_DEBUG off (the default) plain HTTP is redirected to HTTPS, browsers are told to keep
# to HTTPS (HSTS, a year, subdomains included) and session and CSRF cookies travel over HTTPS only:
# `manage.py check --deploy` is clean. Behind a TLS proxy, API_TRUSTED_PROXY_COUNT (above) also
# makes its X-Forwarded-Proto believed, so a request that came in over HTTPS is not redirected
# again. A plain-HTTP setup (docker-compose.yml on a laptop, the tests) turns the redirect and the
# secure cookies off by name. /health/ and /metrics answer plain HTTP too (probes and scrapers
# inside the network).
SECURE_SSL_REDIRECT = _bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]
SECURE_HSTS_SECONDS = _int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# Asking to be on the browsers' preload list binds the whole domain for months: the operator's call.
SECURE_HSTS_PRELOAD = _bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _bool("DJANGO_SECURE_COOKIES", not DEBUG)
if API_TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# check --deploy's reminder that HSTS preload is off (security.W021): off on purpose, see above.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

REST_FRAMEWORK = {
    "NUM_PROXIES": API_TRUSTED_PROXY_COUNT,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "assessments.api.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "cjproject.throttling.AtomicUserRateThrottle",
        "cjproject.throttling.AtomicAnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"user": API_THROTTLE_USER_RATE, "anon": API_THROTTLE_ANON_RATE},
    "DEFAULT_PAGINATION_CLASS": "cjproject.api.Pagination",
    "EXCEPTION_HANDLER": "cjproject.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["cjproject.parsers.StrictJSONParser"],
}
# Throttle counters are shared by every web process through Redis when there is one.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "cj-cache"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CJ service API",
    "DESCRIPTION": (
        "Comparative judgement of essays with LLM judges: assignments and anchors, batches, their progress, "
        "results, comparisons and exports; the LLM gateway's models, comparisons and usage.\n\n"
        "Authenticate with `Authorization: Token <key>` (`python manage.py create_api_token USER`). Every error is "
        '`{"error": {"code", "message", "fields"}}`.'
    ),
    "VERSION": "1.0.0",
    # JSON Schema 2020-12, as pydantic (the batch contract) writes it.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # One name for the batch's judge modes, wherever a schema shows them.
    "ENUM_NAME_OVERRIDES": {"JudgeModeEnum": "assessments.models.JudgeMode"},
}

# --- Logging -----------------------------------------------------------------------------------

LOG_LEVEL = _choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "cjproject.logging.JsonFormatter"}},
    "filters": {"context": {"()": "cjproject.logging.ContextFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "assessments": {"level": LOG_LEVEL},
        "llmgateway": {"level": LOG_LEVEL},
        "webhooks": {"level": LOG_LEVEL},
        # The worker's ready line and its "Task ... received / succeeded" lines are INFO.
        "celery": {"level": LOG_LEVEL},
    },
}
