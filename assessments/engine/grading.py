"""Grade projection: cut the θ scale into grades with the anchors, and check the anchors agree.

Owns the calibration (`calibrate_grades`), the per-essay grade probabilities (`project_grades`)
and the anchor alignment report (`anchor_alignment`). Grades are a sequence of labels ordered
lowest → highest; an anchor's grade is an index into it. No Django, no scales.py.

Why this calibration. A batch has a handful of anchors per grade (often one or two), so an
ordinal regression with a free slope is ill-posed (anchors that sort perfectly drive the slope to
infinity) and cut points fitted one by one collapse for grades without anchors. What the anchors
do pin down is where each grade sits on the θ scale. So:

1. Each anchored grade's centre is the precision-weighted mean (weights 1/SE²) of its anchors' θ,
   in logits, with no shrinkage toward any other scale; its SE is 1/√Σweights.
2. Centres must rise with the grade. A weighted isotonic fit (pool adjacent violators) of
   centre − δ·index, plus δ·index back, keeps them at least δ apart per grade step, where δ is
   MIN_GAP_FRACTION of the weighted least-squares slope of centre on grade index. If that slope
   is not positive (all θ tied, or the anchors run backwards) there is no calibration. Grades the
   isotonic fit had to pool are reported in `pooled_grades`.
3. A grade without anchors between two anchored grades gets a centre (and SE) interpolated
   linearly in grade index. A grade outside the anchored range is not placed: it gets probability
   0, is listed in `unplaced_grades`, and the extreme anchored grades are open-ended.
4. The cut between adjacent placed grades is the midpoint of their centres; its SE is
   ½·√(SE_k² + SE_k+1²).

An essay's true θ is taken as Normal(θ̂, SE²); P(grade ≤ k) = Φ((cut_k − θ̂)/√(SE² + cut_SE_k²)),
made monotone in k, and P(grade k) is the difference of neighbours. A larger SE spreads
probability; nothing is truncated to one-hot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr
from scipy.stats import kendalltau

# Isotonic centres stay at least this fraction of the average θ step per grade apart.
MIN_GAP_FRACTION = 0.25
# Confidence labels from P(primary grade): at least HIGH is "high", at least MEDIUM is "medium",
# anything less is "low". An essay without a finite θ and SE is "unavailable".
HIGH_CONFIDENCE = 0.80
MEDIUM_CONFIDENCE = 0.60


@dataclass(frozen=True)
class ProjectionUnavailable:
    """Why the anchors cannot cut the scale into grades (`reason` is a stable code)."""

    reason: str
    detail: str


@dataclass(frozen=True)
class GradeCalibration:
    """Where each grade sits on the θ scale (logits). Arrays are indexed by grade, lowest first.

    `centres`/`centre_se` are NaN for unplaced grades; `cuts[k]` separates grade k from k + 1 and
    is NaN when either is unplaced. `anchored` marks grades with at least one usable anchor.
    """

    grades: tuple[str, ...]
    centres: np.ndarray
    centre_se: np.ndarray
    cuts: np.ndarray
    cut_se: np.ndarray
    anchored: np.ndarray
    pooled_grades: tuple[tuple[str, ...], ...]
    unplaced_grades: tuple[str, ...]
    min_gap: float

    @property
    def boundaries(self) -> np.ndarray:
        """The finite cut points, lowest first (what `pairing.PairingState.boundaries` takes)."""
        return self.cuts[np.isfinite(self.cuts)]


@dataclass(frozen=True)
class GradeProjection:
    """Per-essay grade probabilities. `probabilities` is (n, G); rows sum to 1.

    `primary` is the most probable grade index (−1 when the essay has no finite θ/SE, and its row
    is NaN), `expected` the probability-weighted grade index, `adjacent_probability` P(primary) +
    P(the grades either side), `confidence` "high" | "medium" | "low" | "unavailable".
    """

    calibration: GradeCalibration
    probabilities: np.ndarray
    primary: np.ndarray
    primary_probability: np.ndarray
    adjacent_probability: np.ndarray
    expected: np.ndarray
    confidence: tuple[str, ...]


@dataclass(frozen=True)
class AnchorAlignment:
    """How well the fitted θ agrees with the anchors' known grades. Essays are batch indices.

    `inversions`: (lower-graded anchor, higher-graded anchor) where the lower grade has the higher
    θ. `judged_inversions`: (winner, loser) of comparisons in which the lower-graded anchor beat
    the higher-graded one. `zero_win_anchors`: anchors that were compared but never won.
    """

    n_anchors: int
    kendall_tau: float
    inversions: tuple[tuple[int, int], ...]
    judged_inversions: tuple[tuple[int, int], ...]
    zero_win_anchors: tuple[int, ...]


def calibrate_grades(
    *,
    theta: np.ndarray,
    se: np.ndarray,
    anchor_index: np.ndarray,
    anchor_grade: np.ndarray,
    grades: Sequence[str],
) -> GradeCalibration | ProjectionUnavailable:
    """Fit grade centres and cut points from the anchors (steps in the module docstring).

    `theta`, `se` cover the whole batch; `anchor_index` are the anchors' batch indices and
    `anchor_grade` their grade indices into `grades`. Anchors without a finite θ and a positive
    finite SE are ignored.
    """
    grades = tuple(grades)
    n_grades = len(grades)
    index = np.asarray(anchor_index, dtype=np.int64)
    grade = np.asarray(anchor_grade, dtype=np.int64)
    if index.shape != grade.shape:
        raise ValueError("anchor_index and anchor_grade must have the same length")
    if np.any((grade < 0) | (grade >= n_grades)):
        raise ValueError(f"anchor grades must be indices in 0..{n_grades - 1}")
    a_theta = np.asarray(theta, dtype=float)[index]
    a_se = np.asarray(se, dtype=float)[index]
    usable = np.isfinite(a_theta) & np.isfinite(a_se) & (a_se > 0)
    a_theta, a_se, grade = a_theta[usable], a_se[usable], grade[usable]
    present = np.unique(grade)
    if present.size < 2:
        return ProjectionUnavailable(
            reason="too_few_anchor_grades",
            detail=f"anchors with a usable θ cover {present.size} grade(s); at least 2 are needed",
        )
    weight = 1.0 / a_se**2
    sum_w = np.bincount(grade, weights=weight, minlength=n_grades)[present]
    raw = np.bincount(grade, weights=weight * a_theta, minlength=n_grades)[present] / sum_w
    slope = _weighted_slope(present.astype(float), raw, sum_w)
    if not slope > 0:
        return ProjectionUnavailable(
            reason="anchors_not_increasing",
            detail=(
                "the anchors' θ does not rise with their grade (slope "
                f"{slope:.3g} logits per grade); check the anchors' grades and the judgements"
            ),
        )
    gap = MIN_GAP_FRACTION * slope
    fitted, blocks = _isotonic(raw - gap * present, sum_w)
    fitted += gap * present
    block_se = 1.0 / np.sqrt(np.bincount(blocks, weights=sum_w))
    all_grades = np.arange(n_grades)
    inside = (all_grades >= present[0]) & (all_grades <= present[-1])
    centres = np.full(n_grades, np.nan)
    centre_se = np.full(n_grades, np.nan)
    centres[inside] = np.interp(all_grades[inside], present, fitted)
    centre_se[inside] = np.interp(all_grades[inside], present, block_se[blocks])
    cuts = (centres[:-1] + centres[1:]) / 2.0
    cut_se = 0.5 * np.sqrt(centre_se[:-1] ** 2 + centre_se[1:] ** 2)
    pooled = tuple(tuple(grades[g] for g in present[blocks == b]) for b in np.unique(blocks) if np.sum(blocks == b) > 1)
    anchored = np.zeros(n_grades, dtype=bool)
    anchored[present] = True
    return GradeCalibration(
        grades=grades,
        centres=centres,
        centre_se=centre_se,
        cuts=cuts,
        cut_se=cut_se,
        anchored=anchored,
        pooled_grades=pooled,
        unplaced_grades=tuple(grades[g] for g in all_grades[~inside]),
        min_gap=float(gap),
    )


def _weighted_slope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    xm = np.average(x, weights=w)
    ym = np.average(y, weights=w)
    return float(np.sum(w * (x - xm) * (y - ym)) / np.sum(w * (x - xm) ** 2))


def _isotonic(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted pool-adjacent-violators: the nondecreasing fit and each point's block number."""
    means: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for value, weight in zip(y.tolist(), w.tolist(), strict=True):
        means.append(value)
        weights.append(weight)
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            total = weights[-2] + weights[-1]
            means[-2] = (means[-2] * weights[-2] + means[-1] * weights[-1]) / total
            weights[-2] = total
            sizes[-2] += sizes[-1]
            del means[-1], weights[-1], sizes[-1]
    blocks = np.repeat(np.arange(len(sizes)), sizes)
    return np.repeat(np.array(means), sizes), blocks


