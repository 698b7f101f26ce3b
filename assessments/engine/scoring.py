"""Bradley–Terry scoring: θ, standard errors, reliability and fit statistics from pairwise comparisons.

Owns the statistics of one fit (and of split-half reliability); takes numpy arrays of item
indices, knows nothing of essays, batches or the database. Pure numpy/scipy.

The model: P(the item shown first wins) = σ(θ_first − θ_second + γ), where σ is the logistic
function and γ the order effect (0 unless ``order_effect=True``). A tie (outcome 0.5) counts as
half a win for each side (the usual quasi-likelihood for ties; the Davidson tie parameter of
``sirt::btm`` is not estimated). θ is on the logit scale and sums to zero within each connected
component of the comparison graph.

Compatibility with ``sirt::btm`` (the field's standard estimator), read from its source:

- ε adjustment: btm replaces every item's score s (wins, ties ½) out of n comparisons by
  ε + (n − 2ε)·s/n and solves "adjusted score = expected score". That is the likelihood
  equation plus a linear tilt ε·(1 − 2s/n) per item, which keeps items that won or lost every
  comparison finite and shrinks every item slightly towards the middle. Here the same tilt is
  added to the log-likelihood (centred within each component, which is what btm's re-centring of
  θ does at its fixed point), so ``eps=0.3`` reproduces btm's θ. ``eps=0`` gives the plain
  maximum-likelihood estimate.
- btm's se.theta is 1/√(diagonal of the Fisher information): it treats every other item as
  known, which understates the error on sparse designs. Here the SE comes from the full Fisher
  information with the sum-to-zero direction projected out (see ``fit_bt``).
- SSR (btm's ``mle.rel``) = 1 − mean(SE²)/var(θ) and separation (btm's ``sepG``) =
  √(var(θ)/mean(SE²)), var with n − 1 in the denominator, exactly as btm computes them.
- infit/outfit as btm: outfit = mean squared standardised residual of an item's comparisons,
  infit = Σ squared residuals / Σ binomial variances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.linalg import lapack
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import LinearOperator, cg

ArrayLike = npt.ArrayLike

# A N(0, 10²) prior on θ. It keeps every estimate finite where the ε adjustment alone cannot
# (a group of items that beat every outsider, or a judge so consistent that the comparisons
# order the items without a single upset, as a deterministic LLM judge can), and there it
# bounds how far the scale stretches. Where the data fix the scale it changes little: on the
# 99 real cj-meta-analysis sessions it shrinks the SD of θ by 0.8% at the median (under 1% on
# 53 sessions), but by 15–28% on ten adaptive sessions whose btm scales run to ±12–20 logits.
# prior_sd=None with eps=0.3 is sirt::btm's estimator exactly.
DEFAULT_PRIOR_SD = 10.0
DEFAULT_EPS = 0.3
# Up to this many items the SEs are exact (dense inverse of the information, O(n³): about
# 0.1 s at 1,000 items, 0.3 s at 2,150 on 2 cores); above, a belief-propagation approximation.
# 2,500 keeps every real session of the cj-meta-analysis data (at most 2,150 items) exact.
DEFAULT_DENSE_MAX_ITEMS = 2500
# |θ| beyond this many logits means the estimate is running off to infinity.
_DIVERGED = 100.0

SeMethod = Literal["exact", "belief_propagation"]


class DisconnectedComparisonsError(ValueError):
    """The comparison graph has several components, whose θ cannot be put on one scale."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels
        self.n_components = int(labels.max()) + 1 if labels.size else 0
        sizes = np.bincount(labels)
        shown = ", ".join(str(s) for s in sorted(sizes, reverse=True)[:10])
        more = ", ..." if sizes.size > 10 else ""
        super().__init__(
            f"the comparisons form {self.n_components} disconnected groups of items "
            f"(sizes {shown}{more}); θ in different groups are not comparable. Add comparisons "
            "that link the groups, or pass allow_disconnected=True to fit each group on its own "
            "scale, centred at 0 (see BTFit.components)."
        )


