"""Grade projection: the band model of grades, its summaries, and the anchor alignment check.

Owns the model's pieces that `population.fit_population` samples with (`truncated_normal`,
`starting_cuts`, `anchors_contradict_grades`), the summaries that callers read
(`grade_calibration` of the cut points, `grade_projection` of each essay's P(grade), the
confidence labels) and the anchor alignment report (`anchor_alignment`). Grades are a sequence
of labels ordered lowest → highest; an anchor's grade is an index into it. No Django.

The model. Grades are consecutive bands of the θ scale, cut at c_1 < … < c_G−1. Students come
from a normal population N(0, τ²). An anchor is one essay of its grade, somewhere inside its
band, not the band's centre: it is drawn from the population within its band, density
φ_τ(θ)·1[c_g−1 < θ < c_g] / P_g, with P_g the population's share of band g. Inner bands are
about equally wide (their log widths are normal around a typical width that all grades share),
so a grade with one anchor borrows from the others. The comparisons say where each anchor is.
One or two anchors per grade leave the cut points uncertain by a good part of a band, and the
sampler carries that uncertainty, the anchors' own error and each essay's into P(grade).
Grades with no anchor get their band from their neighbours and the shared width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import kendalltau

# Confidence labels from P(primary grade): at least HIGH is "high", at least MEDIUM is "medium",
# anything less is "low". An essay without a finite θ and SE is "unavailable".
HIGH_CONFIDENCE = 0.80
MEDIUM_CONFIDENCE = 0.60
CONFIDENCE_LABELS = ("high", "medium", "low", "unavailable")
# Beyond this many SDs from the mean a truncated normal is drawn from its exponential tail.
FAR_TAIL = 30.0


@dataclass(frozen=True)
class ProjectionUnavailable:
    """Why the anchors cannot cut the scale into grades (`reason` is a stable code)."""

    reason: str
    detail: str


@dataclass(frozen=True)
class GradeCalibration:
    """Where each grade sits on the θ scale (logits). Arrays are indexed by grade, lowest first.

    `cuts[k]` (posterior mean) separates grade k from k + 1, `cut_se` its posterior SD and
    `cut_draws` (draws × cuts) the posterior sample every projection averages over.
    `centres[k]` is where a typical essay of grade k sits (the population's mean within the
    band, averaged over draws). `anchored` marks grades with at least one usable anchor;
    `unanchored_grades` names the others.
    """

    grades: tuple[str, ...]
    centres: np.ndarray
    cuts: np.ndarray
    cut_se: np.ndarray
    cut_draws: np.ndarray
    anchored: np.ndarray
    unanchored_grades: tuple[str, ...]
    population_sd: float

    @property
    def boundaries(self) -> np.ndarray:
        """The cut points, lowest first (what `pairing.PairingState.boundaries` takes)."""
        return self.cuts


@dataclass(frozen=True)
class GradeProjection:
    """Per-essay grade probabilities. `probabilities` is (n, G); rows sum to 1.

    `primary` is the median grade index, the first whose cumulative P reaches ½ (−1 when the essay has no finite θ/SE, and its row
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


def grade_calibration(
    *,
    grades: Sequence[str],
    cut_draws: np.ndarray,
    population_sd: float,
    anchored: np.ndarray,
) -> GradeCalibration:
    """Summarise the posterior draws of the cut points (draws × cuts) into a calibration."""
    grades = tuple(grades)
    draws = np.asarray(cut_draws, dtype=float)
    anchored = np.asarray(anchored, dtype=bool)
    return GradeCalibration(
        grades=grades,
        centres=_band_centres(draws, population_sd),
        cuts=draws.mean(axis=0),
        cut_se=draws.std(axis=0),
        cut_draws=draws,
        anchored=anchored,
        unanchored_grades=tuple(g for g, has in zip(grades, anchored, strict=True) if not has),
        population_sd=float(population_sd),
    )


def anchors_contradict_grades(*, theta: np.ndarray, se: np.ndarray, grade: np.ndarray) -> ProjectionUnavailable | None:
    """Why these anchors cannot calibrate grades, or None when they can.

    They cannot when the usable anchors (finite θ, positive SE) cover fewer than two grades, or
    when their θ does not rise with their grade (weighted least-squares slope ≤ 0): the
    anchors then contradict their grades and no cut can be trusted.
    """
    usable = np.isfinite(theta) & np.isfinite(se) & (se > 0)
    present = np.unique(grade[usable])
    if present.size < 2:
        return ProjectionUnavailable(
            reason="too_few_anchor_grades",
            detail=f"anchors with a usable θ cover {present.size} grade(s); at least 2 are needed",
        )
    slope = _weighted_slope(grade[usable].astype(float), theta[usable], 1.0 / se[usable] ** 2)
    if not slope > 0:
        return ProjectionUnavailable(
            reason="anchors_not_increasing",
            detail=(
                "the anchors' θ does not rise with their grade (slope "
                f"{slope:.3g} logits per grade); check the anchors' grades and the judgements"
            ),
        )
    return None


def _weighted_slope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    xm = np.average(x, weights=w)
    ym = np.average(y, weights=w)
    denominator = float(np.sum(w * (x - xm) ** 2))
    return float(np.sum(w * (x - xm) * (y - ym)) / denominator) if denominator > 0 else float("nan")


def _band_centres(draws: np.ndarray, tau: float) -> np.ndarray:
    """Mean θ of the population N(0, τ²) within each band, averaged over the draws."""
    z = np.hstack([np.full((len(draws), 1), -np.inf), draws / tau, np.full((len(draws), 1), np.inf)])
    density = np.exp(-0.5 * np.where(np.isfinite(z), z, 0.0) ** 2) * np.isfinite(z) / np.sqrt(2 * np.pi)
    share = np.maximum(np.diff(ndtr(z), axis=1), 1e-300)
    within = tau * (density[:, :-1] - density[:, 1:]) / share
    return within.mean(axis=0)


def starting_cuts(
    *, anchor_theta: np.ndarray, anchor_grade: np.ndarray, n_grades: int, tau: float
) -> tuple[np.ndarray, np.ndarray]:
    """A state the band model allows, to start sampling from: the anchors' θ sorted into grade
    order (ties broken), and cuts spaced between the anchors of neighbouring grades."""
    order = np.lexsort((anchor_theta, anchor_grade))
    start = np.empty_like(anchor_theta, dtype=float)
    start[order] = np.sort(anchor_theta) + 1e-6 * np.arange(anchor_theta.size)
    cuts = np.empty(n_grades - 1)
    k = 0
    while k < n_grades - 1:
        below = start[anchor_grade <= k]
        # Cuts k..last share the gap up to the next grade that has anchors.
        last = k
        while last + 1 < n_grades - 1 and not np.any(anchor_grade == last + 1):
            last += 1
        above = start[anchor_grade > last]
        count = last - k + 1
        lo = below.max() if below.size else above.min() - 0.5 * tau * (count + 1)
        hi = above.min() if above.size else below.max() + 0.5 * tau * (count + 1)
        cuts[k : last + 1] = lo + (hi - lo) * np.arange(1, count + 1) / (count + 1)
        k = last + 1
    return start, cuts


def truncated_normal(mean: float, sd: float, lo: float, hi: float, rng: np.random.Generator) -> float:
    """One draw from N(mean, sd²) truncated to (lo, hi), by the inverse CDF on the side of the
    normal where Φ keeps its precision (an interval above the mean is mirrored). Beyond
    FAR_TAIL SDs, where Φ runs out of digits, the tail is exponential (rate a at a SDs), which
    is exact to within a few per cent there; the draw always lies inside the interval."""
    a = (lo - mean) / sd
    b = (hi - mean) / sd
    mirror = a > 0
    if mirror:
        a, b = -b, -a
    # Now a < b and a ≤ 0: the interval reaches into (or below) the lower half.
    if b < -FAR_TAIL:
        # Far in the lower tail: z = b − Exp(|b|) truncated to (a, b).
        rate = -b
        span = b - a
        z = b + np.log1p(-rng.random() * -np.expm1(-rate * span)) / rate if np.isfinite(span) else b - rng.exponential(1 / rate)
    else:
        pa, pb = ndtr(max(a, -38.0)), ndtr(b)
        z = float(ndtri(min(max(pa + rng.random() * (pb - pa), 1e-300), 1 - 1e-16)))
    z = min(max(float(z), a), b)
    return mean + sd * (-z if mirror else z)


def grade_projection(*, probabilities: np.ndarray, calibration: GradeCalibration) -> GradeProjection:
    """Primary grade (the median grade), its probability, the adjacent and expected grades and the
    confidence label from each essay's P(grade) row (NaN rows: no estimate, primary −1)."""
    probabilities = np.asarray(probabilities, dtype=float)
    n, n_grades = probabilities.shape
    ok = np.isfinite(probabilities).all(axis=1)
    # The median grade: the first whose cumulative probability reaches one half. Unlike the most
    # probable grade it rises with θ (an essay above another never gets a lower grade for having a
    # wider SE, which would pile probability into the open-ended end grades).
    cumulative = np.cumsum(np.nan_to_num(probabilities), axis=1)
    median = np.minimum(np.sum(cumulative < 0.5 - 1e-12, axis=1), n_grades - 1)
    primary = np.where(ok, median, -1)
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
