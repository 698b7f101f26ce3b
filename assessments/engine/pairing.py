"""Pairing: which essays a round compares, and in which order they are shown.

Owns the first-round design (`initial_design`) and the adaptive rounds (`plan_round`). Arrays in,
a frozen `RoundPlan` out; no Django, no I/O. Never builds an n×n matrix, so a round for 10,000
essays plans in well under a second (`bench/pairing_speed.py`).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

# An essay with no usable estimate yet (θ or SE not finite) is treated as θ = 0 with this SE: wide
# enough that every partner looks informative.
UNKNOWN_SE = 3.0
# Anchor–anchor pairs only refine the anchors against each other; students against anchors place
# students on the graded scale. Scores of anchor–anchor pairs are multiplied by this factor
# (unless every essay is an anchor).
ANCHOR_ANCHOR_FACTOR = 0.1
# Weight of "this essay may sit on the other side of a grade boundary" in a student's value.
BOUNDARY_WEIGHT = 1.0
# Value of an anchor: its θ places the grade cut points every student's grade depends on.
ANCHOR_VALUE = 1.5
# Partners an essay may take beyond the least-compared essay in play: counts stay within
# EXPOSURE_SPREAD of each other whenever the state started that way.
EXPOSURE_SPREAD = 2
# Grade-directed rounds (when grade probabilities are known): a student whose P(primary grade)
# is at least SETTLED_PROBABILITY, and who has its floor of comparisons, draws no more; the
# others draw in proportion to 1 − P(primary), at most STUDENT_ROUND_CAP comparisons a round
# (their estimates move between rounds); anchors serve as references up to ANCHOR_ROUND_CAP.
SETTLED_PROBABILITY = 0.9
STUDENT_ROUND_CAP = 4
ANCHOR_ROUND_CAP = 8
# What learning more about an anchor is worth in a grade-directed round (students: 1 − P(primary)).
ANCHOR_REFERENCE_VALUE = 1.5


@dataclass(frozen=True)
class PairingState:
    """What the planner needs to know about a batch; index i is the same essay in every array.

    `comparisons`, `shown_first` and `shown_second` count judged and in-flight comparisons.
    `judged_pairs` is (m, 2): (first shown, second shown) of every comparison judged or in flight.
    `boundaries` are grade cut points on the θ scale (`grading.GradeCalibration.boundaries`), or None.
    `grade_probabilities` (n × grades, `grading.GradeProjection.probabilities`; NaN rows for essays without
    an estimate) turn on grade-directed rounds: see `plan_round`.
    """

    theta: np.ndarray
    se: np.ndarray
    comparisons: np.ndarray
    shown_first: np.ndarray
    shown_second: np.ndarray
    is_anchor: np.ndarray
    judged_pairs: np.ndarray
    boundaries: np.ndarray | None = None
    grade_probabilities: np.ndarray | None = None

    @classmethod
    def from_history(
        cls,
        *,
        theta: np.ndarray,
        se: np.ndarray,
        is_anchor: np.ndarray,
        judged_pairs: np.ndarray,
        boundaries: np.ndarray | None = None,
        grade_probabilities: np.ndarray | None = None,
    ) -> PairingState:
        """Build a state whose counts are derived from `judged_pairs`."""
        n = len(theta)
        pairs = np.asarray(judged_pairs, dtype=np.int64).reshape(-1, 2)
        shown_first = np.bincount(pairs[:, 0], minlength=n)
        shown_second = np.bincount(pairs[:, 1], minlength=n)
        return cls(
            theta=np.asarray(theta, dtype=float),
            se=np.asarray(se, dtype=float),
            comparisons=shown_first + shown_second,
            shown_first=shown_first,
            shown_second=shown_second,
            is_anchor=np.asarray(is_anchor, dtype=bool),
            judged_pairs=pairs,
            boundaries=boundaries,
            grade_probabilities=grade_probabilities,
        )


@dataclass(frozen=True)
class RoundPlan:
    """The pairs of one round and why it looks the way it does.

    `pairs` is (n, 2) int: (shown first, shown second). `n_repeats` counts pairs judged before
    (each shown in the order used less often so far). `shortfall` says why fewer pairs than
    requested were planned (None when the round is full). `exposure_spread` is max − min
    comparisons per essay once the round is judged. `mean_outcome_uncertainty` is the mean of
    4·p·(1−p) under the current estimates (1 = coin flip, 0 = foregone).
    """

    pairs: np.ndarray
    n_requested: int
    n_repeats: int
    n_student_anchor: int
    n_anchor_anchor: int
    exposure_spread: int
    mean_outcome_uncertainty: float
    shortfall: str | None


def pair_keys(pairs: np.ndarray, n_items: int) -> np.ndarray:
    """Orientation-free int64 key of each pair: min·n + max."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    lo = np.minimum(pairs[:, 0], pairs[:, 1])
    hi = np.maximum(pairs[:, 0], pairs[:, 1])
    return lo * n_items + hi


