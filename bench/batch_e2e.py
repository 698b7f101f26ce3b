"""End-to-end speed of whole batches on real PostgreSQL, Redis and Celery worker processes.

For each scenario a fresh worker set is started (mock latency, batching mode, bundle size and
call threads in its environment), one batch is created and started from this process (as the API
would), and the clock runs until the batch is terminal: planning, sending, judging, recording,
scoring and finalizing. Prints rounds, wall time, comparisons per second and, per round, where
the time went (from the Comparison rows' timestamps):

- `dispatch`: from the round's rows being created to the last one marked sent (its gateway
  requests created); the chord is published after that, so the phases do not overlap;
- `judging`: from the last send to the last result recorded (publishing, the workers' calls,
  storing and recording the results);
- `body`: from the last result recorded to the next round's rows (or the batch's end): the chord
  body (refit, grades, decision) and planning the next round.

    python bench/batch_e2e.py                       # the issue's two goals (about a minute)
    python bench/batch_e2e.py --scenarios 300x10-0ms --workers "cj:1 llm,llm_batch:2"
    python bench/batch_e2e.py --scenarios 100x10-0ms,1000x10-0ms,10000x10-0ms --workers procfile   # scaling table

`--workers procfile` runs the Procfile's layout (worker-cj `-Q cj -c 2`, worker-llm `-Q llm,llm_batch
-c 8`). Each scenario also prints the peak memory (VmHWM) of every worker process and pool child
and of this process (which creates the batch, as a web process would).

Goals (issue #5), on the 2-core machine: a 30-essay batch at 10 comparisons per essay with 2 s
mock latency finishes in at most 6 rounds and 20 s; a 300-essay batch at zero latency runs at least
200 comparisons per second end to end. Needs PostgreSQL and Redis: BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/cj_bench_batch; dropped, created and migrated at each run, so its
name must contain "bench") and BENCH_REDIS_URL (default redis://127.0.0.1:6379/11, flushed).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cj_bench_batch")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
os.environ.update(
    DATABASE_URL=DATABASE_URL,
    REDIS_URL=REDIS_URL,
    CELERY_BROKER_URL="",
    CELERY_RESULT_BACKEND="",
    LOG_LEVEL="WARNING",
    # As in production: DEBUG keeps every SQL statement in memory and wraps every cursor.
    DJANGO_DEBUG="false",
)
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cjproject.settings")

import django  # noqa: E402

SAMPLE = ROOT / "samples" / "eng5_role_models"


@dataclass(frozen=True)
class Scenario:
    essays: int  # students and anchors together
    comparisons_per_essay: int
    latency_ms: int
    goal: str


SCENARIOS = {
    "30x10-2s": Scenario(30, 10, 2000, "<= 6 rounds and <= 20 s"),
    "300x10-0ms": Scenario(300, 10, 0, ">= 250 comparisons/s"),
    "100x10-0ms": Scenario(100, 10, 0, "scaling table"),
    "1000x10-0ms": Scenario(1000, 10, 0, "scaling table"),
    "10000x10-0ms": Scenario(10000, 10, 0, "<= 10 minutes, <= 1 GiB per process"),
}
# The Procfile's worker processes: worker-cj and worker-llm.
PROCFILE_WORKERS = "cj:2 llm,llm_batch:8"


def _peak_memory_mib(workers: list[subprocess.Popen]) -> list[tuple[str, float]]:
    """VmHWM (peak resident memory) of each worker's processes (its session: the worker and its
    pool children), read from /proc before the workers stop."""
    peaks = []
    for number, worker in enumerate(workers):
        for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
            try:
                if os.getsid(pid) != worker.pid:
                    continue
                status = Path(f"/proc/{pid}/status").read_text()
            except (OSError, ProcessLookupError):
                continue
            kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
            role = "worker" if pid == worker.pid else "child"
            peaks.append((f"w{number} {role} {pid}", kib / 1024))
    return peaks


def _fresh_database() -> None:
    """Drop and create the bench database (its name must contain "bench"), so that its schema is
    the current migrations' even where a migration was rewritten in place."""
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    if "bench" not in name:
        raise SystemExit(f"BENCH_DATABASE_URL names {name!r}: the bench drops its database, so its name must contain 'bench'")
    with psycopg.connect(DATABASE_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _start_workers(spec: str, env: dict[str, str]) -> list[subprocess.Popen]:
    """`spec`: space-separated `queues:concurrency`, e.g. "cj:1 llm,llm_batch:2"."""
    from cjproject.celery import app

    workers, names = [], []
    for number, part in enumerate(spec.split()):
        queues, concurrency = part.rsplit(":", 1)
        name = f"bench{number}@{os.getpid()}"
        command = [sys.executable, "-m", "celery", "-A", "cjproject", "worker", "-n", name, "-Q", queues, "-c", concurrency]
        command += ["--prefetch-multiplier", "1", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]
        log = open(os.devnull, "w")  # noqa: SIM115 - the worker writes to it until it stops
        workers.append(
            subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log, start_new_session=True)
        )
        names.append(name)
    deadline = time.monotonic() + 60
    while len(app.control.ping(destination=names, timeout=0.5)) < len(names):
        if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
            _stop_workers(workers)
            raise SystemExit("the workers did not start")
    return workers


