"""The embedded default, as a new user meets it: SQLite, tasks in process, the offline mock judge."""

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "LLM_DEFAULT_PROVIDER")


def _run(args, env):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


# What the test run sets for itself (tests/environment.py), which `make demo` does not have.
TEST_RUN_VARIABLES = ("DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY", "DJANGO_SECURE_SSL_REDIRECT", "DJANGO_SECURE_COOKIES")


def test_the_demo_runs_the_whole_flow_on_sqlite_in_process(tmp_path):
    removed = (*SERVER_VARIABLES, *TEST_RUN_VARIABLES, "DJANGO_DEBUG")
    env = {k: v for k, v in os.environ.items() if k not in removed and not k.startswith("PYTEST")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'embedded.sqlite3'}"  # SQLite, as the default, but not in the repo
    env["LOG_LEVEL"] = "WARNING"
    demo_line = next(line for line in (ROOT / "Makefile").read_text().splitlines() if "LOG_LEVEL=WARNING" in line)
    assert "DJANGO_DEBUG=true" in demo_line  # what `make demo` sets, as here: debug is off unless set
    env["DJANGO_DEBUG"] = "true"

    migrate = _run(["migrate", "--verbosity", "0"], env)
    assert migrate.returncode == 0, migrate.stderr
    export = tmp_path / "results.csv"
    demo = _run(["cj_demo", "--comparisons-per-essay", "4", "--export", str(export)], env)

    assert demo.returncode == 0, demo.stderr
    out = demo.stdout
    assert "State: completed (budget_exhausted)" in out
    assert "NOT a language model" in out
    table = [line for line in out.splitlines() if line.strip().split(" ")[0].isdigit()]
    assert len(table) == 36  # 24 students and 12 anchors, each ranked once
    assert [int(line.split()[0]) for line in table] == list(range(1, 37))
    assert "anchor:A " in out and "essay_24" in out
    rows = list(csv.DictReader(export.open()))
    assert len(rows) == 36
    assert [int(row["rank"]) for row in rows] == list(range(1, 37))
    students = [row for row in rows if row["role"] == "student"]
    assert all(row["projected_grade"] for row in students)
    assert f"Results: {export}" in out