def project_grades(*, theta: np.ndarray, se: np.ndarray, calibration: GradeCalibration) -> GradeProjection:
    """P(grade) for every essay, integrating its SE and the cut points' SE.

    Steps:
    1. For each cut k between placed grades: F_k = Φ((cut_k − θ)/√(SE² + cut_SE_k²)).
    2. Make F nondecreasing in k (per-cut SEs differ, so far from the scale it could dip).
    3. P(lowest placed) = F_first, P(k) = F_k − F_k−1, P(highest placed) = 1 − F_last; unplaced
       grades get 0.
    4. Primary = argmax, expected = Σ k·P(k), confidence from P(primary) (module constants).
    """
    theta = np.asarray(theta, dtype=float)
    se = np.asarray(se, dtype=float)
    n = len(theta)
    n_grades = len(calibration.grades)
    placed = np.flatnonzero(np.isfinite(calibration.centres))
    lo, hi = int(placed[0]), int(placed[-1])
    cuts = calibration.cuts[lo:hi]
    cut_se = calibration.cut_se[lo:hi]
    ok = np.isfinite(theta) & np.isfinite(se)
    t, s = np.where(ok, theta, 0.0), np.where(ok, se, 1.0)
    scale = np.sqrt(s[:, None] ** 2 + cut_se[None, :] ** 2)
    cumulative = np.maximum.accumulate(ndtr((cuts[None, :] - t[:, None]) / scale), axis=1)
    edges = np.hstack([np.zeros((n, 1)), cumulative, np.ones((n, 1))])
    probabilities = np.zeros((n, n_grades))
    probabilities[:, lo : hi + 1] = np.diff(edges, axis=1)
    probabilities[~ok] = np.nan
    primary = np.where(ok, np.argmax(np.nan_to_num(probabilities), axis=1), -1)
    rows = np.arange(n)
    primary_probability = np.where(ok, probabilities[rows, np.maximum(primary, 0)], np.nan)
    padded = np.pad(np.nan_to_num(probabilities), ((0, 0), (1, 1)))
    adjacent = padded[rows, primary] + padded[rows, primary + 1] + padded[rows, primary + 2]
    expected = probabilities @ np.arange(n_grades, dtype=float)
    return GradeProjection(
        calibration=calibration,
        probabilities=probabilities,
        primary=primary,
        primary_probability=primary_probability,
        adjacent_probability=np.where(ok, adjacent, np.nan),
        expected=expected,
        confidence=tuple(confidence_label(p) for p in primary_probability.tolist()),
    )


