"""Population model: Bradley–Terry with the students drawn from a normal population, a small
share of lapses and a position effect, fitted by Gibbs sampling jointly with the grade cut
points (`grading`'s band model). The figures graders read come from here.

Owns `fit_population`. Why not the maximum-likelihood fit of `scoring.fit_bt`: on adaptive
designs its θ is stretched (pairing on noisy θ lengthens the scale), so SSR flatters the batch
and intervals miss the truth; approximations of a hierarchical fit (Laplace, PQL) shrink the
scale too far on a few binary verdicts per essay. A posterior computed exactly, under a prior
fitted to the students, does not depend on how the pairs were chosen (the design used only
verdicts already seen), so its reliability and intervals stay honest whatever the pairing.

The model, for comparison c of essays f (shown first) and s:
- with probability λ (fixed, DEFAULT_LAPSE_RATE) the verdict is a lapse, a coin flip;
  otherwise the first wins with probability σ(θ_f − θ_s + γ);
- students' θ ~ N(0, τ²), τ with a weakly informative prior (POPULATION_SD_PRIOR); anchors as in `grading`'s band model (or,
  without a grade scale, N(0, prior_sd²)); γ ~ N(0, prior_sd²).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.sparse.linalg import LinearOperator, cg
from scipy.special import ndtr

from assessments.engine.grading import (
    ProjectionUnavailable,
    anchors_contradict_grades,
    starting_cuts,
    truncated_normal,
)
from assessments.engine.scoring import DEFAULT_PRIOR_SD, fit_bt, item_fit_statistics

# Gibbs iterations on small batches; larger batches take fewer (see `_iterations`), since each
# iteration costs a linear solve over every essay and the many essays average the noise out.
BURN_IN = 100
DRAWS = 300
# Terms of the Pólya–Gamma series drawn exactly; the rest is replaced by its expectation.
PG_TERMS = 24
# Prior on the students' SD τ (logits): log τ ~ N(log 1.5, 0.75²), 95% between 0.35 and 6.5.
# It needs to be proper: with few verdicts per essay they can often be put in an order that no
# verdict contradicts (lapses aside), and then nothing in the data stops τ from running off.
# The 101 real sessions of the cj-meta-analysis data have an SD of θ of 1.37 at the median
# (0.9–2.2 between the quartiles), which this covers; with tens of students the data decide.
POPULATION_SD_PRIOR = (1.5, 0.75)
# Share of verdicts taken to be lapses (coin flips: a misread, an answer about the other essay).
# Not estimated: with a few verdicts per essay a lapse rate trades off against a longer scale.
# A small fixed rate keeps one or two upsets from dragging an essay's θ logits away.
DEFAULT_LAPSE_RATE = 0.03
# Grade bands are about equally wide: the log of each inner band's width is normal around the
# log of a typical width (estimated across the grades, so a grade with one anchor borrows from
# the others) with this SD; 0.5 lets neighbouring bands differ by half or so (grade scales are
# not always regular, and a tighter prior drags every band after two close anchors).
BAND_WIDTH_SPREAD = 0.5
# SD of the prior on the log of the typical band width (see `_draw_band_width`).
BAND_WIDTH_PRIOR_SD = 0.7
# Grid cells for drawing one cut point from its conditional, between its neighbouring cuts.
CUT_GRID = 128
_GRID_MIDPOINTS = (np.arange(CUT_GRID) + 0.5) / CUT_GRID
# Up to this many parameters θ is drawn through a dense Cholesky factor, above by conjugate
# gradients on a perturbed system (exact in distribution either way).
DENSE_MAX_PARAMETERS = 400


@dataclass(frozen=True)
class PopulationFit:
    """Posterior summaries. Per-item arrays are indexed like the items.

    `theta`/`se`: posterior mean and SD (logits); items never compared keep their prior mean
    and get NaN for `se`, `infit` and `outfit`. `reliability`: the share of the students'
    spread in θ that is real, var(θ) / (var(θ) + mean(se²)) over compared students: an estimate
    of the squared correlation of θ with the students' true quality, and NaN with fewer than
    three compared students. `population_sd` τ and `order_effect` γ are posterior means.
    With anchors: `grade_probabilities` (items × grades; NaN rows for items never compared),
    `cut_draws` (draws × cuts) and `anchored` (grades with an anchor); otherwise None and
    `grading_unavailable` says why.
    """

    theta: np.ndarray
    se: np.ndarray
    infit: np.ndarray
    outfit: np.ndarray
    comparisons: np.ndarray
    wins: np.ndarray
    in_population: np.ndarray
    population_sd: float
    reliability: float
    order_effect: float | None
    order_effect_se: float | None
    n_comparisons: int
    draws: int
    grade_probabilities: np.ndarray | None = None
    cut_draws: np.ndarray | None = None
    anchored: np.ndarray | None = None
    grading_unavailable: ProjectionUnavailable | None = None


def fit_population(
    first: npt.ArrayLike,
    second: npt.ArrayLike,
    outcome: npt.ArrayLike,
    *,
    n_items: int,
    in_population: npt.ArrayLike,
    anchor_grade: npt.ArrayLike | None = None,
    n_grades: int = 0,
    weights: npt.ArrayLike | None = None,
    order_effect: bool = True,
    lapse_rate: float = DEFAULT_LAPSE_RATE,
    prior_sd: float = DEFAULT_PRIOR_SD,
    seed: int = 0,
    draws: int | None = None,
) -> PopulationFit:
    """Sample the joint posterior of θ, γ, τ and (with anchors) the grade cut points.

    `in_population` flags the students. `anchor_grade` holds, per item, the grade index of an
    anchor (0 = lowest of `n_grades`) and −1 for everything else. Anchors are essays of their
    grade somewhere inside its band (the model of `grading`); without usable anchors they get
    the weak N(0, prior_sd²) prior and no grades are projected. `draws`: iterations kept (a
    third as many are burnt in first); None takes DRAWS, fewer above 500 essays (`_iterations`).

    Steps of one Gibbs iteration (Pólya–Gamma augmentation, Polson, Scott & Windle 2013):
    1. For each verdict draw ω ~ PG(weight, η), η = θ_f − θ_s + γ.
    2. Given ω and the anchors, the students' θ and γ are jointly normal with precision
       Xᵀ·diag(ω)·X + prior precision: draw them (dense Cholesky, or conjugate gradients on a
       randomly perturbed right-hand side for large batches).
    3. Each anchor in turn: normal given ω and everything else, times the population's
       N(0, τ²), truncated to its grade's band.
    4. Each cut point from its conditional (`_draw_cuts`, the anchors either side integrated
       out), then the typical band width (`_draw_band_width`).
    5. τ from its conditional given the students' θ (prior POPULATION_SD_PRIOR), on a grid.
    6. After burn-in, add each student's P(grade | this draw of everything else), the normal
       conditional of step 2 cut into bands (Rao–Blackwellised, so P is smooth).
    Summaries average the kept iterations.
    """
    rng = np.random.default_rng(seed)
    f, s, y, w = _validated(first, second, outcome, weights, n_items)
    population = np.asarray(in_population, dtype=bool)
    if population.shape != (n_items,):
        raise ValueError(f"in_population: must hold one flag per item ({n_items}), got shape {population.shape}")
    grade_of = np.full(n_items, -1, dtype=np.int64) if anchor_grade is None else np.asarray(anchor_grade, dtype=np.int64)
    if grade_of.shape != (n_items,) or np.any(grade_of >= max(n_grades, 0)) or np.any(grade_of < -1):
        raise ValueError(f"anchor_grade: one grade index in 0..{n_grades - 1} (or −1) per item")
    m = f.size
    dim = n_items + int(order_effect)
    rows = np.concatenate([np.arange(m), np.arange(m)] + ([np.arange(m)] if order_effect else []))
    cols = np.concatenate([f, s] + ([np.full(m, n_items)] if order_effect else []))
    vals = np.concatenate([np.ones(m), -np.ones(m)] + ([np.ones(m)] if order_effect else []))
    design = sparse.csr_matrix((vals, (rows, cols)), shape=(m, dim))
    counts = np.bincount(f, minlength=n_items) + np.bincount(s, minlength=n_items)
    wins = np.bincount(f, y, minlength=n_items) + np.bincount(s, 1 - y, minlength=n_items)
    compared = counts > 0
    students = population & compared

    start = fit_bt(f, s, y, n_items=n_items, weights=w, order_effect=order_effect, allow_disconnected=True)
    anchors = np.flatnonzero((grade_of >= 0) & compared)
    unavailable: ProjectionUnavailable | None = None
    if n_grades >= 2 and anchors.size:
        unavailable = anchors_contradict_grades(theta=start.theta[anchors], se=start.se[anchors], grade=grade_of[anchors])
    elif n_grades >= 2:
        unavailable = ProjectionUnavailable(reason="too_few_anchor_grades", detail="no anchor has been compared yet")
    banded = anchors if (n_grades >= 2 and unavailable is None) else np.empty(0, dtype=np.int64)
    tau2 = max(float(np.var(start.theta[students], ddof=1)) if students.sum() >= 2 else 1.0, 0.25)
    x = np.zeros(dim)
    x[:n_items] = np.where(compared, start.theta, 0.0)
    if order_effect:
        x[n_items] = start.order_effect or 0.0
    cuts = np.empty(0)
    if banded.size:
        x[banded], cuts = starting_cuts(
            anchor_theta=start.theta[banded], anchor_grade=grade_of[banded], n_grades=n_grades, tau=np.sqrt(tau2)
        )
    width = float(np.mean(np.diff(cuts))) if cuts.size >= 2 else np.sqrt(tau2)
    kappa = w * (y - 0.5)
    sampler = _Sampler(design=design, kappa=kappa, weights=w, banded=banded, dim=dim)
    burn_in, keep = _iterations(n_items, draws)
    sums = np.zeros(dim)
    squares = np.zeros(dim)
    probabilities = np.zeros((n_items, n_grades)) if banded.size else None
    kept_cuts = []
    tau_sum = 0.0
    for iteration in range(burn_in + keep):
        eta = design @ x
        active = np.ones(m, dtype=bool)
        if lapse_rate > 0:
            # A verdict the current θ finds surprising is more likely a lapse (a coin flip).
            p = 1.0 / (1.0 + np.exp(-eta))
            seen = y * p + (1 - y) * (1 - p)
            active = rng.random(m) >= (lapse_rate / 2) / (lapse_rate / 2 + (1 - lapse_rate) * seen)
        omega = np.where(active, _polya_gamma(w, eta, rng), 0.0)
        sampler.kappa = kappa * active
        prior = np.full(dim, 1.0 / prior_sd**2)
        prior[:n_items][population] = 1.0 / tau2
        x = sampler.draw_free(x, omega, prior, rng)
        if banded.size:
            anchor_mean, anchor_sd = sampler.anchor_conditionals(x, omega, 1.0 / tau2)
            cuts = _draw_cuts(cuts, anchor_mean, anchor_sd, grade_of[banded], n_grades, np.sqrt(tau2), width, rng)
            width = _draw_band_width(cuts, np.sqrt(tau2), rng) or width
            edges = np.concatenate([[-np.inf], cuts, [np.inf]])
            x = sampler.draw_anchors(x, omega, 1.0 / tau2, lo=edges[grade_of[banded]], hi=edges[grade_of[banded] + 1], rng=rng)
        if population.sum() >= 3:
            tau2 = _draw_population_sd(float(np.sum(x[:n_items][population] ** 2)), int(population.sum()), rng) ** 2
        if iteration >= burn_in:
            # θ is only defined up to a shift: summarise each draw with the students' mean at 0
            # (with fewer than three students, all compared essays'), so that an SE is an essay's
            # uncertainty relative to the others, not that of where the whole scale sits.
            located = x.copy()
            anchor_set = population if population.sum() >= 3 else compared
            shift = float(np.mean(x[:n_items][anchor_set])) if anchor_set.any() else 0.0
            located[:n_items] -= shift
            sums += located
            squares += located * located
            tau_sum += np.sqrt(tau2)
            if probabilities is not None:
                kept_cuts.append(cuts - shift)
                mean, sd = sampler.conditionals(x, omega, prior)
                bands = ndtr((np.concatenate([[-np.inf], cuts, [np.inf]])[None, :] - mean[:n_items, None]) / sd[:n_items, None])
                probabilities += np.diff(bands, axis=1)
    mean = sums / keep
    variance = np.maximum(squares / keep - mean**2, 0.0) * keep / max(keep - 1, 1)
    theta = mean[:n_items]
    se = np.where(compared, np.sqrt(variance[:n_items]), np.nan)
    gamma = float(mean[n_items]) if order_effect else 0.0
    p_first = 1.0 / (1.0 + np.exp(-(theta[f] - theta[s] + gamma)))
    infit, outfit = item_fit_statistics(f, s, y, w, p_first, n_items=n_items)
    anchored = None
    if probabilities is not None:
        probabilities /= keep
        probabilities[~compared] = np.nan
        anchored = np.isin(np.arange(n_grades), grade_of[banded])
    return PopulationFit(
        theta=theta,
        se=se,
        infit=infit,
        outfit=outfit,
        comparisons=counts,
        wins=wins,
        in_population=population,
        population_sd=tau_sum / keep,
        reliability=_reliability(theta[students], se[students]),
        order_effect=gamma if order_effect else None,
        order_effect_se=float(np.sqrt(variance[n_items])) if order_effect else None,
        n_comparisons=m,
        draws=keep,
        grade_probabilities=probabilities,
        cut_draws=np.array(kept_cuts) if kept_cuts else None,
        anchored=anchored,
        grading_unavailable=unavailable,
    )


def _draw_population_sd(sum_of_squares: float, n: int, rng: np.random.Generator) -> float:
    """τ from its conditional given the students' θ, on a grid of log τ: the normal likelihood
    τ^(−n)·exp(−Σθ²/(2τ²)) times the prior log τ ~ N(log POPULATION_SD_PRIOR[0], POPULATION_SD_PRIOR[1]²)."""
    centre, spread = np.log(POPULATION_SD_PRIOR[0]), POPULATION_SD_PRIOR[1]
    grid = np.linspace(centre - 4 * spread, centre + 4 * spread, CUT_GRID)
    log_density = -n * grid - sum_of_squares / (2.0 * np.exp(2.0 * grid)) - 0.5 * ((grid - centre) / spread) ** 2
    weights = np.exp(log_density - log_density.max())
    pick = min(int(np.searchsorted(np.cumsum(weights), rng.random() * weights.sum())), CUT_GRID - 1)
    step = grid[1] - grid[0]
    return float(np.exp(grid[pick] + step * (rng.random() - 0.5)))


def _draw_cuts(
    cuts: np.ndarray,
    anchor_mean: np.ndarray,
    anchor_sd: np.ndarray,
    anchor_grade: np.ndarray,
    n_grades: int,
    tau: float,
    width: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Step 4 of `fit_population`: every cut in turn from its conditional on a grid between
    its neighbours, with the anchors of the two grades it separates integrated out (each
    anchor's normal conditional contributes its probability of lying inside its band; drawing
    a cut with the anchors held fixed would pin it between them and the chain would barely
    move). The density multiplies: the band-width prior on the inner bands it bounds
    (log width ~ N(log `width`, BAND_WIDTH_SPREAD²)), 1/P_g per anchor of either grade (an
    anchor is drawn from its band's share of the population) and those anchor masses."""
    edges = np.concatenate([[-np.inf], cuts, [np.inf]])
    per_grade = np.bincount(anchor_grade, minlength=n_grades)
    members = [np.flatnonzero(anchor_grade == grade) for grade in range(n_grades)]
    span = max(width, 0.5 * tau) * (n_grades + 4)
    log_width = np.log(width)
    for k in range(n_grades - 1):
        lower, upper = edges[k], edges[k + 2]
        lo = lower if np.isfinite(lower) else (upper if np.isfinite(upper) else float(np.min(anchor_mean))) - span
        hi = upper if np.isfinite(upper) else (lower if np.isfinite(lower) else float(np.max(anchor_mean))) + span
        c = lo + (hi - lo) * _GRID_MIDPOINTS
        log_density = np.zeros(CUT_GRID)
        gaps = ([c - lower] if np.isfinite(lower) else []) + ([upper - c] if np.isfinite(upper) else [])
        for gap in gaps:  # the inner bands this cut bounds: lognormal width prior
            safe = np.log(np.maximum(gap, 1e-12))
            log_density += -0.5 * ((safe - log_width) / BAND_WIDTH_SPREAD) ** 2 - safe
        if per_grade[k]:
            below_share = _normal_mass(np.full(CUT_GRID, lower / tau), c / tau)
            log_density -= per_grade[k] * np.log(np.maximum(below_share, 1e-300))
        if per_grade[k + 1]:
            above_share = _normal_mass(c / tau, np.full(CUT_GRID, upper / tau))
            log_density -= per_grade[k + 1] * np.log(np.maximum(above_share, 1e-300))
        for grade, band_low, band_high in ((k, lower, None), (k + 1, None, upper)):
            if not members[grade].size:
                continue
            mu, sd = anchor_mean[members[grade]][:, None], anchor_sd[members[grade]][:, None]
            a = (c[None, :] if band_low is None else np.full((1, CUT_GRID), band_low)) - mu
            b = (c[None, :] if band_high is None else np.full((1, CUT_GRID), band_high)) - mu
            log_density += np.log(np.maximum(_normal_mass(a / sd, b / sd), 1e-300)).sum(axis=0)
        weights = np.exp(log_density - log_density.max())
        pick = min(int(np.searchsorted(np.cumsum(weights), rng.random() * weights.sum())), CUT_GRID - 1)
        edges[k + 1] = lo + (hi - lo) * (pick + rng.random()) / CUT_GRID
    return edges[1:-1].copy()