def unjudged_pair_count(*, n_items: int, judged_pairs: np.ndarray) -> int:
    """How many unordered pairs of distinct essays have never been judged (nor sent)."""
    judged = np.unique(pair_keys(judged_pairs, n_items)).size
    return n_items * (n_items - 1) // 2 - judged


def initial_design(n_items: int, *, k: int, is_anchor: np.ndarray, seed: int) -> np.ndarray:
    """A first round giving every essay k comparisons (fewer when n_items − 1 < k).

    Steps:
    1. Lay the essays on a circle in random order, anchors evenly spaced among students.
    2. Join each essay to the one `d` places ahead for k // 2 distinct offsets `d`: offset 1 (a
       Hamiltonian cycle, so the design is connected when k ≥ 2) plus random offsets, preferring
       those that join fewest anchors to anchors. Every offset adds one comparison shown first and
       one shown second to each essay, so A/B positions balance exactly.
    3. For odd k add every other edge of one more offset (a perfect matching when n is even,
       alternating the shown-first side). When n·k is odd one essay is left at k − 1.
    Pairs never repeat; k ≥ n − 1 gives every pair once.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    is_anchor = np.asarray(is_anchor, dtype=bool)
    if n_items < 2:
        return np.empty((0, 2), dtype=np.int64)
    rng = np.random.default_rng(seed)
    k = min(k, n_items - 1)
    order = _circle_order(is_anchor, rng)
    half = (n_items - 1) // 2  # offsets 1..half each give a full cycle of n edges
    # For odd n the matching walks the cycle of offset `half` (coprime with n), so reserve it.
    spare = half if (k % 2 == 1 and n_items % 2 == 1) else half + 1
    offsets = [] if k < 2 else [1, *_pick_offsets(is_anchor[order], candidates=np.arange(2, spare), count=k // 2 - 1, rng=rng)]
    positions = np.arange(n_items)
    blocks = [np.column_stack([order, order[(positions + d) % n_items]]) for d in offsets]
    if k % 2 == 1:
        blocks.append(_matching_block(order, offset=half))
    return np.concatenate(blocks).astype(np.int64)


def _circle_order(is_anchor: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random circular order with anchors spread evenly among the students."""
    n = len(is_anchor)
    anchors = rng.permutation(np.flatnonzero(is_anchor))
    students = rng.permutation(np.flatnonzero(~is_anchor))
    if len(anchors) == 0 or len(students) == 0:
        return rng.permutation(n)
    slots = np.floor((np.arange(len(anchors)) + rng.random()) * n / len(anchors)).astype(int)
    order = np.empty(n, dtype=np.int64)
    mask = np.zeros(n, dtype=bool)
    mask[slots] = True
    order[mask] = anchors
    order[~mask] = students
    return order