@dataclass(frozen=True)
class BTFit:
    """One Bradley–Terry fit. Per-item arrays are indexed like the items (0 .. n_items − 1).

    Items without comparisons (possible only with ``allow_disconnected=True``) get θ = 0 and NaN
    for se, infit and outfit, and are left out of ssr and separation.
    """

    theta: np.ndarray  # logits, summing to 0 within each component; position bias removed
    se: np.ndarray  # from the Fisher information (plus prior), sum-to-zero direction projected out
    infit: np.ndarray
    outfit: np.ndarray
    comparisons: np.ndarray  # int, number of comparisons per item (unweighted)
    wins: np.ndarray  # float, wins per item, ties counting ½ (unweighted)
    information: np.ndarray  # Fisher information per item: Σ weight·p·(1 − p) over its comparisons
    ssr: float  # scale separation reliability, 1 − mean(se²)/var(θ)
    ssr_sirt: float  # the same with sirt's SE, 1/√information (sirt's mle.rel), for comparison
    separation: float  # sirt's sepG: observed SD of θ / RMSE
    separation_true: float  # the Rasch separation G: SD of θ net of error / RMSE
    log_likelihood: float  # weighted BT log-likelihood at θ, γ (without prior and ε tilt)
    iterations: int
    converged: bool
    order_effect: float | None  # γ, logits of advantage for the item shown first
    order_effect_se: float | None
    p_first_wins: float  # observed share of (weighted) wins by the first-shown item; meaningless
    # when positions are unknown (judgement_file.Judgements.has_first_shown False)
    components: np.ndarray  # component label per item; label 0 holds item 0
    n_components: int
    n_comparisons: int
    se_method: SeMethod


@dataclass(frozen=True)
class SplitHalfResult:
    """Split-half reliability over random splits.

    ``correlations`` holds one Pearson correlation per split between the θ fitted on the two
    halves, over the items that have comparisons in both halves. The cj-meta-analysis study
    (Kinnear, Jones & Davies, 2025) reports the median of these uncorrected per-split values
    (its ``split_corr``); each is the reliability of a design half as large as the real one.
    ``spearman_brown`` projects ``mean_correlation`` to the full design: 2r / (1 + r).
    """

    correlations: np.ndarray
    mean_correlation: float
    median_correlation: float
    spearman_brown: float
    n_splits: int
    split_by: Literal["judge", "comparison"]
    seed: int


@dataclass(frozen=True)
class _Comparisons:
    first: np.ndarray
    second: np.ndarray
    outcome: np.ndarray
    weights: np.ndarray