def _draw_band_width(cuts: np.ndarray, tau: float, rng: np.random.Generator) -> float | None:
    """The typical width of an inner band, from its normal conditional on the log scale: the
    inner bands' log widths around it (SD BAND_WIDTH_SPREAD), and a prior log δ ~ N(log(4τ/G),
    BAND_WIDTH_PRIOR_SD²) (G grades sharing about ±2 population SDs). The prior must be proper:
    anchors that lost (or won) every comparison bound their band on one side only, and with a
    flat prior the bands could widen without limit. None when the scale has no inner band."""
    widths = np.diff(cuts)
    if widths.size == 0:
        return None
    prior_centre = float(np.log(4.0 * tau / (widths.size + 2)))
    precision = 1.0 / BAND_WIDTH_PRIOR_SD**2 + widths.size / BAND_WIDTH_SPREAD**2
    centre = (
        prior_centre / BAND_WIDTH_PRIOR_SD**2 + float(np.sum(np.log(np.maximum(widths, 1e-12)))) / BAND_WIDTH_SPREAD**2
    ) / precision
    return float(np.exp(centre + rng.standard_normal() / np.sqrt(precision)))


def _normal_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Φ(b) − Φ(a) for a ≤ b, computed in the tail where Φ keeps its precision (above the
    mean as Φ(−a) − Φ(−b))."""
    upper_tail = a > 0
    return ndtr(np.where(upper_tail, -a, b)) - ndtr(np.where(upper_tail, -b, a))


class _Sampler:
    """The linear algebra of steps 2, 3 and 6 of `fit_population`; `banded` anchors are held
    fixed while the rest (the free parameters) are drawn jointly."""

    def __init__(
        self, *, design: sparse.csr_matrix, kappa: np.ndarray, weights: np.ndarray, banded: np.ndarray, dim: int
    ) -> None:
        self.design = design
        self.design_t = design.T.tocsr()
        self.kappa = kappa
        self.free = np.setdiff1d(np.arange(dim), banded)
        self.banded = banded
        self.free_design = design[:, self.free].tocsr()
        self.free_design_t = self.free_design.T.tocsr()
        self.fixed_design = design[:, banded].tocsr()
        self.squared_t = self.design_t.multiply(self.design_t).tocsr()
        self.anchor_rows = [self.design_t[a] for a in banded.tolist()]
        self.gram = _GramIndex(self.free_design) if self.free.size <= DENSE_MAX_PARAMETERS else None

    def draw_free(self, x: np.ndarray, omega: np.ndarray, prior: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        offset = self.fixed_design @ x[self.banded] if self.banded.size else 0.0
        rhs = self.free_design_t @ (self.kappa - omega * offset)
        x = x.copy()
        x[self.free] = _draw_coefficients(
            self.free_design, self.free_design_t, omega, prior[self.free], rhs, x[self.free], rng, gram=self.gram
        )
        return x

    def draw_anchors(
        self,
        x: np.ndarray,
        omega: np.ndarray,
        population_precision: float,
        *,
        lo: np.ndarray,
        hi: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        x = x.copy()
        eta = self.design @ x
        for index, (a, row) in enumerate(zip(self.banded.tolist(), self.anchor_rows, strict=True)):
            columns, signs = row.indices, row.data  # the anchor's comparisons and its ±1 in each
            w = omega[columns]
            precision = float(np.sum(w)) + population_precision
            rest = eta[columns] - signs * x[a]
            centre = float(np.sum(signs * (self.kappa[columns] - w * rest))) / precision
            new = truncated_normal(centre, 1.0 / np.sqrt(precision), float(lo[index]), float(hi[index]), rng)
            eta[columns] += signs * (new - x[a])
            x[a] = new
        return x

    def anchor_conditionals(self, x: np.ndarray, omega: np.ndarray, population_precision: float) -> tuple[np.ndarray, np.ndarray]:
        """Each banded anchor's normal conditional (comparisons times the population), before
        truncation to its band: mean and SD."""
        eta = self.design @ x
        means, sds = np.empty(self.banded.size), np.empty(self.banded.size)
        for index, (a, row) in enumerate(zip(self.banded.tolist(), self.anchor_rows, strict=True)):
            columns, signs = row.indices, row.data
            w = omega[columns]
            precision = float(np.sum(w)) + population_precision
            rest = eta[columns] - signs * x[a]
            means[index] = float(np.sum(signs * (self.kappa[columns] - w * rest))) / precision
            sds[index] = 1.0 / np.sqrt(precision)
        return means, sds

    def conditionals(self, x: np.ndarray, omega: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each parameter's normal conditional given ω and all the others: mean and SD."""
        precision = self.squared_t @ omega + prior
        gradient = self.design_t @ (self.kappa - omega * (self.design @ x)) - prior * x
        return x + gradient / precision, 1.0 / np.sqrt(precision)


