"""Flower, started against the test broker, shows a running worker through its HTTP API and
refuses requests without its basic-auth credentials."""

import base64
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.e2e.conftest import ROOT, worker_env

pytestmark = pytest.mark.worker
CREDENTIALS = "flower-user:flower-pass"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, *, credentials: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)  # noqa: S310 - a local test server
    if credentials:
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - a local test server
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def flower(celery_workers, tmp_path):
    """`celery -A cjproject flower` on a free port; skipped if it does not come up."""
    port = _free_port()
    log_path = tmp_path / "flower.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cjproject", "flower", f"--port={port}", "--address=127.0.0.1"],
            cwd=ROOT,
            env=worker_env({"FLOWER_BASIC_AUTH": CREDENTIALS}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(url + "/healthcheck")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.skip(f"Flower did not start (exit code {process.poll()}): {log_path.read_text()[-1500:]}")
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_flower_lists_a_running_worker_through_its_api(celery_workers, flower):
    worker = celery_workers.start()

    deadline = time.monotonic() + 30
    workers: dict = {}
    while worker.name not in workers and time.monotonic() < deadline:
        status, body = _get(flower + "/api/workers?refresh=1", credentials=CREDENTIALS)
        assert status == 200, body[:500]
        workers = json.loads(body)
        time.sleep(0.5)

    assert worker.name in workers, f"Flower lists {sorted(workers)}"
    queues = {q["name"] for q in workers[worker.name].get("active_queues", [])}
    assert queues == {"cj", "llm", "llm_batch"}


def test_flower_refuses_a_request_without_credentials(flower):
    assert _get(flower + "/api/workers")[0] == 401
    assert _get(flower + "/api/workers", credentials="flower-user:wrong")[0] == 401