def confidence_label(primary_probability: float) -> str:
    """ "high" ≥ HIGH_CONFIDENCE > "medium" ≥ MEDIUM_CONFIDENCE > "low"; NaN is "unavailable"."""
    if not np.isfinite(primary_probability):
        return "unavailable"
    if primary_probability >= HIGH_CONFIDENCE:
        return "high"
    if primary_probability >= MEDIUM_CONFIDENCE:
        return "medium"
    return "low"


def anchor_alignment(
    *,
    theta: np.ndarray,
    anchor_index: np.ndarray,
    anchor_grade: np.ndarray,
    winners: np.ndarray | None = None,
    losers: np.ndarray | None = None,
) -> AnchorAlignment:
    """Kendall τ-b of anchor grade vs θ, θ inversions, judged inversions and winless anchors.

    `winners`/`losers` are batch indices of decided comparisons (ties left out). Without them the
    judged inversions and winless anchors are empty. τ is NaN with fewer than two anchors or when
    grade or θ is constant.
    """
    index = np.asarray(anchor_index, dtype=np.int64)
    grade = np.asarray(anchor_grade, dtype=np.int64)
    a_theta = np.asarray(theta, dtype=float)[index]
    tau = float("nan")
    if index.size >= 2 and np.ptp(grade) > 0 and np.ptp(a_theta) > 0:
        tau = float(kendalltau(grade, a_theta).statistic)
    lower, higher = np.nonzero(grade[:, None] < grade[None, :])
    flipped = a_theta[lower] > a_theta[higher]
    inversions = tuple(zip(index[lower[flipped]].tolist(), index[higher[flipped]].tolist(), strict=True))
    judged: tuple[tuple[int, int], ...] = ()
    zero_win: tuple[int, ...] = ()
    if winners is not None and losers is not None:
        winners = np.asarray(winners, dtype=np.int64)
        losers = np.asarray(losers, dtype=np.int64)
        size = int(max(index.max(initial=-1), winners.max(initial=-1), losers.max(initial=-1))) + 1
        grade_of = np.full(size, -1)
        grade_of[index] = grade
        gw, gl = grade_of[winners], grade_of[losers]
        upset = (gw >= 0) & (gl >= 0) & (gw < gl)
        judged = tuple(zip(winners[upset].tolist(), losers[upset].tolist(), strict=True))
        wins = np.bincount(winners, minlength=size)[index]
        played = wins + np.bincount(losers, minlength=size)[index]
        zero_win = tuple(index[(played > 0) & (wins == 0)].tolist())
    return AnchorAlignment(
        n_anchors=int(index.size),
        kendall_tau=tau,
        inversions=inversions,
        judged_inversions=judged,
        zero_win_anchors=zero_win,
    )