def _profile(workers: list[subprocess.Popen], folder: Path) -> list[subprocess.Popen]:
    """py-spy (installed separately: pip install py-spy) on each worker and its pool children,
    every thread, idle time included: collapsed stacks in `folder`/worker<n>.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(w.pid),
                "--subprocesses",
                "--idle",
                "--threads",
                "--nonblocking",
                "--rate",
                "100",
                "--format",
                "raw",
                "--output",
                str(folder / f"worker{i}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i, w in enumerate(workers)
    ]


def _stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


def _assignment() -> tuple[Any, Any, list[str]]:
    """The sample task with its graded anchors, and the sample essays' texts."""
    from django.contrib.auth import get_user_model

    from assessments import services
    from assessments.files import read_grades_csv, read_text_file, read_text_folder

    owner, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_active": False})
    grades = read_grades_csv(SAMPLE / "anchors" / "anchor_grades.csv")
    assignment = services.assignment_create(
        owner=owner,
        title="Role Models (bench)",
        student_prompt=read_text_file(SAMPLE / "instructions.md"),
        instructions=read_text_file(SAMPLE / "rubric.md"),
        grade_scale="eng5_np_legacy_9_step",
    )
    for f in read_text_folder(SAMPLE / "anchors"):
        services.anchor_register(assignment=assignment, label=f.path.stem, grade=grades[f.path.name], text=f.text)
    return owner, assignment, [f.text for f in read_text_folder(SAMPLE / "essays")]


def _round_phases(batch: Any) -> list[dict[str, float]]:
    from django.db.models import Max, Min

    rounds = list(
        batch.comparisons.values("round_no")
        .annotate(planned=Min("created_at"), last_sent=Max("sent_at"), last_done=Max("completed_at"))
        .order_by("round_no")
    )
    phases = []
    for i, r in enumerate(rounds):
        following = rounds[i + 1]["planned"] if i + 1 < len(rounds) else batch.finished_at
        phases.append(
            {
                "round": r["round_no"],
                "comparisons": batch.comparisons.filter(round_no=r["round_no"]).count(),
                "dispatch": (r["last_sent"] - r["planned"]).total_seconds(),
                "judging": (r["last_done"] - r["last_sent"]).total_seconds(),
                "body": (following - r["last_done"]).total_seconds(),
            }
        )
    return phases


