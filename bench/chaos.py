"""Chaos run: one batch on real worker processes and a real beat, while a worker is SIGKILLed at
random moments several times and the broker (this script's own Redis, never the machine's) is
restarted once. Prints per fault: seconds until the work in hand at the fault was resolved (time
to recover), and at the end: comparisons lost, counted twice, provider calls paid twice.

    python bench/chaos.py [--kills 3] [--essays 30] [--latency-ms 1000] [--seed 1]

Shipped defaults throughout (lease, heartbeat, sweep interval). Needs PostgreSQL:
BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/cj_bench_chaos; dropped and
created at each run, so its name must contain "bench"); Redis is started on CHAOS_REDIS_PORT
(default 6391) in a temporary folder, with an append-only file so that a restart keeps the queues.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cj_bench_chaos")
REDIS_PORT = int(os.environ.get("CHAOS_REDIS_PORT", "6391"))
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
os.environ.update(
    DATABASE_URL=DATABASE_URL,
    REDIS_URL=REDIS_URL,
    CELERY_BROKER_URL=REDIS_URL,
    CELERY_RESULT_BACKEND=REDIS_URL,
    LOG_LEVEL="WARNING",
    DJANGO_DEBUG="false",
)
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cjproject.settings")

import django  # noqa: E402


def _redis_start(folder: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(REDIS_PORT), "--dir", str(folder), "--appendonly", "yes", "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(0.5)
    return process


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cjproject", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _worker(number: int, env: dict[str, str], folder: Path) -> subprocess.Popen:
    return _spawn(
        ["worker", "-n", f"chaos{number}@%h", "-Q", "cj,llm,llm_batch", "-c", "2", "--without-gossip", "--without-mingle"],
        env,
        folder / f"worker{number}.log",
    )


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--essays", type=int, default=30)
    parser.add_argument("--latency-ms", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    if "bench" not in name:
        raise SystemExit(f"BENCH_DATABASE_URL names {name!r}: its name must contain 'bench' (it is dropped)")
    with psycopg.connect(DATABASE_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db.models import F, Sum

    from assessments import services
    from assessments.models import Batch
    from llmgateway.models import LLMRequest

    call_command("migrate", verbosity=0)
    folder = Path(tempfile.mkdtemp(prefix="cj-chaos-"))
    redis_server = _redis_start(folder)
    env = {"LLM_MOCK_BEHAVIOUR": f"latency_ms={args.latency_ms}"}
    workers = [_worker(1, env, folder)]
    beat = _spawn(["beat", "-s", str(folder / "beat-schedule")], env, folder / "beat.log")
    time.sleep(4)
    owner = User.objects.create_user("chaos")
    essays = [{"id": f"e{i}", "text": f"An essay about rivers and towns, number {i}."} for i in range(args.essays)]
    batch = services.batch_create(
        owner=owner,
        request={
            "essays": essays,
            "options": {"comparisons_per_essay": 10, "reliability_target": 0.99, "batching_mode": "per_request"},
        },
    )
    services.batch_start(batch_id=batch.pk)
    started = time.monotonic()
    faults = ["kill"] * args.kills
    faults.insert(rng.randrange(1, len(faults) + 1), "redis restart")
    figures = []

    def terminal() -> bool:
        return Batch.objects.get(pk=batch.pk).is_terminal

    def resolved(comparison_ids: list[int]) -> bool:
        return (
            not Batch.objects.get(pk=batch.pk).comparisons.filter(pk__in=comparison_ids, status__in=["pending", "sent"]).exists()
        )

    try:
        for number, fault in enumerate(faults, start=2):
            time.sleep(rng.uniform(3, 10))
            if terminal():
                break
            open_now = list(batch.comparisons.filter(status__in=["pending", "sent"]).values_list("pk", flat=True))
            in_flight = LLMRequest.objects.filter(status="running").count()
            at = time.monotonic()
            if fault == "kill":
                _stop(workers[-1], signal.SIGKILL)
                workers.append(_worker(number, env, folder))
            else:
                _stop(redis_server)
                redis_server = _redis_start(folder)
            while not (resolved(open_now) or terminal()) and time.monotonic() - at < args.timeout:
                time.sleep(0.5)
            figures.append((fault, len(open_now), in_flight, time.monotonic() - at))
            print(
                f"{fault:>14}: {len(open_now)} comparisons open, {in_flight} calls in flight; "
                f"all of them resolved {time.monotonic() - at:.1f} s later",
                flush=True,
            )
        while not terminal() and time.monotonic() - started < args.timeout:
            time.sleep(0.5)
        batch.refresh_from_db()
        counts = {s: batch.comparisons.filter(status=s).count() for s in ("succeeded", "failed", "pending", "sent")}
        lost = counts["pending"] + counts["sent"]
        counted_twice = (batch.comparisons_succeeded - counts["succeeded"]) + (batch.comparisons_failed - counts["failed"])
        paid_twice = LLMRequest.objects.filter(attempts__gt=1).aggregate(n=Sum(F("attempts") - 1))["n"] or 0
        print(
            f"batch: {batch.state} ({batch.end_reason}) in {time.monotonic() - started:.1f} s, round {batch.current_round}, "
            f"{counts['succeeded']} judged, {counts['failed']} failed"
        )
        print(
            f"comparisons lost: {lost}; counted twice: {counted_twice}; provider calls paid twice: {paid_twice} "
            f"(calls in flight at the kills: {sum(f[2] for f in figures if f[0] == 'kill')})"
        )
    finally:
        _stop(beat)
        for worker in workers:
            _stop(worker)
        _stop(redis_server)


if __name__ == "__main__":
    main()