def _pick_offsets(anchor_on_circle: np.ndarray, *, candidates: np.ndarray, count: int, rng: np.random.Generator) -> list[int]:
    """Choose `count` circulant offsets, fewest anchor–anchor edges first, random among ties."""
    if count <= 0 or candidates.size == 0:
        return []
    sample = rng.permutation(candidates)[: max(64, count)]
    clashes = np.array([np.sum(anchor_on_circle & np.roll(anchor_on_circle, -d)) for d in sample])
    chosen = sample[np.argsort(clashes, kind="stable")[:count]]
    return [int(d) for d in chosen]


def _matching_block(order: np.ndarray, *, offset: int) -> np.ndarray:
    """One more comparison for (nearly) everyone, sharing no pair with offsets below `offset`.

    Even n: each essay against the one opposite on the circle, alternating the side shown first.
    Odd n: every other edge of the cycle of `offset` (coprime with n), which leaves one essay out.
    """
    n = len(order)
    if n % 2 == 0:
        t = np.arange(n // 2)
        a, b = order[t], order[t + n // 2]
        flip = t % 2 == 1
        return np.column_stack([np.where(flip, b, a), np.where(flip, a, b)])
    starts = ((np.arange(n) * offset) % n)[0 : n - 1 : 2]
    return np.column_stack([order[starts], order[(starts + offset) % n]])


def plan_round(
    state: PairingState,
    *,
    n_pairs: int,
    seed: int,
    window: int = 6,
    n_random: int = 4,
    allow_repeats: bool = True,
    floor: int = 0,
) -> RoundPlan:
    """Plan the next adaptive round of up to `n_pairs` comparisons.

    Steps:
    1. Candidates: each essay with its `window` θ-neighbours on each side, `n_random` random
       essays, and (for students) the two nearest anchors in θ: O(n·window), never n².
    2. Drop pairs judged or in flight; score the rest by the expected drop in posterior variance of
       both essays (`_pair_scores`): close θ (p near 0.5), large SE and nearness to a grade
       boundary raise it; anchor–anchor pairs are scaled down.
    3. Grade-directed (only with `state.grade_probabilities`): students below `floor`
       comparisons first, then the students whose grade is not settled (P(primary) below
       SETTLED_PROBABILITY), most uncertain first (need 1 − P(primary), divided by 1 + the
       comparisons they already have this round), each take their best-scoring partner; essay
       values are then grade uncertainty (students) and ANCHOR_REFERENCE_VALUE (anchors), so
       anchors and undecided students near the essay's θ come first, settled students last.
       Per-round caps keep one round from piling onto a few essays. Settled students draw
       nothing more, so the comparisons go where grades are undecided.
       What is left of the round (everyone settled or capped) goes to step 4.
    4. Greedy by exposure: repeatedly take the least-compared essay still in play (ties: the
       largest value·SE²) and give it its best-scoring partner that is at most one comparison
       above it, so counts stay within EXPOSURE_SPREAD (within one round the most needed essays
       may get two comparisons and others none; the next round serves those first). If its
       candidates are used up, scan outward in θ for any unjudged partner (first within the
       spread, then beyond it: only then can the spread grow); an essay with no unjudged partner
       left drops out.
    5. Only when no unjudged pair can be planned and the round is still short, and
       `allow_repeats`, repeat judged pairs (nearest in θ first), shown in the order used less
       often before. A pair appears at most once in a round.
    6. Orientation: the essay shown first less often (net of shown second) goes first; a repeat
       uses the order it had less often. Ties break on the seed.
    Returns fewer pairs than requested only when the batch has no more pairs to offer (tiny
    batches, repeats disallowed); `shortfall` then says so.
    """
    n = len(state.theta)
    if n_pairs < 0:
        raise ValueError(f"n_pairs must be at least 0, got {n_pairs}")
    rng = np.random.default_rng(seed)
    theta, se = _usable_estimates(state)
    is_anchor = np.asarray(state.is_anchor, dtype=bool)
    grade_p = None if state.grade_probabilities is None else np.asarray(state.grade_probabilities, dtype=float)
    if grade_p is not None:
        primary_p = np.where(np.isfinite(grade_p).all(axis=1), np.nan_to_num(grade_p).max(axis=1), 0.0)
        value = np.where(is_anchor, ANCHOR_REFERENCE_VALUE, np.maximum(1.0 - primary_p, 0.02))
    else:
        value = _essay_values(theta=theta, se=se, is_anchor=is_anchor, boundaries=state.boundaries)
    counts = np.asarray(state.comparisons, dtype=np.int64).copy()
    balance = np.asarray(state.shown_first, dtype=np.int64) - np.asarray(state.shown_second)
    judged = np.asarray(state.judged_pairs, dtype=np.int64).reshape(-1, 2)
    judged_keys = np.unique(pair_keys(judged, max(n, 1)))
    planner = _Planner(
        theta=theta,
        counts=counts,
        balance=balance,
        need=value * se**2,
        rng=rng,
        judged_keys=set(judged_keys.tolist()),
    )
    if n >= 2 and n_pairs > 0:
        indptr, partners = _candidate_lists(
            theta=theta,
            se=se,
            is_anchor=is_anchor,
            value=value,
            judged_keys=judged_keys,
            window=window,
            n_random=n_random,
            rng=rng,
        )
        if grade_p is not None:
            settled = ~is_anchor & (primary_p >= SETTLED_PROBABILITY) & (counts >= floor)
            planner.fill_by_need(
                n_pairs, indptr=indptr, partners=partners, need=value, is_anchor=is_anchor, settled=settled, floor=floor
            )
        planner.fill(n_pairs, indptr=indptr, partners=partners)
        if allow_repeats and len(planner.pairs) < n_pairs:
            planner.fill_repeats(n_pairs, judged=judged)
    pairs = np.array(planner.pairs, dtype=np.int64).reshape(-1, 2)
    return _describe(
        pairs=pairs,
        state=state,
        theta=theta,
        se=se,
        counts=counts,
        n_pairs=n_pairs,
        allow_repeats=allow_repeats,
        n_repeats=planner.n_repeats,
    )


def _usable_estimates(state: PairingState) -> tuple[np.ndarray, np.ndarray]:
    theta = np.asarray(state.theta, dtype=float)
    se = np.asarray(state.se, dtype=float)
    unknown = ~np.isfinite(theta) | ~np.isfinite(se)
    return np.where(unknown, 0.0, theta), np.where(unknown, UNKNOWN_SE, se)


def _essay_values(*, theta: np.ndarray, se: np.ndarray, is_anchor: np.ndarray, boundaries: np.ndarray | None) -> np.ndarray:
    """Value of learning more about each essay.

    A student is worth 1 + BOUNDARY_WEIGHT·P(other side), where P(other side) = 2·Φ(−|θ − b|/SE)
    for the nearest boundary b (1 on the boundary, → 0 far away). An anchor's grade is known, but
    its θ places the cut points, so it is worth ANCHOR_VALUE.
    """
    value = np.where(is_anchor, ANCHOR_VALUE, 1.0)
    cuts = np.asarray(boundaries if boundaries is not None else [], dtype=float)
    cuts = cuts[np.isfinite(cuts)]
    if cuts.size and len(theta):
        nearest = np.min(np.abs(theta[:, None] - cuts[None, :]), axis=1)
        value += BOUNDARY_WEIGHT * 2.0 * ndtr(-nearest / se) * ~is_anchor
    return value


def _pair_scores(
    i: np.ndarray,
    j: np.ndarray,
    *,
    theta: np.ndarray,
    se: np.ndarray,
    is_anchor: np.ndarray,
    value: np.ndarray,
) -> np.ndarray:
    """Expected drop in posterior variance of both essays from one comparison, value-weighted.

    The Fisher information of a comparison is p(1−p), with p the chance that i beats j averaged
    over both essays' uncertainty (probit approximation: Δθ/√(1 + π·v/8)). An essay with variance
    s² gains s²·(s²I)/(1 + s²I); the two gains are weighted by the essays' values and summed.
    """
    v_i, v_j = se[i] ** 2, se[j] ** 2
    delta = (theta[i] - theta[j]) / np.sqrt(1.0 + np.pi * (v_i + v_j) / 8.0)
    p = 1.0 / (1.0 + np.exp(-delta))
    info = p * (1.0 - p)
    gain = value[i] * v_i * v_i * info / (1.0 + v_i * info) + value[j] * v_j * v_j * info / (1.0 + v_j * info)
    if not is_anchor.all():
        gain = np.where(is_anchor[i] & is_anchor[j], gain * ANCHOR_ANCHOR_FACTOR, gain)
    return gain


def _candidate_lists(
    *,
    theta: np.ndarray,
    se: np.ndarray,
    is_anchor: np.ndarray,
    value: np.ndarray,
    judged_keys: np.ndarray,
    window: int,
    n_random: int,
    rng: np.random.Generator,
) -> tuple[list[int], list[int]]:
    """Per-essay candidate partners, best first, in CSR form (indptr, partners) as Python lists."""
    n = len(theta)
    by_theta = np.argsort(theta, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[by_theta] = np.arange(n)
    sources, targets = [], []
    for step in range(1, min(window, n - 1) + 1):
        sources.append(by_theta[:-step])
        targets.append(by_theta[step:])
    if n_random > 0:
        src = np.repeat(np.arange(n), n_random)
        sources.append(src)
        targets.append(rng.integers(0, n, size=src.size))
    anchors = np.flatnonzero(is_anchor)
    students = np.flatnonzero(~is_anchor)
    if anchors.size and students.size:
        anchor_order = anchors[np.argsort(theta[anchors], kind="stable")]
        at = np.searchsorted(theta[anchor_order], theta[students])
        for shift in (-1, 0):
            sources.append(students)
            targets.append(anchor_order[np.clip(at + shift, 0, anchors.size - 1)])
    i = np.concatenate(sources)
    j = np.concatenate(targets)
    keep = i != j
    keys = np.unique(np.minimum(i[keep], j[keep]) * n + np.maximum(i[keep], j[keep]))
    keys = keys[~np.isin(keys, judged_keys)]
    lo, hi = keys // n, keys % n
    score = _pair_scores(lo, hi, theta=theta, se=se, is_anchor=is_anchor, value=value)
    # Both directions, each essay's list sorted best first.
    own = np.concatenate([lo, hi])
    other = np.concatenate([hi, lo])
    both = np.concatenate([score, score])
    order = np.lexsort((-both, own))
    indptr = np.searchsorted(own[order], np.arange(n + 1))
    return indptr.tolist(), other[order].tolist()


class _Planner:
    """The greedy of `plan_round` steps 3–5; mutable working state for one round."""

    def __init__(
        self,
        *,
        theta: np.ndarray,
        counts: np.ndarray,
        balance: np.ndarray,
        need: np.ndarray,
        rng: np.random.Generator,
        judged_keys: set[int],
    ) -> None:
        self.n = len(theta)
        self.counts = counts.tolist()
        self.balance = balance.tolist()
        self.need = (-need).tolist()  # heap order: most needed first
        self.tiebreak = rng.random(self.n).tolist()
        self.rng = rng
        self.judged_keys = judged_keys
        self.by_theta = np.argsort(theta, kind="stable").tolist()
        self.rank = [0] * self.n
        for r, item in enumerate(self.by_theta):
            self.rank[item] = r
        self.used_keys: set[int] = set()
        self.orientation: dict[int, int] = {}  # repeats: + when the lower index went first more
        self.pairs: list[tuple[int, int]] = []
        self.n_repeats = 0

    def _key(self, i: int, j: int) -> int:
        return min(i, j) * self.n + max(i, j)

    def fill(self, n_pairs: int, *, indptr: list[int], partners: list[int]) -> None:
        """Steps 3 and 5: unjudged pairs only."""

        def partner(i: int, limit: int) -> int | None:
            j = self._best_candidate(i, partners[indptr[i] : indptr[i + 1]], limit)
            if j is None:
                j = self._scan(i, limit=limit, fresh=True)
            return j if j is not None else self._scan(i, limit=None, fresh=True)

        self._greedy(n_pairs, partner, repeat=False)

    def fill_by_need(
        self,
        n_pairs: int,
        *,
        indptr: list[int],
        partners: list[int],
        need: np.ndarray,
        is_anchor: np.ndarray,
        settled: np.ndarray,
        floor: int,
    ) -> None:
        """Step 3 of `plan_round`: unsettled students (and any below the floor) by need."""
        cap = np.where(is_anchor, ANCHOR_ROUND_CAP, STUDENT_ROUND_CAP).tolist()
        settled_list = settled.tolist()
        need_list = need.tolist()
        planned = [0] * self.n
        # Anchors demand too (reference-based selection): their θ places every cut point.
        demanders = [i for i in range(self.n) if is_anchor[i] or not settled_list[i] or self.counts[i] < floor]

        def priority(i: int) -> tuple[int, float, float, int]:
            below = 0 if self.counts[i] < floor and not is_anchor[i] else 1
            return (below, -need_list[i] / (1 + planned[i]), self.tiebreak[i], i)

        def usable(i: int, j: int, *, allow_settled: bool) -> bool:
            return (
                planned[j] < cap[j]
                and self._key(i, j) not in self.used_keys
                and self._key(i, j) not in self.judged_keys
                and (allow_settled or not settled_list[j])
            )

        heap = [priority(i) for i in demanders]
        heapq.heapify(heap)
        while heap and len(self.pairs) < n_pairs:
            entry = heapq.heappop(heap)
            i = entry[-1]
            if entry != priority(i):  # stale: i gained a comparison as someone's partner
                heapq.heappush(heap, priority(i))
                continue
            if planned[i] >= cap[i] or (settled_list[i] and self.counts[i] >= floor and not is_anchor[i]):
                continue
            j = next((j for j in partners[indptr[i] : indptr[i + 1]] if usable(i, j, allow_settled=False)), None)
            if j is None:
                j = next((j for j in partners[indptr[i] : indptr[i + 1]] if usable(i, j, allow_settled=True)), None)
            if j is None:
                continue
            self._add(i, j, repeat=False)
            planned[i] += 1
            planned[j] += 1
            heapq.heappush(heap, priority(i))

    def fill_repeats(self, n_pairs: int, *, judged: np.ndarray) -> None:
        """Step 4: repeats of judged pairs, each at most once per round, in the other order."""
        for a, b in judged.tolist():
            key = self._key(a, b)
            self.orientation[key] = self.orientation.get(key, 0) + (1 if a < b else -1)

        def partner(i: int, limit: int) -> int | None:
            j = self._scan(i, limit=limit, fresh=False)
            return j if j is not None else self._scan(i, limit=None, fresh=False)

        self._greedy(n_pairs, partner, repeat=True)

    def _greedy(self, n_pairs: int, partner: Callable[[int, int], int | None], *, repeat: bool) -> None:
        """Least-compared (then most needed) essay first; an essay without a partner drops out."""
        heap = [(self.counts[i], self.need[i], self.tiebreak[i], i) for i in range(self.n)]
        heapq.heapify(heap)
        while heap and len(self.pairs) < n_pairs:
            count, _, _, i = heapq.heappop(heap)
            if count != self.counts[i]:  # stale entry: i was picked as a partner since
                heapq.heappush(heap, (self.counts[i], self.need[i], self.tiebreak[i], i))
                continue
            j = partner(i, count + EXPOSURE_SPREAD - 1)
            if j is None:
                continue
            self._add(i, j, repeat=repeat)
            for item in (i, j):
                heapq.heappush(heap, (self.counts[item], self.need[item], self.tiebreak[item], item))

    def _best_candidate(self, i: int, candidates: list[int], limit: int) -> int | None:
        for j in candidates:
            if self.counts[j] <= limit and self._key(i, j) not in self.used_keys:
                return j
        return None

    def _scan(self, i: int, *, limit: int | None, fresh: bool) -> int | None:
        """Nearest essay in θ order that is free (unjudged if `fresh`) and within `limit`."""
        r = self.rank[i]
        for step in range(1, self.n):
            for pos in (r - step, r + step):
                if 0 <= pos < self.n:
                    j = self.by_theta[pos]
                    key = self._key(i, j)
                    if key in self.used_keys or (key in self.judged_keys) == fresh:
                        continue
                    if limit is None or self.counts[j] <= limit:
                        return j
        return None

    def _add(self, i: int, j: int, *, repeat: bool) -> None:
        key = self._key(i, j)
        first, second = self._orient(i, j, key if repeat else None)
        self.pairs.append((first, second))
        self.used_keys.add(key)
        self.n_repeats += int(repeat)
        for item in (i, j):
            self.counts[item] += 1
        self.balance[first] += 1
        self.balance[second] -= 1

    def _orient(self, i: int, j: int, repeat_key: int | None) -> tuple[int, int]:
        lo, hi = min(i, j), max(i, j)
        if repeat_key is not None and self.orientation.get(repeat_key, 0) != 0:
            return (hi, lo) if self.orientation[repeat_key] > 0 else (lo, hi)
        if self.balance[i] != self.balance[j]:
            return (i, j) if self.balance[i] < self.balance[j] else (j, i)
        return (i, j) if self.rng.random() < 0.5 else (j, i)


def _describe(
    *,
    pairs: np.ndarray,
    state: PairingState,
    theta: np.ndarray,
    se: np.ndarray,
    counts: np.ndarray,
    n_pairs: int,
    allow_repeats: bool,
    n_repeats: int,
) -> RoundPlan:
    is_anchor = np.asarray(state.is_anchor, dtype=bool)
    n = len(theta)
    after = counts + np.bincount(pairs.ravel(), minlength=n) if n else counts
    anchors_in_pair = is_anchor[pairs].sum(axis=1) if len(pairs) else np.empty(0)
    if len(pairs):
        d = (theta[pairs[:, 0]] - theta[pairs[:, 1]]) / np.sqrt(1.0 + np.pi * (se[pairs[:, 0]] ** 2 + se[pairs[:, 1]] ** 2) / 8.0)
        p = 1.0 / (1.0 + np.exp(-d))
        uncertainty = float(np.mean(4.0 * p * (1.0 - p)))
    else:
        uncertainty = float("nan")
    shortfall = None
    if len(pairs) < n_pairs:
        if n < 2:
            shortfall = f"a round needs at least 2 essays; the batch has {n}"
        elif allow_repeats:
            shortfall = (
                f"only {n * (n - 1) // 2} distinct pairs exist among {n} essays and a pair is "
                f"planned at most once per round: planned {len(pairs)} of {n_pairs}"
            )
        else:
            shortfall = f"only {len(pairs)} unjudged pairs remain and repeats are not allowed: planned {len(pairs)} of {n_pairs}"
    return RoundPlan(
        pairs=pairs,
        n_requested=n_pairs,
        n_repeats=n_repeats,
        n_student_anchor=int(np.sum(anchors_in_pair == 1)),
        n_anchor_anchor=int(np.sum(anchors_in_pair == 2)),
        exposure_spread=int(after.max() - after.min()) if n else 0,
        mean_outcome_uncertainty=uncertainty,
        shortfall=shortfall,
    )
