"""Speed of the Bradley–Terry fit (assessments.engine.scoring.fit_bt) against choix.

Prints, for each problem size, the wall time of fit_bt (best of --repeat runs) and of
choix.ilsr_pairwise and choix.opt_pairwise on the same simulated data, with the same estimator
(the plain maximum-likelihood θ for ilsr_pairwise; the same L2 penalty for opt_pairwise), the
speed ratio, and the agreement of the θs (Pearson r, largest absolute difference).

    python bench/engine_speed.py                       # 1,000 / 20,000 and 10,000 / 200,000
    python bench/engine_speed.py --sizes 10000:200000 --choix-max-items 0   # fit_bt only

choix builds dense n × n matrices in Python loops (ilsr_pairwise takes minutes at 10,000
items; opt_pairwise's dense Hessian needs 800 MB and far longer), so each choix method runs
only up to its --*-max-items size; larger sizes print "skipped".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assessments.engine.scoring import fit_bt

OPT_ALPHA = 1e-6  # choix.opt_pairwise's default penalty α·Σθ², i.e. a N(0, 1/(2α)) prior


def simulate(n_items: int, n_comparisons: int, *, seed: int, spread: float) -> tuple[np.ndarray, ...]:
    """Random pairs, θ ~ N(0, spread²), outcomes drawn from the BT model; redrawn until every
    item can be reached from every other by wins, so that the plain MLE exists (ilsr_pairwise
    fails otherwise)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(scale=spread, size=n_items)
    for _ in range(100):
        first = rng.integers(0, n_items, n_comparisons)
        second = (first + rng.integers(1, n_items, n_comparisons)) % n_items
        p = 1 / (1 + np.exp(-(theta[first] - theta[second])))
        outcome = (rng.random(n_comparisons) < p).astype(float)
        winner = np.where(outcome == 1, first, second)
        loser = np.where(outcome == 1, second, first)
        wins = sparse.coo_matrix((np.ones(n_comparisons), (winner, loser)), shape=(n_items, n_items))
        if connected_components(wins, directed=True, connection="strong")[0] == 1:
            return theta, first, second, outcome, winner, loser
    raise RuntimeError("could not draw data with a finite MLE; lower --spread")


def timed(function, repeat: int = 1):
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def agreement(a: np.ndarray, b: np.ndarray) -> str:
    a, b = a - a.mean(), b - b.mean()
    return f"r={np.corrcoef(a, b)[0, 1]:.6f} max|Δθ|={np.max(np.abs(a - b)):.1e}"


def run(n_items: int, n_comparisons: int, args: argparse.Namespace) -> None:
    theta, first, second, outcome, winner, loser = simulate(n_items, n_comparisons, seed=args.seed, spread=args.spread)
    print(f"\n== {n_items:,} items, {n_comparisons:,} comparisons (θ ~ N(0, {args.spread}²), seed {args.seed})")

    def ours_mle():
        return fit_bt(first, second, outcome, n_items=n_items, eps=0.0, prior_sd=None)

    def ours_penalised():
        return fit_bt(first, second, outcome, n_items=n_items, eps=0.0, prior_sd=1 / np.sqrt(2 * OPT_ALPHA))

    def ours_default():
        return fit_bt(first, second, outcome, n_items=n_items)

    t_default, fit_default = timed(ours_default, args.repeat)
    t_mle, fit_mle = timed(ours_mle, args.repeat)
    print(
        f"fit_bt, defaults (eps=0.3, prior_sd=10, SE {fit_default.se_method}): "
        f"{t_default:.3f} s, {fit_default.iterations} Newton steps, "
        f"r(θ, truth)={np.corrcoef(fit_default.theta, theta)[0, 1]:.4f}"
    )
    print(
        f"fit_bt, plain MLE (eps=0, prior_sd=None):                   {t_mle:.3f} s, "
        f"{fit_mle.iterations} Newton steps, converged={fit_mle.converged}"
    )
    verdict = "PASS" if t_default < 1.0 else "MISS"
    print(f"goal: under 1 s with defaults: {verdict}")

    data = list(zip(winner.tolist(), loser.tolist(), strict=True))
    import choix

    if n_items <= args.ilsr_max_items:
        t_ilsr, params = timed(lambda: choix.ilsr_pairwise(n_items, data, tol=1e-10))
        print(
            f"choix.ilsr_pairwise (MLE):        {t_ilsr:8.3f} s  ratio {t_ilsr / t_mle:7.1f}×  "
            f"vs fit_bt MLE: {agreement(params, fit_mle.theta)}"
        )
    else:
        print(f"choix.ilsr_pairwise: skipped (more than --ilsr-max-items={args.ilsr_max_items})")
    if n_items <= args.opt_max_items:
        t_pen, fit_pen = timed(ours_penalised, args.repeat)
        t_opt, params = timed(lambda: choix.opt_pairwise(n_items, data, alpha=OPT_ALPHA, tol=1e-10))
        print(
            f"choix.opt_pairwise (α={OPT_ALPHA:g}):   {t_opt:8.3f} s  ratio {t_opt / t_pen:7.1f}×  "
            f"vs fit_bt with prior_sd=1/√(2α) ({t_pen:.3f} s): "
            f"{agreement(params, fit_pen.theta)}"
        )
    else:
        print(f"choix.opt_pairwise: skipped (more than --opt-max-items={args.opt_max_items})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000:20000,10000:200000", help="comma-separated items:comparisons")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--spread", type=float, default=0.5, help="SD of the true θ")
    parser.add_argument("--repeat", type=int, default=3, help="fit_bt runs; the best is shown")
    parser.add_argument("--ilsr-max-items", type=int, default=10000)
    parser.add_argument("--opt-max-items", type=int, default=2000)
    args = parser.parse_args()
    for size in args.sizes.split(","):
        n_items, n_comparisons = (int(part) for part in size.split(":"))
        run(n_items, n_comparisons, args)


if __name__ == "__main__":
    main()