def fit_bt(
    first: ArrayLike,
    second: ArrayLike,
    outcome: ArrayLike,
    *,
    n_items: int,
    weights: ArrayLike | None = None,
    prior_sd: float | None = DEFAULT_PRIOR_SD,
    eps: float = DEFAULT_EPS,
    order_effect: bool = False,
    allow_disconnected: bool = False,
    max_iter: int = 100,
    tol: float = 1e-8,
    dense_max_items: int = DEFAULT_DENSE_MAX_ITEMS,
) -> BTFit:
    """Fit θ (and optionally the order effect γ) by penalised maximum likelihood.

    ``outcome`` is 1.0 when ``first`` won, 0.0 when ``second`` won, 0.5 for a tie. ``weights``
    (positive) scale each comparison's contribution. ``prior_sd`` is the SD of a N(0, prior_sd²)
    prior on θ (None: no prior); ``eps`` the sirt-style adjustment of scores (0: none).

    Steps:
    1. Validate the arrays and find the connected components of the comparison graph; more
       than one component raises ``DisconnectedComparisonsError`` unless
       ``allow_disconnected``, in which case each component gets its own sum-to-zero scale.
    2. Tilt each item's score by ε·(1 − 2·score/n), centred within its component.
    3. Start from the logits of the adjusted scores and take Newton steps on
       log-likelihood + tilt − ‖θ‖²/(2·prior_sd²), restricted to sum-to-zero θ per component
       (the Hessian gets the component projector added, which leaves steps in that subspace
       unchanged and makes it invertible). Each step solves the sparse Hessian by
       Jacobi-preconditioned conjugate gradients (γ eliminated by its Schur complement), then
       is halved until the objective rises. Stop when no parameter moves more than ``tol``;
       stop unconverged after ``max_iter`` steps or if |θ| passes 100 logits.
    4. SE: the θ-block of the inverse of that Hessian, projected onto the sum-to-zero subspace
       (P·H⁻¹·P). Exact (dense Cholesky inverse) up to ``dense_max_items`` items. Above, the
       diagonal is approximated by Gaussian belief propagation on the comparison graph: exact
       on trees; on the two real sessions of over 2,000 items within 0.1% of exact at the
       median (worst item 2.3%), but on adaptive designs with very unequal opponents it can
       understate an item's SE by up to 30%, hence the high default threshold.
    5. Fit statistics from the residuals at the estimate: infit, outfit, SSR, separation,
       log-likelihood.
    """
    data = _validated(first, second, outcome, n_items=n_items, weights=weights)
    if prior_sd is not None and not (np.isfinite(prior_sd) and prior_sd > 0):
        raise ValueError(f"prior_sd: must be a positive number or None, got {prior_sd!r}")
    if not 0 <= eps < 0.5:
        raise ValueError(f"eps: must be in [0, 0.5), got {eps!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter: must be at least 1, got {max_iter!r}")
    if not tol > 0:
        raise ValueError(f"tol: must be positive, got {tol!r}")

    labels = comparison_components(data.first, data.second, n_items=n_items)
    n_components = int(labels.max()) + 1
    if n_components > 1 and not allow_disconnected:
        raise DisconnectedComparisonsError(labels)
    if eps == 0 and prior_sd is None:
        _check_mle_exists(data, n_items=n_items, n_components=n_components)

    problem = _Problem(
        data, n_items=n_items, labels=labels, prior_sd=prior_sd, order_effect=order_effect, dense=n_items <= dense_max_items
    )
    x, iterations, converged = problem.newton(problem.initial(eps), problem.tilt(eps), max_iter=max_iter, tol=tol)
    theta, gamma = problem.split(x)

    cov_diag, gamma_var, se_method = problem.covariance(x)
    compared = problem.counts > 0
    se = np.full(n_items, np.nan)
    se[compared] = np.sqrt(cov_diag[compared])
    infit, outfit = problem.item_fit(x)
    ssr, separation, separation_true = _reliability(theta[compared], se[compared])
    information = problem.information(x)
    with np.errstate(divide="ignore"):
        ssr_sirt, _, _ = _reliability(theta[compared], 1 / np.sqrt(information[compared]))

    return BTFit(
        theta=theta,
        se=se,
        infit=infit,
        outfit=outfit,
        comparisons=problem.counts,
        wins=problem.raw_wins,
        information=information,
        ssr=ssr,
        ssr_sirt=ssr_sirt,
        separation=separation,
        separation_true=separation_true,
        log_likelihood=problem.log_likelihood(x),
        iterations=iterations,
        converged=converged,
        order_effect=float(gamma) if order_effect else None,
        order_effect_se=float(np.sqrt(gamma_var)) if order_effect else None,
        p_first_wins=float(np.sum(data.weights * data.outcome) / np.sum(data.weights)),
        components=labels,
        n_components=n_components,
        n_comparisons=int(data.first.size),
        se_method=se_method,
    )