def _iterations(n_items: int, draws: int | None = None) -> tuple[int, int]:
    """(burn-in, kept draws): `draws` if given, else the defaults up to 500 essays, then fewer,
    never below 50/100."""
    if draws is not None:
        if draws < 1:
            raise ValueError(f"draws: at least 1, got {draws}")
        return max(1, round(draws * BURN_IN / DRAWS)), draws
    factor = min(1.0, 500.0 / max(n_items, 1))
    return max(50, round(BURN_IN * factor)), max(100, round(DRAWS * factor))


def _reliability(theta: np.ndarray, se: np.ndarray) -> float:
    if theta.size < 3:
        return float("nan")
    signal = float(np.var(theta, ddof=1))
    noise = float(np.mean(se**2))
    return signal / (signal + noise) if signal + noise > 0 else float("nan")


def _polya_gamma(b: np.ndarray, c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draws from PG(b, c): the first PG_TERMS terms of the series
    Σ_k g_k / (2π²·((k − ½)² + c²/(4π²))), g_k ~ Gamma(b, 1), drawn; the rest at its mean."""
    k = np.arange(1, PG_TERMS + 1) - 0.5
    denominator = 2.0 * np.pi**2 * (k[None, :] ** 2 + (c[:, None] / (2.0 * np.pi)) ** 2)
    draws = rng.gamma(np.repeat(b[:, None], PG_TERMS, axis=1)) / denominator
    head_mean = np.sum(b[:, None] / denominator, axis=1)
    abs_c = np.abs(c)
    with np.errstate(invalid="ignore", divide="ignore"):
        full_mean = np.where(abs_c > 1e-6, b * np.tanh(abs_c / 2.0) / (2.0 * abs_c), b / 4.0)
    return draws.sum(axis=1) + np.maximum(full_mean - head_mean, 0.0)


class _GramIndex:
    """Where each verdict's weight lands in Xᵀ·diag(ω)·X, for a design with a few entries per
    row: every pair of entries (a, b) of a row adds ω·x_a·x_b at (a, b). Building the dense
    matrix is then one `bincount`, several times faster than a sparse product per iteration."""

    def __init__(self, design: sparse.csr_matrix) -> None:
        dim = design.shape[1]
        coo = design.tocoo()
        order = np.argsort(coo.row, kind="stable")
        rows, cols, vals = coo.row[order], coo.col[order], coo.data[order]
        starts = np.searchsorted(rows, np.arange(design.shape[0] + 1))
        width = int(np.max(np.diff(starts))) if rows.size else 0
        # Row-major slots of each row's entries, padded with a zero value.
        slot_col = np.zeros((design.shape[0], width), dtype=np.int64)
        slot_val = np.zeros((design.shape[0], width))
        position = np.arange(rows.size) - starts[rows]
        slot_col[rows, position] = cols
        slot_val[rows, position] = vals
        self.cells = (slot_col[:, :, None] * dim + slot_col[:, None, :]).reshape(design.shape[0], -1)
        self.products = (slot_val[:, :, None] * slot_val[:, None, :]).reshape(design.shape[0], -1)
        self.dim = dim

    def matrix(self, omega: np.ndarray) -> np.ndarray:
        weights = (omega[:, None] * self.products).ravel()
        return np.bincount(self.cells.ravel(), weights=weights, minlength=self.dim * self.dim).reshape(self.dim, self.dim)


def _draw_coefficients(
    design: sparse.csr_matrix,
    design_t: sparse.csr_matrix,
    omega: np.ndarray,
    prior: np.ndarray,
    rhs: np.ndarray,
    current: np.ndarray,
    rng: np.random.Generator,
    *,
    gram: _GramIndex | None,
) -> np.ndarray:
    """One draw from N(Q⁻¹·rhs, Q⁻¹), Q = Xᵀ·diag(ω)·X + diag(prior): through a dense Cholesky
    factor when `gram` is given (up to DENSE_MAX_PARAMETERS), else by conjugate gradients."""
    dim = prior.size
    if gram is not None:
        precision = gram.matrix(omega) + np.diag(prior)
        factor = cho_factor(precision, lower=True)
        mean = cho_solve(factor, rhs)
        return mean + solve_triangular(factor[0], rng.standard_normal(dim), lower=True, trans="T")
    # Perturbation–optimisation: Q·x = rhs + Xᵀ·√ω·ε₁ + √prior·ε₂ has x ~ N(Q⁻¹·rhs, Q⁻¹).
    perturbed = rhs + design_t @ (np.sqrt(omega) * rng.standard_normal(omega.size)) + np.sqrt(prior) * rng.standard_normal(dim)
    diagonal = design_t.multiply(design_t) @ omega + prior

    def matvec(z: np.ndarray) -> np.ndarray:
        z = np.ravel(z)
        return design_t @ (omega * (design @ z)) + prior * z

    operator = LinearOperator((dim, dim), matvec=matvec, dtype=float)
    preconditioner = LinearOperator((dim, dim), matvec=lambda z: np.ravel(z) / diagonal, dtype=float)
    solution, _ = cg(operator, perturbed, x0=current, rtol=1e-8, atol=0.0, maxiter=20 * dim, M=preconditioner)
    return solution


def _validated(
    first: npt.ArrayLike, second: npt.ArrayLike, outcome: npt.ArrayLike, weights: npt.ArrayLike | None, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    f = np.asarray(first, dtype=np.int64)
    s = np.asarray(second, dtype=np.int64)
    y = np.asarray(outcome, dtype=float)
    if not (f.shape == s.shape == y.shape) or f.ndim != 1:
        raise ValueError("first, second and outcome: must be one-dimensional and of one length")
    if f.size == 0:
        raise ValueError("first: at least one comparison is needed")
    if np.any((f < 0) | (f >= n_items) | (s < 0) | (s >= n_items)):
        raise ValueError(f"first, second: item indices must be in 0..{n_items - 1}")
    if np.any(f == s):
        raise ValueError("second: an item cannot be compared with itself")
    if np.any(~np.isin(y, (0.0, 0.5, 1.0))):
        raise ValueError("outcome: must be 1.0 (first won), 0.0 (second won) or 0.5 (tie)")
    w = np.ones(f.size) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != f.shape or np.any(~np.isfinite(w) | (w <= 0)):
        raise ValueError("weights: one positive finite weight per comparison")
    return f, s, y, w
