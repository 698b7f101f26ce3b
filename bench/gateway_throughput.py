"""Throughput of the LLM gateway on real Redis, PostgreSQL and one Celery worker process.

For each scenario: N stored comparison requests are sent as one chord (the way a round is sent)
to a fresh `celery worker -c 1` (one worker process) whose mock judge has the given latency; the
clock runs from sending the chord until its body has run, i.e. until every result was stored and
delivered. Prints comparisons per second, milliseconds per comparison, and the most provider calls
the worker had in flight at once (sampled from the shared `llm_provider_calls_in_flight` gauge).

    python bench/gateway_throughput.py                 # the issue's goals (about two minutes)
    python bench/gateway_throughput.py --n 3000 --scenarios bundle-0ms

Goals on the 2-core machine: >= 300 comparisons/s at zero latency (about 3 ms each), and 1,000
comparisons at 1 s latency in < 15 s on one worker process. Needs PostgreSQL and Redis:
BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/cj_bench, created if missing) and
BENCH_REDIS_URL (default redis://127.0.0.1:6379/12, flushed).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cj_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ.update(
    DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL, CELERY_BROKER_URL="", CELERY_RESULT_BACKEND="", LOG_LEVEL="WARNING"
)
# DJANGO_DEBUG is off (as in production, and the default): the settings need a secret key.
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cjproject.settings")

import django  # noqa: E402

SCENARIOS: dict[str, tuple[str | None, int, int]] = {
    # name: (batching mode (None: the shipped default), mock latency in ms, default number of comparisons)
    "default-1000ms": (None, 1000, 1000),
    "per-request-0ms": ("per_request", 0, 1000),
    "per-request-1000ms": ("per_request", 1000, 100),
    "bundle-0ms": ("serial_bundle", 0, 3000),
    "bundle-1000ms": ("serial_bundle", 1000, 1000),
}


def _ensure_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _start_worker(latency_ms: int, bundle_size: int, in_flight: int, pool: str, processes: int = 1) -> subprocess.Popen:
    env = {
        **os.environ,
        "LLM_MOCK_BEHAVIOUR": f"latency_ms={latency_ms}",
        "LLM_BUNDLE_SIZE": str(bundle_size),
        "LLM_MAX_IN_FLIGHT": str(in_flight),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "cjproject",
        "worker",
        "-Q",
        "llm,llm_batch",
        "-c",
        str(processes),
        "--pool",
        pool,
    ]
    command += ["--prefetch-multiplier", "1", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def _requests(n: int) -> list[int]:
    from llmgateway.manifest import default_model
    from llmgateway.models import LLMRequest
    from llmgateway.schemas import PromptParts

    model = default_model("mock").id  # the heuristic judge
    sample = ROOT / "samples" / "eng5_role_models"
    texts = [p.read_text() for p in sorted((sample / "essays").glob("*.txt"))]
    student_prompt, rubric = (sample / "instructions.md").read_text(), (sample / "rubric.md").read_text()
    rows = [
        LLMRequest(
            provider="mock",
            model=model,
            prompt_parts=PromptParts(
                student_prompt=student_prompt,
                instructions=rubric,
                essay_a=texts[i % len(texts)],
                essay_b=texts[(i * 7 + 3) % len(texts)],
            ).model_dump(),
            metadata={"bench": i},
        )
        for i in range(n)
    ]
    return [r.pk for r in LLMRequest.objects.bulk_create(rows, batch_size=1000)]


def run(name: str, n: int, bundle_size: int, in_flight: int, pool: str, processes: int = 1) -> dict[str, float]:
    from celery import chord
    from django.conf import settings

    from cjproject.celery import app
    from llmgateway.metrics import in_flight as calls_in_flight
    from llmgateway.metrics import metrics_reset
    from llmgateway.models import LLMRequest
    from llmgateway.services import comparison_signatures
    from llmgateway.tasks import queue_metrics_snapshot

    mode, latency_ms, _ = SCENARIOS[name]
    settings.LLM_BUNDLE_SIZE = bundle_size  # bundles are cut where the chord is built: here
    LLMRequest.objects.all().delete()
    metrics_reset()
    app.control.purge()
    ids = _requests(n)
    worker = _start_worker(latency_ms, bundle_size, in_flight, pool, processes)
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start (exit code {worker.poll()})")
        peak, stop = [0.0], threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], sum(calls_in_flight().values()))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        started = time.perf_counter()
        header = comparison_signatures(request_ids=ids, batching_mode=mode)
        result = chord(header)(queue_metrics_snapshot.si())
        sampler.start()
        result.get(timeout=600, disable_sync_subtasks=False)
        elapsed = time.perf_counter() - started
        stop.set()
        sampler.join()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    done = LLMRequest.objects.filter(status="succeeded").count()
    return {
        "n": n,
        "succeeded": done,
        "seconds": elapsed,
        "per_second": n / elapsed,
        "ms_each": 1000 * elapsed / n,
        "peak": peak[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS))
    parser.add_argument("--n", type=int, default=None, help="comparisons per scenario (default: per scenario)")
    parser.add_argument("--bundle-size", type=int, default=100, help="LLM_BUNDLE_SIZE of the worker (default: 100)")
    parser.add_argument("--in-flight", type=int, default=128, help="LLM_MAX_IN_FLIGHT of the worker (default: 128)")
    parser.add_argument("--pool", choices=("prefork", "solo"), default="prefork", help="the worker's pool (default: prefork)")
    parser.add_argument(
        "--processes",
        default="1",
        help="llm worker processes (celery -c), comma-separated to compare several, e.g. 1,2,4 (default: 1)",
    )
    args = parser.parse_args()
    _ensure_database()
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from llmgateway.store import shared_redis

    call_command("migrate", verbosity=0)
    shared_redis().flushdb()
    print(
        f"one llm worker (celery -c N: N processes, {args.pool} pool), bundle size {args.bundle_size}, "
        f"{args.in_flight} call threads; {os.cpu_count()} CPUs"
    )
    print("(* the shipped default mode; the most calls in flight at once is the last column)")
    columns = ("scenario   procs", "mode", "latency", "n", "ok", "seconds", "per s", "ms each", "in flight")
    widths = (-18, -14, 8, 6, 6, 8, 8, 8, 9)
    print(" ".join(f"{c:<{-w}}" if w < 0 else f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    for processes in (int(p) for p in args.processes.split(",")):
        for name in args.scenarios.split(","):
            _row(name, args, processes, settings.LLM_BATCHING_MODE)


def _row(name: str, args: argparse.Namespace, processes: int, default_mode: str) -> None:
    mode, latency_ms, default_n = SCENARIOS[name]
    mode = mode or f"{default_mode}*"
    figures = run(name, args.n or default_n, args.bundle_size, args.in_flight, args.pool, processes)
    print(
        f"{name:<14}{processes:>3}p {mode:<14} {latency_ms:>6}ms {figures['n']:>6} {figures['succeeded']:>6} "
        f"{figures['seconds']:>8.2f} "
        f"{figures['per_second']:>8.1f} {figures['ms_each']:>8.2f} {figures['peak']:>9.0f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