def comparison_components(first: ArrayLike, second: ArrayLike, *, n_items: int) -> np.ndarray:
    """Label the connected components of the comparison graph (items are nodes, comparisons
    edges). Returns one int label per item; items never compared are components of their own.
    Labels are numbered in order of each component's lowest item index (item 0 has label 0)."""
    first_arr = _index_array(first, "first", n_items)
    second_arr = _index_array(second, "second", n_items)
    if first_arr.size != second_arr.size:
        raise ValueError(f"second: has {second_arr.size} entries but first has {first_arr.size}")
    graph = sparse.coo_matrix((np.ones(first_arr.size), (first_arr, second_arr)), shape=(n_items, n_items))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def split_half_reliability(
    first: ArrayLike,
    second: ArrayLike,
    outcome: ArrayLike,
    *,
    n_items: int,
    judges: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    n_splits: int = 100,
    seed: int = 0,
    prior_sd: float | None = DEFAULT_PRIOR_SD,
    eps: float = DEFAULT_EPS,
) -> SplitHalfResult:
    """Split-half reliability as in the cj-meta-analysis study.

    Steps, for each of ``n_splits`` seeded random splits:
    1. With ``judges`` (one label per comparison), put a random half of the distinct judges
       (rounded down) in one half and the rest in the other, as the study did; without judges,
       split the comparisons themselves into two random halves.
    2. Fit each half on its own (disconnected halves allowed: each component is centred).
    3. Correlate (Pearson) the two θ over the items compared in both halves. A split where
       a half has no finite estimate (or fewer than 3 common items) gives NaN, left out of
       the mean and median.
    Then summarise: mean, median and the Spearman–Brown projection of the mean.
    """
    data = _validated(first, second, outcome, n_items=n_items, weights=weights)
    if n_splits < 1:
        raise ValueError(f"n_splits: must be at least 1, got {n_splits!r}")
    if judges is not None:
        judge_arr = np.asarray(judges)
        if judge_arr.shape != data.first.shape:
            raise ValueError(f"judges: has {judge_arr.size} entries but first has {data.first.size}")
        _, judge_codes = np.unique(judge_arr, return_inverse=True)
        n_judges = int(judge_codes.max()) + 1
        if n_judges < 2:
            raise ValueError("judges: a split by judge needs at least two distinct judges")
    rng = np.random.default_rng(seed)
    correlations = np.full(n_splits, np.nan)
    for split in range(n_splits):
        if judges is not None:
            in_half = np.zeros(n_judges, dtype=bool)
            in_half[rng.permutation(n_judges)[: n_judges // 2]] = True
            mask = in_half[judge_codes]
        else:
            mask = np.zeros(data.first.size, dtype=bool)
            mask[rng.permutation(data.first.size)[: data.first.size // 2]] = True
        correlations[split] = _half_correlation(data, mask, n_items=n_items, prior_sd=prior_sd, eps=eps)
    mean = float(np.nanmean(correlations)) if np.any(np.isfinite(correlations)) else np.nan
    return SplitHalfResult(
        correlations=correlations,
        mean_correlation=mean,
        median_correlation=float(np.nanmedian(correlations)) if np.isfinite(mean) else np.nan,
        spearman_brown=2 * mean / (1 + mean) if np.isfinite(mean) else np.nan,
        n_splits=n_splits,
        split_by="judge" if judges is not None else "comparison",
        seed=seed,
    )


def _check_mle_exists(data: _Comparisons, *, n_items: int, n_components: int) -> None:
    """The plain MLE is finite only if, within each component, every item can be reached from
    every other along "beat or tied" edges (Zermelo's condition): the win graph must have as
    many strongly connected components as the comparison graph has components."""
    won = data.outcome > 0  # the first-shown item won or tied: an edge first → second
    lost = data.outcome < 1
    rows = np.concatenate([data.first[won], data.second[lost]])
    cols = np.concatenate([data.second[won], data.first[lost]])
    graph = sparse.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n_items, n_items))
    n_strong, _ = connected_components(graph, directed=True, connection="strong")
    if n_strong > n_components:
        raise ValueError(
            "eps: with eps=0 and prior_sd=None the maximum-likelihood θ is infinite, because "
            "some items won (or lost) every comparison against the rest "
            f"({n_strong} groups where {n_components} would do); use eps > 0 or set prior_sd"
        )


def _half_correlation(data: _Comparisons, mask: np.ndarray, *, n_items: int, prior_sd: float | None, eps: float) -> float:
    """θ only (no SEs) for each half; NaN when a half has no finite estimate."""
    thetas = []
    compared = np.ones(n_items, dtype=bool)
    for half in (mask, ~mask):
        if not half.any():
            return np.nan
        part = _Comparisons(data.first[half], data.second[half], data.outcome[half], data.weights[half])
        labels = comparison_components(part.first, part.second, n_items=n_items)
        if eps == 0 and prior_sd is None:
            try:
                _check_mle_exists(part, n_items=n_items, n_components=int(labels.max()) + 1)
            except ValueError:
                return np.nan
        problem = _Problem(part, n_items=n_items, labels=labels, prior_sd=prior_sd, order_effect=False, dense=False)
        x, _, converged = problem.newton(problem.initial(eps), problem.tilt(eps), max_iter=100, tol=1e-8)
        if not converged:
            return np.nan
        thetas.append(x)
        compared &= problem.counts > 0
    a, b = thetas[0][compared], thetas[1][compared]
    if a.size < 3 or np.std(a) == 0 or np.std(b) == 0:
        return np.nan
    return float(np.corrcoef(a, b)[0, 1])


# --- input checks -------------------------------------------------------------------------


def _index_array(values: ArrayLike, name: str, n_items: int) -> np.ndarray:
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
        raise ValueError(f"n_items: must be a positive integer, got {n_items!r}")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: must be one-dimensional, got shape {arr.shape}")
    integral = np.issubdtype(arr.dtype, np.integer) or (
        np.issubdtype(arr.dtype, np.floating) and bool(np.all(arr == np.round(arr)))
    )
    if arr.size and not integral:
        raise ValueError(f"{name}: must hold integer item indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = np.flatnonzero((arr < 0) | (arr >= n_items))
    if bad.size:
        raise ValueError(
            f"{name}: item indices must be in 0..{n_items - 1} (n_items={n_items}); position {bad[0]} holds {arr[bad[0]]}"
        )
    return arr


def _validated(
    first: ArrayLike, second: ArrayLike, outcome: ArrayLike, *, n_items: int, weights: ArrayLike | None
) -> _Comparisons:
    first_arr = _index_array(first, "first", n_items)
    second_arr = _index_array(second, "second", n_items)
    if first_arr.size == 0:
        raise ValueError("first: at least one comparison is needed")
    outcome_arr = np.asarray(outcome, dtype=float)
    for name, arr in (("second", second_arr), ("outcome", outcome_arr)):
        if arr.shape != first_arr.shape:
            raise ValueError(f"{name}: has {arr.size} entries but first has {first_arr.size}")
    same = np.flatnonzero(first_arr == second_arr)
    if same.size:
        raise ValueError(
            f"second: an item cannot be compared with itself; position {same[0]} compares item {first_arr[same[0]]} with itself"
        )
    bad = np.flatnonzero(~np.isin(outcome_arr, (0.0, 0.5, 1.0)))
    if bad.size:
        raise ValueError(
            f"outcome: must be 1.0 (first won), 0.0 (second won) or 0.5 (tie); position {bad[0]} holds {outcome_arr[bad[0]]!r}"
        )
    if weights is None:
        weight_arr = np.ones(first_arr.size)
    else:
        weight_arr = np.asarray(weights, dtype=float)
        if weight_arr.shape != first_arr.shape:
            raise ValueError(f"weights: has {weight_arr.size} entries but first has {first_arr.size}")
        bad = np.flatnonzero(~(np.isfinite(weight_arr) & (weight_arr > 0)))
        if bad.size:
            raise ValueError(f"weights: must be positive and finite; position {bad[0]} holds {weight_arr[bad[0]]!r}")
    return _Comparisons(first_arr, second_arr, outcome_arr, weight_arr)


# --- the fit ------------------------------------------------------------------------------


class _Problem:
    """The arrays and linear algebra of one fit; x = θ (n items), then γ when estimated."""

    def __init__(
        self, data: _Comparisons, *, n_items: int, labels: np.ndarray, prior_sd: float | None, order_effect: bool, dense: bool
    ) -> None:
        self.data = data
        self.n = n_items
        self.labels = labels
        self.sizes = np.bincount(labels).astype(float)
        self.precision = 0.0 if prior_sd is None else 1.0 / prior_sd**2
        self.order_effect = order_effect
        self.dim = n_items + int(order_effect)
        self.dense = dense
        f, s, y, w = data.first, data.second, data.outcome, data.weights
        self.counts = np.bincount(f, minlength=n_items) + np.bincount(s, minlength=n_items)
        self.raw_wins = np.bincount(f, y, minlength=n_items) + np.bincount(s, 1 - y, minlength=n_items)
        self.weighted_n = np.bincount(f, w, minlength=n_items) + np.bincount(s, w, minlength=n_items)
        self.weighted_wins = np.bincount(f, w * y, minlength=n_items) + np.bincount(s, w * (1 - y), minlength=n_items)
        # Scale of the projector added to the Hessian: comparable to its other eigenvalues.
        self.projector_scale = max(float(np.mean(self.weighted_n)) / 4, 1e-3)
        m = f.size
        rows = np.concatenate([np.arange(m), np.arange(m)])
        cols = np.concatenate([f, s])
        vals = np.concatenate([np.ones(m), -np.ones(m)])
        if order_effect:
            rows = np.concatenate([rows, np.arange(m)])
            cols = np.concatenate([cols, np.full(m, n_items)])
            vals = np.concatenate([vals, np.ones(m)])
        # Design matrix: η = X·x, one row per comparison.
        self.design = sparse.csr_matrix((vals, (rows, cols)), shape=(m, self.dim))
        self.design_t = self.design.T.tocsr()
        self.theta_design = self.design[:, :n_items].tocsr()
        self.theta_design_t = self.theta_design.T.tocsr()
        if dense:
            self._dense_index(f, s)

    # -- pieces of the objective ----------------------------------------------------------

    def _dense_index(self, f: np.ndarray, s: np.ndarray) -> None:
        d = self.dim
        idx = [f * d + f, s * d + s, f * d + s, s * d + f]
        sign = [1.0, 1.0, -1.0, -1.0]
        if self.order_effect:
            g = self.n
            idx += [f * d + g, g * d + f, s * d + g, g * d + s, np.full(f.size, g * d + g)]
            sign += [1.0, 1.0, -1.0, -1.0, 1.0]
        self.flat_index = np.concatenate(idx)
        self.flat_sign = np.concatenate([np.full(f.size, sg) for sg in sign])
        self.n_blocks = len(sign)

    def initial(self, eps: float) -> np.ndarray:
        x = np.zeros(self.dim)
        n = np.maximum(self.weighted_n, 1e-12)
        adjusted = (eps + (n - 2 * eps) * self.weighted_wins / n) / n
        adjusted = np.clip(adjusted, 0.02, 0.98)
        theta = np.where(self.counts > 0, np.log(adjusted / (1 - adjusted)), 0.0)
        x[: self.n] = self._centred(theta)
        return x

    def tilt(self, eps: float) -> np.ndarray:
        n = np.maximum(self.weighted_n, 1e-12)
        raw = np.where(self.counts > 0, eps * (1 - 2 * self.weighted_wins / n), 0.0)
        return self._centred(raw)

    def split(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        return x[: self.n].copy(), (float(x[self.n]) if self.order_effect else 0.0)

    def _centred(self, theta: np.ndarray) -> np.ndarray:
        means = np.bincount(self.labels, theta, minlength=self.sizes.size) / self.sizes
        return theta - means[self.labels]

    def _probabilities(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.design @ x)))

    def log_likelihood(self, x: np.ndarray) -> float:
        eta = self.design @ x
        # y·log σ(η) + (1 − y)·log σ(−η) = y·η − log(1 + e^η), without overflow.
        return float(np.sum(self.data.weights * (self.data.outcome * eta - np.logaddexp(0, eta))))

    def objective(self, x: np.ndarray, tilt: np.ndarray) -> float:
        theta = x[: self.n]
        prior = 0.5 * self.precision * float(theta @ theta)
        return self.log_likelihood(x) + float(tilt @ theta) - prior

    def gradient(self, x: np.ndarray, p: np.ndarray, tilt: np.ndarray) -> np.ndarray:
        g = self.design_t @ (self.data.weights * (self.data.outcome - p))
        g[: self.n] += tilt - self.precision * x[: self.n]
        g[: self.n] = self._centred(g[: self.n])
        return g

    # -- the negative Hessian, with the component projector added -------------------------

    def _dense_hessian(self, wv: np.ndarray) -> np.ndarray:
        """The dense negative Hessian, wv = weight·p·(1 − p) per comparison."""
        d = self.dim
        h: npt.NDArray[np.float64] = (
            np.bincount(self.flat_index, np.tile(wv, self.n_blocks) * self.flat_sign, minlength=d * d)
            .reshape(d, d)
            .astype(np.float64, copy=False)
        )
        theta_block = h[: self.n, : self.n]
        theta_block[np.diag_indices(self.n)] += self.precision
        # Add c·P_c, P_c the projector onto each component's constant vector: it commutes with
        # the Hessian, so steps and covariances in the sum-to-zero subspace are unchanged.
        same = self.labels[:, None] == self.labels[None, :]
        theta_block += self.projector_scale * same / self.sizes[self.labels][:, None]
        return h

    def _theta_solver(self, v: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """Preconditioned conjugate gradients on the θ-block of the Hessian."""
        wv = self.data.weights * v
        design, design_t = self.theta_design, self.theta_design_t

        def matvec(z: np.ndarray) -> np.ndarray:
            z = np.ravel(z)
            means = np.bincount(self.labels, z, minlength=self.sizes.size) / self.sizes
            return design_t @ (wv * (design @ z)) + self.precision * z + self.projector_scale * means[self.labels]

        diag = (
            np.bincount(self.data.first, wv, minlength=self.n)
            + np.bincount(self.data.second, wv, minlength=self.n)
            + self.precision
            + self.projector_scale / self.sizes[self.labels]
        )
        operator = LinearOperator((self.n, self.n), matvec=matvec, dtype=float)
        preconditioner = LinearOperator((self.n, self.n), matvec=lambda z: np.ravel(z) / diag, dtype=float)

        def solve(rhs: np.ndarray) -> np.ndarray:
            solution, _ = cg(operator, rhs, rtol=1e-10, atol=0.0, maxiter=10 * self.n, M=preconditioner)
            return solution

        return solve

    def _sparse_solve(self, v: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, float]:
        """Solve H·z = rhs; with γ, eliminate it by its Schur complement (two θ solves).
        Returns z and the Schur complement of γ (its variance is the inverse)."""
        solve = self._theta_solver(v)
        if not self.order_effect:
            return solve(rhs), np.nan
        wv = self.data.weights * v
        coupling = self.theta_design_t @ wv  # ∂²/∂θ∂γ; sums to 0 within each component
        a = solve(rhs[: self.n])
        b = solve(coupling)
        schur = float(np.sum(wv) - coupling @ b)
        d_gamma = (rhs[self.n] - coupling @ a) / schur
        return np.append(a - b * d_gamma, d_gamma), schur

    def newton(self, x: np.ndarray, tilt: np.ndarray, *, max_iter: int, tol: float) -> tuple[np.ndarray, int, bool]:
        current = self.objective(x, tilt)
        for iteration in range(1, max_iter + 1):
            p = self._probabilities(x)
            g = self.gradient(x, p, tilt)
            step, _ = self._sparse_solve(p * (1 - p), g)
            step[: self.n] = self._centred(step[: self.n])
            slope = float(g @ step)
            t = 1.0
            while True:  # halve the step until the objective rises enough (Armijo)
                candidate = x + t * step
                value = self.objective(candidate, tilt)
                if value >= current + 1e-4 * t * slope or t < 1e-10:
                    break
                t /= 2
            x, current = candidate, value
            if not np.all(np.isfinite(x)) or np.max(np.abs(x)) > _DIVERGED:
                return x, iteration, False
            if np.max(np.abs(t * step)) < tol:
                return x, iteration, True
        return x, max_iter, False

    # -- standard errors ------------------------------------------------------------------

    def covariance(self, x: np.ndarray) -> tuple[np.ndarray, float, SeMethod]:
        """Diagonal of P·H⁻¹·P for θ, and the variance of γ (NaN without order effect)."""
        p = self._probabilities(x)
        v = p * (1 - p)
        if self.dense:
            inverse = _spd_inverse(self._dense_hessian(self.data.weights * v))
            block = inverse[: self.n, : self.n]
            indicator = np.zeros((self.n, self.sizes.size))
            indicator[np.arange(self.n), self.labels] = 1.0
            own = ((block @ indicator) / self.sizes)[np.arange(self.n), self.labels]
            component_means = np.bincount(self.labels, own, minlength=self.sizes.size) / self.sizes
            # (P·A·P)_ii = A_ii − 2·mean_j A_ij + mean_jk A_jk, means within i's component.
            diag = np.diag(block) - 2 * own + component_means[self.labels]
            gamma_var = float(inverse[self.n, self.n]) if self.order_effect else np.nan
            return np.maximum(diag, 0.0), gamma_var, "exact"
        gamma_var = np.nan
        if self.order_effect:
            _, schur = self._sparse_solve(v, np.zeros(self.dim))
            gamma_var = 1.0 / schur
        return self._belief_propagation_variances(v), gamma_var, "belief_propagation"

    def _belief_propagation_variances(self, v: np.ndarray, max_sweeps: int = 200) -> np.ndarray:
        """Marginal variances of a Gaussian with precision matrix = θ-block of the Hessian.

        Steps: aggregate the comparisons of each pair into one edge weight a; initialise the
        message precisions α on both directions of every edge to 0; repeat
        α(u→v) = −a² / (J_uu + Σ_{k≠v} α(k→u)) until they settle; variance_u = 1/(J_uu + Σ α(k→u)).
        Exact on trees; on locally tree-like graphs (large sparse designs) close to exact.
        """
        f, s, w = self.data.first, self.data.second, self.data.weights
        lo, hi = np.minimum(f, s), np.maximum(f, s)
        pair_key, pair_index = np.unique(lo * self.n + hi, return_inverse=True)
        weight = np.bincount(pair_index, w * v)
        u, t = pair_key // self.n, pair_key % self.n
        src = np.concatenate([u, t])
        dst = np.concatenate([t, u])
        a2 = np.concatenate([weight, weight]) ** 2
        n_pairs = pair_key.size
        reverse = np.concatenate([np.arange(n_pairs, 2 * n_pairs), np.arange(n_pairs)])
        # A small ridge keeps the messages defined when there is no prior.
        j_diag = np.bincount(src, np.concatenate([weight, weight]), minlength=self.n) + max(self.precision, 1e-9)
        alpha = np.zeros(2 * n_pairs)
        for _ in range(max_sweeps):
            total = j_diag + np.bincount(dst, alpha, minlength=self.n)
            updated = -a2 / (total[src] - alpha[reverse])
            change = np.max(np.abs(updated - alpha)) if alpha.size else 0.0
            alpha = updated
            if change < 1e-10 * np.max(j_diag):
                break
        total = j_diag + np.bincount(dst, alpha, minlength=self.n)
        variances = np.where(self.counts > 0, 1.0 / total, np.nan)
        return variances

    # -- fit statistics -------------------------------------------------------------------

    def information(self, x: np.ndarray) -> np.ndarray:
        p = self._probabilities(x)
        wv = self.data.weights * p * (1 - p)
        return np.bincount(self.data.first, wv, minlength=self.n) + np.bincount(self.data.second, wv, minlength=self.n)

    def item_fit(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """infit and outfit per item, weighted by the comparison weights."""
        d = self.data
        return item_fit_statistics(d.first, d.second, d.outcome, d.weights, self._probabilities(x), n_items=self.n)


def item_fit_statistics(
    first: np.ndarray, second: np.ndarray, outcome: np.ndarray, weights: np.ndarray, p_first: np.ndarray, *, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """infit and outfit per item (as sirt::btm) given each comparison's P(first wins).

    outfit = weighted mean of squared standardised residuals over an item's comparisons; infit =
    Σ weight·squared residual / Σ weight·binomial variance. NaN for items never compared.
    """
    variance = p_first * (1 - p_first)
    squared = (outcome - p_first) ** 2
    z2 = squared / np.maximum(variance, 1e-300)

    def per_item(values: np.ndarray) -> np.ndarray:
        return np.bincount(first, values, minlength=n_items) + np.bincount(second, values, minlength=n_items)

    with np.errstate(invalid="ignore", divide="ignore"):
        outfit = per_item(weights * z2) / per_item(weights)
        infit = per_item(weights * squared) / per_item(weights * variance)
    compared = per_item(np.ones_like(weights)) > 0
    return np.where(compared, infit, np.nan), np.where(compared, outfit, np.nan)


def _spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix through its Cholesky factor."""
    factor, info = lapack.dpotrf(matrix, lower=1)
    if info != 0:
        # Only when θ ran off to infinity (p·(1 − p) = 0 for an item): a tiny ridge gives that
        # item an enormous SE instead of a failure.
        ridge = 1e-9 * max(float(np.max(np.diag(matrix))), 1.0)
        factor, info = lapack.dpotrf(matrix + ridge * np.eye(matrix.shape[0]), lower=1)
    if info != 0:
        return np.full(matrix.shape, np.nan)
    inverse, info = lapack.dpotri(factor, lower=1)
    if info != 0:
        return np.full(matrix.shape, np.nan)
    lower = np.tril(inverse)
    return lower + np.tril(inverse, -1).T


def _reliability(theta: np.ndarray, se: np.ndarray) -> tuple[float, float, float]:
    """SSR, sirt's separation and the Rasch separation from θ and SE (finite SEs only)."""
    keep = np.isfinite(se)
    if keep.sum() < 2:
        return np.nan, np.nan, np.nan
    observed = float(np.var(theta[keep], ddof=1))
    error = float(np.mean(se[keep] ** 2))
    if error == 0:
        return 1.0, np.inf, np.inf
    ssr = 1 - error / observed if observed > 0 else np.nan
    separation = float(np.sqrt(observed / error))
    separation_true = float(np.sqrt(max(observed - error, 0.0) / error))
    return float(ssr), separation, separation_true
