"""The scoring engine against sirt::btm on the 100 real sessions of the cj-meta-analysis data.

For every session prints: items, comparisons, components, the Pearson correlation of θ with
sirt's, SSR three ways (ours from the projected full-information SE; "ssr_sirt" from sirt's SE
definition 1/√information at our θ; sirt's own mle.rel) with differences, the median SE ratios
(ours/sirt and sirt-definition/sirt), separation (ours, sirt's sepG) and, with --splits, the
median split-half correlation (ours, and the study's from split_halves.csv). Then the share of
sessions meeting each goal: θ r ≥ 0.99; |SSR − sirt| ≤ 0.01.

    python bench/engine_vs_sirt.py                 # engine defaults (eps=0.3, prior_sd=10)
    python bench/engine_vs_sirt.py --prior-sd none # no prior: sirt's estimator exactly
    python bench/engine_vs_sirt.py --splits 100    # also split-half reliability

The data folder is ../shared/datasets/cj-meta-analysis beside the repository, or
$CJ_META_ANALYSIS_DIR. Two sessions contain an item compared with itself (Clark2018_Study2:
22 rows, Daal2017_sample2: 1 row); sirt counted those rows, the engine cannot, so they are
skipped here.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assessments.engine.judgement_file import read_judgements
from assessments.engine.scoring import DEFAULT_PRIOR_SD, fit_bt, split_half_reliability


def meta_analysis_dir() -> Path:
    override = os.environ.get("CJ_META_ANALYSIS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cj-meta-analysis"


def read_single_value(path: Path) -> float:
    with path.open(newline="") as stream:
        rows = list(csv.reader(stream))
    return float(rows[1][0])


def load_session(root: Path, session: str):
    """The session's comparisons indexed like sirt's btm_results rows, and sirt's results."""
    judgements = read_judgements(root / "data" / f"{session}.csv", skip_self_comparisons=True)
    with (root / "data-cache" / session / "btm_results.csv").open(newline="") as stream:
        sirt = list(csv.DictReader(stream))
    position = {row["individual"]: i for i, row in enumerate(sirt)}
    order = np.array([position[item] for item in judgements.item_ids])
    reference = {
        "theta": np.array([float(row["theta"]) for row in sirt]),
        "se": np.array([float(row["se.theta"]) for row in sirt]),
        "ssr": read_single_value(root / "data-cache" / session / "btm_ssr.csv"),
        "sepG": read_single_value(root / "data-cache" / session / "btm_sepG.csv"),
    }
    split_file = root / "data-cache" / session / "split_halves.csv"
    if split_file.exists():
        with split_file.open(newline="") as stream:
            reference["split_median"] = float(np.median([float(r["split_corr"]) for r in csv.DictReader(stream)]))
    return judgements, order[judgements.first], order[judgements.second], len(sirt), reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior-sd", default=str(DEFAULT_PRIOR_SD), help="a number, or 'none'")
    parser.add_argument("--eps", type=float, default=0.3)
    parser.add_argument("--splits", type=int, default=0, help="split-half splits per session (0: skip)")
    args = parser.parse_args()
    prior_sd = None if args.prior_sd.lower() == "none" else float(args.prior_sd)

    root = meta_analysis_dir()
    if not (root / "data").is_dir():
        sys.exit(f"cj-meta-analysis data not found at {root}; set CJ_META_ANALYSIS_DIR")
    sessions = sorted(p.name for p in (root / "data-cache").iterdir() if (root / "data" / f"{p.name}.csv").exists())

    print(f"engine settings: eps={args.eps}, prior_sd={prior_sd}; sirt: btm(maxit=400, fix.eta=0, ignore.ties=TRUE)")
    header = (
        f"{'session':38s} {'items':>5s} {'comps':>6s} {'cc':>2s} {'θ r':>8s} {'ssr':>6s} {'ssr_sd':>6s} "
        f"{'sirt':>6s} {'Δssr':>7s} {'Δssr_sd':>7s} {'SE/sirt':>7s} {'SEd/sirt':>8s} {'sep':>5s} {'sepG':>5s}"
    )
    if args.splits:
        header += f" {'split':>6s} {'sirt':>6s}"
    print(header)
    rows = []
    started = time.perf_counter()
    for session in sessions:
        judgements, first, second, n_items, ref = load_session(root, session)
        fit = fit_bt(first, second, judgements.outcome, n_items=n_items, eps=args.eps, prior_sd=prior_sd, allow_disconnected=True)
        r = float(np.corrcoef(fit.theta, ref["theta"])[0, 1])
        se_ratio = float(np.median(fit.se / ref["se"]))
        sirt_se_ratio = float(np.median(1 / np.sqrt(fit.information) / ref["se"]))
        line = (
            f"{session:38s} {n_items:5d} {first.size:6d} {fit.n_components:2d} {r:8.5f} {fit.ssr:6.3f} {fit.ssr_sirt:6.3f} "
            f"{ref['ssr']:6.3f} {fit.ssr - ref['ssr']:+7.3f} {fit.ssr_sirt - ref['ssr']:+7.3f} {se_ratio:7.3f} "
            f"{sirt_se_ratio:8.3f} {fit.separation:5.2f} {ref['sepG']:5.2f}"
        )
        if args.splits:
            split = split_half_reliability(
                first,
                second,
                judgements.outcome,
                n_items=n_items,
                judges=judgements.judge_ids,
                n_splits=args.splits,
                eps=args.eps,
                prior_sd=prior_sd,
            )
            line += f" {split.median_correlation:6.3f} {ref.get('split_median', np.nan):6.3f}"
        print(line)
        rows.append((session, r, fit.ssr - ref["ssr"], fit.ssr_sirt - ref["ssr"], se_ratio, n_items, fit.n_components))

    r_all = np.array([row[1] for row in rows])
    d_ssr = np.array([row[2] for row in rows])
    d_ssr_sirt = np.array([row[3] for row in rows])
    n = len(rows)
    print(f"\n{n} sessions in {time.perf_counter() - started:.1f} s")
    print(
        f"θ Pearson r ≥ 0.99 with sirt:                          {np.mean(r_all >= 0.99):6.1%}  "
        f"(goal ≥ 95%; min r {r_all.min():.5f})"
    )
    print(
        f"|SSR − sirt| ≤ 0.01, sirt's SE definition (ssr_sirt):  {np.mean(np.abs(d_ssr_sirt) <= 0.01):6.1%}  "
        f"(goal ≥ 90%; median |Δ| {np.median(np.abs(d_ssr_sirt)):.4f})"
    )
    print(
        f"|SSR − sirt| ≤ 0.01, projected full-information SE (ssr): {np.mean(np.abs(d_ssr) <= 0.01):6.1%}  "
        f"(median |Δ| {np.median(np.abs(d_ssr)):.4f}; Δ>0 on {np.mean(d_ssr > 0):.0%} of sessions)"
    )
    misses = [row for row in rows if abs(row[3]) > 0.01 or row[1] < 0.99]
    if misses:
        print("sessions missing a goal with sirt's SE definition:")
        for session, r, _, d, _, n_items, n_components in misses:
            print(f"  {session}: θ r {r:.5f}, Δssr_sirt {d:+.4f}, {n_items} items, {n_components} component(s)")
    disconnected = [row[0] for row in rows if row[6] > 1]
    if disconnected:
        print(f"disconnected comparison graphs (fitted per component): {', '.join(disconnected)}")


if __name__ == "__main__":
    main()
