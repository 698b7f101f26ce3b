"""Operations files: every Procfile process runs in docker-compose.yml with the same command."""

import os
from pathlib import Path

import pytest
import yaml

from cjproject.celery import app

ROOT = Path(__file__).resolve().parents[1]


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_procfile_process_has_a_compose_service_with_the_same_command():
    services = _compose()["services"]
    for name, command in _procfile().items():
        assert name in services, f"Procfile process {name!r} has no docker-compose service"
        assert services[name]["command"] == command, name


def test_the_procfile_has_every_process_the_service_needs():
    assert set(_procfile()) == {"release", "web", "worker-cj", "worker-llm", "beat", "flower"}


def test_servers_have_health_checks_and_apps_wait_for_them():
    services = _compose()["services"]
    for name in ("postgres", "redis", "web", "flower", "worker-cj", "worker-llm"):
        assert "healthcheck" in services[name], name
    for name in _procfile():
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy", name


def test_workers_consume_every_declared_queue_and_the_llm_worker_prefetches_one():
    procfile = _procfile()
    consumed = set()
    for name in ("worker-cj", "worker-llm"):
        words = procfile[name].split()
        consumed |= set(words[words.index("-Q") + 1].split(","))
    assert consumed == {q.name for q in app.conf.task_queues}
    assert "--prefetch-multiplier 1" in procfile["worker-llm"]


def test_flower_takes_its_basic_auth_from_the_environment():
    flower = _compose()["services"]["flower"]
    assert "FLOWER_BASIC_AUTH" in flower["environment"]
    assert "basic" not in flower["command"]  # never on a command line, where ps would show it


def test_celery_routes_and_beat_name_real_tasks():
    app.loader.import_default_modules()
    routed = [name for name in app.conf.task_routes if "*" not in name]
    scheduled = [entry["task"] for entry in app.conf.beat_schedule.values()]
    for name in routed + scheduled:
        assert name in app.tasks, name
    assert app.conf.task_serializer == "json" and app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost


@pytest.mark.parametrize("value", ["", "admin", "admin:", ":secret"])
def test_finding_9_flower_refuses_to_start_without_a_password(value):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "FLOWER_BASIC_AUTH"} | ({"FLOWER_BASIC_AUTH": value} if value else {})
    done = subprocess.run(
        [sys.executable, "-m", "cjproject.flower"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and "FLOWER_BASIC_AUTH" in done.stderr


def test_finding_9_the_procfile_and_compose_start_flower_through_the_check():
    assert _procfile()["flower"].startswith("python -m cjproject.flower")
    assert _compose()["services"]["flower"]["command"].startswith("python -m cjproject.flower")
