"""Time the pairing planner on large batches: the first-round design and an adaptive round.

For each batch size: 3% anchors, a first round of k = 4, then a state after it (θ ~ N(0, 2²),
SE 0.6, grade boundaries known) and an adaptive round of n/2 pairs. Prints the best of three
wall-clock runs and a few properties of the round.

Usage: python bench/pairing_speed.py [--sizes 1000 10000 50000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from assessments.engine.pairing import PairingState, initial_design, plan_round

T = TypeVar("T")


def best_of(runs: int, fn: Callable[[], T]) -> tuple[float, T]:
    """The fastest of `runs` calls, in seconds, and the last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    assert result is not None
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    args = parser.parse_args()
    print(
        f"{'essays':>8s}{'design s':>10s}{'round s':>9s}{'pairs':>8s}{'repeats':>8s}{'spread':>7s}"
        f"{'4p(1-p)':>9s}{'stud-anc':>9s}{'anc-anc':>8s}"
    )
    for n in args.sizes:
        rng = np.random.default_rng(n)
        is_anchor = np.zeros(n, dtype=bool)
        is_anchor[rng.choice(n, size=max(2, n * 3 // 100), replace=False)] = True
        design_s, design = best_of(3, lambda n=n, a=is_anchor: initial_design(n, k=4, is_anchor=a, seed=1))
        state = PairingState.from_history(
            theta=rng.normal(scale=2.0, size=n),
            se=np.full(n, 0.6),
            is_anchor=is_anchor,
            judged_pairs=design,
            boundaries=np.array([-2.0, -0.7, 0.7, 2.0]),
        )
        round_s, plan = best_of(3, lambda n=n, s=state: plan_round(s, n_pairs=n // 2, seed=2))
        print(
            f"{n:>8d}{design_s:>10.3f}{round_s:>9.3f}{len(plan.pairs):>8d}{plan.n_repeats:>8d}"
            f"{plan.exposure_spread:>7d}{plan.mean_outcome_uncertainty:>9.3f}{plan.n_student_anchor:>9d}"
            f"{plan.n_anchor_anchor:>8d}"
        )


if __name__ == "__main__":
    main()
