"""Compare pairing strategies on simulated batches: ours, random, and the replaced system's.

Runs `assessments.engine.simulate.simulate_batch` for each strategy on the same seeds (same
essays, same truth) and prints:
1. the result at a fixed budget (default 10 comparisons per essay), mean ± SD over seeds, with
   how many seeds ours beats each baseline on;
2. Spearman against the comparisons spent, and the comparisons per essay each strategy needs
   for a seed-mean Spearman of 0.90 (linear interpolation between rounds);
3. where each strategy stops by its own rule (ours and random: SSR target; reference: θ stable).

Usage: python bench/engine_sim.py [--seeds 30] [--budget 10] [--max-per-essay 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from assessments.engine.simulate import (
    SimulationConfig,
    SimulationReport,
    judge_agreement,
    simulate_batch,
)

STRATEGIES = ("ours", "random", "reference")
METRICS = ("spearman", "kendall", "grade_exact", "grade_adjacent", "qwk", "ssr")
TARGET_SPEARMAN = 0.90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--budget", type=float, default=10.0, help="comparisons per essay for table 1")
    parser.add_argument("--max-per-essay", type=float, default=30.0, help="how far table 2 runs")
    args = parser.parse_args()
    base = SimulationConfig(comparisons_per_essay=args.max_per_essay)
    started = time.perf_counter()
    n = base.n_students + base.n_anchors
    print(
        f"{base.n_students} students + {base.n_anchors} anchors, grades {'/'.join(base.grades)}; judge: "
        f"discrimination {base.discrimination}, position bias {base.position_bias} logits, lapses "
        f"{base.lapse_rate:.0%}, agreement with truth on random student pairs "
        f"{judge_agreement(base):.1%}; rounds of {n // 2} pairs; ours starts with k={base.initial_k}; "
        f"{args.seeds} seeds"
    )
    runs = {
        s: [
            simulate_batch(SimulationConfig(strategy=s, seed=seed, comparisons_per_essay=args.max_per_essay))
            for seed in range(args.seeds)
        ]
        for s in STRATEGIES
    }
    fixed = {s: [_at(r, args.budget) for r in runs[s]] for s in STRATEGIES}
    _print_fixed_budget(fixed, args.budget)
    _print_curves(runs, args.max_per_essay)
    stopped = {
        s: [
            simulate_batch(
                SimulationConfig(strategy=s, seed=seed, stop_rule="strategy", comparisons_per_essay=args.max_per_essay)
            )
            for seed in range(args.seeds)
        ]
        for s in STRATEGIES
    }
    _print_own_stopping(stopped)
    print(f"\n(runtime {time.perf_counter() - started:.0f} s)")


def _at(report: SimulationReport, per_essay: float) -> dict[str, float]:
    """The metrics of the last round within `per_essay` comparisons per essay."""
    point = [p for p in report.trajectory if p.comparisons_per_essay <= per_essay + 1e-9][-1]
    return {m: getattr(point, m) for m in METRICS} | {"per_essay": point.comparisons_per_essay, "rounds": point.round}


def _print_fixed_budget(fixed: dict[str, list[dict[str, float]]], budget: float) -> None:
    print(f"\n1. At {budget:g} comparisons per essay (students only; mean ± SD over seeds)")
    header = f"{'strategy':10s}" + "".join(f"{m:>16s}" for m in METRICS) + f"{'rounds':>8s}"
    print(header)
    for s, rows in fixed.items():
        cells = "".join(f"{np.nanmean([r[m] for r in rows]):>9.3f} ± {np.nanstd([r[m] for r in rows]):.3f}" for m in METRICS)
        print(f"{s:10s}{cells}{np.mean([r['rounds'] for r in rows]):>8.1f}")
    for other in ("random", "reference"):
        for m in ("spearman", "grade_exact", "qwk"):
            diff = np.array([a[m] - b[m] for a, b in zip(fixed["ours"], fixed[other], strict=True)])
            print(
                f"  ours − {other:9s} {m:12s}: {np.nanmean(diff):+.3f} (SE {np.nanstd(diff) / np.sqrt(len(diff)):.3f}), "
                f"ours better in {np.sum(diff > 0)}, worse in {np.sum(diff < 0)} of {len(diff)} seeds"
            )


def _print_curves(runs: dict[str, list[SimulationReport]], max_per_essay: float) -> None:
    grid = np.arange(2, int(max_per_essay) + 1)
    shown = [g for g in (4, 6, 8, 10, 12, 14, 16, 18, 20, 25, 30) if g <= max_per_essay]
    print("\n2. Seed-mean Spearman by comparisons per essay, and the comparisons needed for 0.90")
    print(f"{'strategy':10s}" + "".join(f"{g:>7d}" for g in shown) + f"{'→0.90':>9s}")
    needed: dict[str, float] = {}
    for s, reports in runs.items():
        curves = [
            np.interp(grid, [p.comparisons_per_essay for p in r.trajectory], [p.spearman for p in r.trajectory], left=np.nan)
            for r in reports
        ]
        # NaN before a strategy's first round ends (ours starts with a bigger first round).
        mean = np.mean(curves, axis=0)
        needed[s] = _first_crossing(grid, mean, TARGET_SPEARMAN)
        print(f"{s:10s}" + "".join(f"{mean[grid == g][0]:>7.3f}" for g in shown) + f"{needed[s]:>9.1f}")
    for other in ("random", "reference"):
        print(f"  ours needs {needed['ours'] / needed[other]:.0%} of the comparisons {other} needs for Spearman 0.90")


def _first_crossing(x: np.ndarray, y: np.ndarray, target: float) -> float:
    above = np.flatnonzero(y >= target)
    if above.size == 0:
        return float("nan")
    i = above[0]
    if i == 0 or not np.isfinite(y[i - 1]):
        return float(x[i])
    return float(x[i - 1] + (target - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1]))


def _print_own_stopping(stopped: dict[str, list[SimulationReport]]) -> None:
    config = stopped["ours"][0].config
    print(
        f"\n3. Each strategy's own stopping rule (ours, random: SSR ≥ {config.reliability_target} once every "
        f"student has {config.min_comparisons} comparisons; reference: max |Δθ| ≤ {config.reference_stability} "
        "between rounds)"
    )
    print(f"{'strategy':10s}{'per essay':>11s}{'rounds':>8s}{'spearman':>10s}{'exact':>8s}{'ssr':>7s}  end reasons")
    for s, reports in stopped.items():
        reasons = Counter(r.end_reason for r in reports)
        final = [r.final for r in reports]
        print(
            f"{s:10s}{np.mean([p.comparisons_per_essay for p in final]):>11.1f}{np.mean([p.round for p in final]):>8.1f}"
            f"{np.mean([p.spearman for p in final]):>10.3f}{np.nanmean([p.grade_exact for p in final]):>8.3f}"
            f"{np.mean([p.ssr for p in final]):>7.3f}  {dict(reasons)}"
        )


if __name__ == "__main__":
    main()
