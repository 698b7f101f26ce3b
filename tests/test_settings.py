"""Settings: bad values stop start-up naming the variable; docs and code agree on every knob."""

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from tests.settings_docs import README
from tests.settings_docs import documented_defaults as _documented_defaults
from tests.settings_docs import settings_with as _settings_with
from tests.settings_docs import variables_read as _variables_read

# Read by processes rather than by Django (documented all the same).
OPERATIONS_ONLY = {"FLOWER_BASIC_AUTH"}


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG='maybe' is not a boolean"),
        ("DATABASE_URL", "mysql://root@db/cj", "DATABASE_URL='mysql://root@db/cj' must start with one of"),
        ("CJ_COMPARISONS_PER_ESSAY", "ten", "CJ_COMPARISONS_PER_ESSAY='ten' is not a valid int"),
        ("CJ_MAX_ROUNDS", "0", "CJ_MAX_ROUNDS='0' must be at least 1"),
        ("CJ_RELIABILITY_TARGET", "1.0", "CJ_RELIABILITY_TARGET=1.0 must be below 1"),
        ("CJ_COMPARISON_LEASE_SECONDS", "7200", "CJ_COMPARISON_LEASE_SECONDS=7200 must be below CJ_STALL_TIMEOUT_SECONDS"),
        ("LLM_DEFAULT_PROVIDER", "gemini", "LLM_DEFAULT_PROVIDER='gemini' is not allowed; choose one of: anthropic"),
        ("REDIS_URL", "http://localhost", "REDIS_URL='http://localhost' must start with one of: redis://"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(monkeypatch, variable, value, expected):
    with pytest.raises(ImproperlyConfigured) as excinfo:
        _settings_with(monkeypatch, **{variable: value})
    assert expected in str(excinfo.value)


def test_a_password_in_a_bad_url_is_not_shown(monkeypatch):
    with pytest.raises(ImproperlyConfigured) as excinfo:
        _settings_with(monkeypatch, DATABASE_URL="mysql://root:hunter2@db/cj")
    assert "hunter2" not in str(excinfo.value)


def test_production_refuses_the_development_secret_key(monkeypatch):
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        _settings_with(monkeypatch, DJANGO_DEBUG="false")


def test_no_broker_means_tasks_run_in_process(monkeypatch):
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    embedded = _settings_with(monkeypatch, DATABASE_URL="")
    assert embedded["CELERY_TASK_ALWAYS_EAGER"] is True
    assert embedded["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert embedded["LLM_DEFAULT_PROVIDER"] == "mock"


def test_redis_url_gives_broker_and_result_backend(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    configured = _settings_with(monkeypatch, REDIS_URL="redis://example:6379/3", DATABASE_URL="postgres://u@h:5432/cj")
    assert configured["CELERY_BROKER_URL"] == configured["CELERY_RESULT_BACKEND"] == "redis://example:6379/3"
    assert configured["CELERY_TASK_ALWAYS_EAGER"] is False
    assert configured["DATABASES"]["default"]["ENGINE"] == "django.db.backends.postgresql"
    timeout = configured["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"]
    assert timeout > configured["LLM_RETRY_MAX_DELAY"] + configured["CELERY_TASK_TIME_LIMIT"]


def test_provider_keys_come_from_the_environment(monkeypatch):
    configured = _settings_with(monkeypatch, ANTHROPIC_API_KEY="sk-ant-test", OPENAI_BASE_URL="http://127.0.0.1:9999/v1")
    assert configured["LLM_CREDENTIALS"]["anthropic"]["api_key"] == "sk-ant-test"
    assert configured["LLM_CREDENTIALS"]["openai"]["base_url"] == "http://127.0.0.1:9999/v1"


def test_every_variable_read_is_documented_in_env_example_and_readme():
    documented = _documented_defaults()
    readme = README.read_text()
    read = _variables_read()
    assert read, "the reader pattern found no variable: update READERS"
    assert sorted(read - set(documented)) == []
    assert sorted(v for v in read | OPERATIONS_ONLY if f"`{v}`" not in readme) == []
    assert sorted(set(documented) - read - OPERATIONS_ONLY) == [], "documented but never read"


@pytest.mark.parametrize(
    ("variable", "setting"),
    [
        ("CJ_COMPARISONS_PER_ESSAY", "CJ_COMPARISONS_PER_ESSAY"),
        ("CJ_MAX_COMPARISONS_CEILING", "CJ_MAX_COMPARISONS_CEILING"),
        ("CJ_MAX_ROUNDS", "CJ_MAX_ROUNDS"),
        ("CJ_RELIABILITY_TARGET", "CJ_RELIABILITY_TARGET"),
        ("CJ_MIN_COMPARISONS_PER_ESSAY", "CJ_MIN_COMPARISONS_PER_ESSAY"),
        ("CJ_MIN_SUCCESS_RATE", "CJ_MIN_SUCCESS_RATE"),
        ("CJ_STALL_TIMEOUT_SECONDS", "CJ_STALL_TIMEOUT_SECONDS"),
        ("CJ_SWEEP_GRACE_SECONDS", "CJ_SWEEP_GRACE_SECONDS"),
        ("CJ_COMPARISON_LEASE_SECONDS", "CJ_COMPARISON_LEASE_SECONDS"),
        ("CJ_MAX_SEND_ATTEMPTS", "CJ_MAX_SEND_ATTEMPTS"),
        ("CELERY_TASK_TIME_LIMIT", "CELERY_TASK_TIME_LIMIT"),
        ("LLM_RETRY_MAX_DELAY", "LLM_RETRY_MAX_DELAY"),
        ("DATABASE_CONN_MAX_AGE", None),
        ("LLM_DEFAULT_PROVIDER", "LLM_DEFAULT_PROVIDER"),
        ("LLM_MOCK_SEED", "LLM_MOCK_SEED"),
        ("LOG_LEVEL", "LOG_LEVEL"),
    ],
)
def test_documented_defaults_equal_code_defaults(monkeypatch, variable, setting):
    monkeypatch.delenv(variable, raising=False)
    defaults = _settings_with(monkeypatch)
    value = defaults["DATABASES"]["default"]["CONN_MAX_AGE"] if setting is None else defaults[setting]
    assert str(value) == _documented_defaults()[variable]


def test_the_test_run_uses_the_configured_servers():
    # make test points these at PostgreSQL and Redis; the suite must not silently fall back.
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings.CELERY_BROKER_URL.startswith("redis://")