def run(name: str, *, workers_spec: str, mode: str, bundle_size: int, in_flight: int, seed: int, profile: Path | None) -> None:
    from django.conf import settings

    from assessments import services
    from assessments.models import Batch
    from cjproject.celery import app
    from llmgateway.store import shared_redis

    scenario = SCENARIOS[name]
    settings.LLM_BUNDLE_SIZE = bundle_size  # round 1 is cut into bundles here, where the batch starts
    shared_redis().flushdb()
    app.control.purge()
    env = {
        "LLM_MOCK_BEHAVIOUR": f"latency_ms={scenario.latency_ms}",
        "LLM_BATCHING_MODE": mode,
        "LLM_BUNDLE_SIZE": str(bundle_size),
        "LLM_MAX_IN_FLIGHT": str(in_flight),
    }
    workers = _start_workers(workers_spec, env)
    profilers = _profile(workers, profile / name) if profile else []
    try:
        owner, assignment, texts = _assignment()
        students = scenario.essays - assignment.anchors.count()
        essays = [{"id": f"s{i:04d}", "text": f"{texts[i % len(texts)]}\n\n(copy {i // len(texts)})"} for i in range(students)]
        started = time.perf_counter()
        batch = services.batch_create(
            owner=owner,
            request={
                "essays": essays,
                "assignment_id": assignment.pk,
                "options": {"comparisons_per_essay": scenario.comparisons_per_essay, "seed": seed, "batching_mode": mode},
            },
        )
        services.batch_start(batch_id=batch.pk)
        deadline = time.monotonic() + 1800
        while not Batch.objects.get(pk=batch.pk).is_terminal:
            if time.monotonic() > deadline:
                raise SystemExit(f"{name}: batch {batch.pk} not finished after 1800 s")
            time.sleep(0.25)
        wall = time.perf_counter() - started
        peaks = _peak_memory_mib(workers)
    finally:
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        _stop_workers(workers)
    batch = Batch.objects.get(pk=batch.pk)
    n = batch.comparisons_planned
    print(
        f"\n{name}: {scenario.essays} essays ({students} students, {scenario.essays - students} anchors), "
        f"{scenario.comparisons_per_essay} comparisons per essay, mock latency {scenario.latency_ms} ms, {mode}; "
        f"goal {scenario.goal}"
    )
    print(
        f"  {batch.state} ({batch.end_reason}); rounds {batch.current_round}; comparisons {n} "
        f"({batch.comparisons_succeeded} judged, {batch.comparisons_failed} failed); wall {wall:.2f} s; "
        f"{n / wall:.1f} comparisons/s; reliability {batch.processing_metadata.get('scoring', {}).get('reliability')}"
    )
    print(f"  {'round':>5} {'comps':>6} {'dispatch s':>10} {'judging s':>10} {'body s':>8}")
    totals = {"dispatch": 0.0, "judging": 0.0, "body": 0.0}
    for phase in _round_phases(batch):
        print(
            f"  {phase['round']:>5} {phase['comparisons']:>6} {phase['dispatch']:>10.2f} {phase['judging']:>10.2f} "
            f"{phase['body']:>8.2f}"
        )
        for key in totals:
            totals[key] += phase[key]
    create = (batch.started_at - batch.created_at).total_seconds()
    print(
        f"  {'all':>5} {n:>6} {totals['dispatch']:>10.2f} {totals['judging']:>10.2f} {totals['body']:>8.2f}"
        f"   (create → start {create:.2f} s)",
        flush=True,
    )
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory MiB: this process {own:.0f}; " + ", ".join(f"{label} {mib:.0f}" for label, mib in peaks), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS))
    parser.add_argument(
        "--workers",
        default="cj,llm,llm_batch:2",
        help='worker processes, "queues:concurrency" each (default: one, all queues, -c 2)',
    )
    parser.add_argument("--mode", default="serial_bundle", help="batching mode (default: serial_bundle)")
    parser.add_argument("--bundle-size", type=int, default=100, help="LLM_BUNDLE_SIZE (default: 100)")
    parser.add_argument("--in-flight", type=int, default=128, help="LLM_MAX_IN_FLIGHT per worker process (default: 128)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", type=Path, default=None, help="record the workers with py-spy into this folder")
    args = parser.parse_args()
    if args.workers == "procfile":
        args.workers = PROCFILE_WORKERS
    _fresh_database()
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"workers: {args.workers}; bundle size {args.bundle_size}; {args.in_flight} call threads; {os.cpu_count()} CPUs")
    for name in args.scenarios.split(","):
        run(
            name,
            workers_spec=args.workers,
            mode=args.mode,
            bundle_size=args.bundle_size,
            in_flight=args.in_flight,
            seed=args.seed,
            profile=args.profile,
        )


if __name__ == "__main__":
    main()
