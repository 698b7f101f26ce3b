# Two commands for a fresh machine: `make demo` and `make test`. Python 3.11+ is all they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# make test runs against real PostgreSQL and Redis; override these to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/cj
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# Test processes (pytest-xdist; 3 on 2 cores, as the real-worker tests mostly wait): each has its
# own test database and the Redis db below the last (15, 14, ...). 0 runs everything in this process.
TEST_PROCESSES ?= 3

# Coverage of the project's packages, printed after the tests (no threshold).
COVERAGE := --cov=assessments --cov=llmgateway --cov=webhooks --cov=cjproject --cov-report=term:skip-covered

.PHONY: demo test test-embedded lint format venv lock clean

# Installs exactly the locked versions, each checked against its hash. requirements*.txt are the
# human-edited source; `make lock` compiles them into requirements*.lock.
$(BIN)/.installed: requirements.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

venv: $(BIN)/.installed

# Recompile the lock files after changing requirements*.txt (needs PyPI).
LOCK := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock: venv
	$(LOCK) --output-file requirements.lock requirements.txt
	$(LOCK) --output-file requirements-dev.lock requirements-dev.txt

# The embedded default: SQLite, in-process tasks, the offline mock judge (not an LLM). A laptop
# demo runs in debug mode (its development secret key); DJANGO_DEBUG is off everywhere else.
demo: venv
	env -u DATABASE_URL -u CELERY_BROKER_URL -u REDIS_URL -u CELERY_RESULT_BACKEND -u LLM_DEFAULT_PROVIDER \
		DJANGO_DEBUG=true LOG_LEVEL=WARNING sh -c '$(BIN)/python manage.py migrate --verbosity 0 && $(BIN)/python manage.py cj_demo'

test: venv
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CELERY_BROKER_URL= CELERY_RESULT_BACKEND= \
		$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist worksteal $(COVERAGE) $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .coverage
