"""Agreement between judges: people against the LLM, people against each other, and the two scales.

Arrays in, small dataclasses out; no Django. A judgement is (pair, winner, judge, is_human): the
pair as two essay indices (either order), the index of the essay that won, an opaque judge label.
Verdicts on a pair are compared, not positions: who was shown first does not matter here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from assessments.engine.scoring import fit_bt

# z of a two-sided 95% interval.
Z95 = 1.959963984540054
# The θ correlation needs this many essays compared in both the human-only and the LLM-only fit.
MIN_ESSAYS_FOR_CORRELATION = 3


@dataclass(frozen=True)
class Proportion:
    """`agree` of `n` decisions agreed; `rate` with its Wilson 95% interval (None when n = 0)."""

    agree: int
    n: int
    rate: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Overturned:
    """A pair on which the people's majority chose the other essay than the LLM's verdict(s).

    `llm_judgements` are indices (into the input arrays) of the LLM verdicts overturned.
    """

    lo: int
    hi: int
    llm_winner: int
    human_winner: int
    human_votes: int
    llm_judgements: tuple[int, ...]


@dataclass(frozen=True)
class ScaleCorrelation:
    """Pearson r between θ from human judgements only and from LLM judgements only, over the
    `n_essays` compared in both; each scale's reliability (SSR of its own fit) and the correlation
    corrected for attenuation, r / √(rel_h · rel_l) (None when a reliability is not positive)."""

    r: float
    n_essays: int
    reliability_human: float | None
    reliability_llm: float | None
    disattenuated: float | None


@dataclass(frozen=True)
class AgreementReport:
    ai_human: Proportion
    human_human: Proportion
    correlation: ScaleCorrelation | None
    correlation_unavailable: str | None
    overturned: list[Overturned] = field(default_factory=list)
    n_human: int = 0
    n_llm: int = 0


def wilson_interval(agree: int, n: int, *, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion agree/n (n ≥ 1): better than p ± z·SE near 0 and 1."""
    if n < 1:
        raise ValueError("n must be at least 1")
    p = agree / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(agree: int, n: int) -> Proportion:
    if n == 0:
        return Proportion(agree=0, n=0, rate=None, low=None, high=None)
    low, high = wilson_interval(agree, n)
    return Proportion(agree=agree, n=n, rate=agree / n, low=low, high=high)


def _majority(winners: list[int]) -> int | None:
    """The essay most verdicts chose; None on an even split."""
    values, counts = np.unique(np.asarray(winners), return_counts=True)
    if len(values) == 1:
        return int(values[0])
    if counts[0] == counts[1]:
        return None
    return int(values[int(np.argmax(counts))])


def agreement(
    first: np.ndarray,
    second: np.ndarray,
    winner: np.ndarray,
    judge: np.ndarray,
    is_human: np.ndarray,
    *,
    n_items: int,
) -> AgreementReport:
    """Agreement figures of a batch's judgements.

    1. AI–human: each human verdict on a pair the LLM judged, against the LLM's verdict there
       (its majority when it judged the pair more than once; an even split leaves the pair out).
    2. Human–human: each two different people who judged the same pair form one couple; the
       share of couples that chose the same essay.
    3. Overturned: pairs where the people's majority chose the other essay than the LLM's majority.
    4. The θ correlation between a Bradley–Terry fit of the human judgements alone and one of the
       LLM's alone, over essays compared in both (needs MIN_ESSAYS_FOR_CORRELATION of them, and
       at least as many judgements of each kind as such essays).
    Intervals are Wilson 95%.
    """
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int64)
    winner = np.asarray(winner, dtype=np.int64)
    judge = np.asarray(judge).astype(str)
    is_human = np.asarray(is_human, dtype=bool)
    lo, hi = np.minimum(first, second), np.maximum(first, second)
    by_pair: dict[tuple[int, int], list[int]] = {}
    for index, key in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        by_pair.setdefault(key, []).append(index)

    ai_agree = ai_n = hh_agree = hh_n = 0
    overturned: list[Overturned] = []
    for (a, b), members in by_pair.items():
        humans = [i for i in members if is_human[i]]
        llms = [i for i in members if not is_human[i]]
        llm_majority = _majority([int(winner[i]) for i in llms]) if llms else None
        if humans and llm_majority is not None:
            ai_n += len(humans)
            ai_agree += sum(int(winner[i]) == llm_majority for i in humans)
            human_majority = _majority([int(winner[i]) for i in humans])
            if human_majority is not None and human_majority != llm_majority:
                overturned.append(
                    Overturned(
                        lo=a,
                        hi=b,
                        llm_winner=llm_majority,
                        human_winner=human_majority,
                        human_votes=sum(int(winner[i]) == human_majority for i in humans),
                        llm_judgements=tuple(i for i in llms if int(winner[i]) == llm_majority),
                    )
                )
        # One verdict per person and pair (a person judges a pair once; the first counts if not).
        verdicts: dict[str, int] = {}
        for i in humans:
            verdicts.setdefault(str(judge[i]), int(winner[i]))
        people = list(verdicts.values())
        for x in range(len(people)):
            for y in range(x + 1, len(people)):
                hh_n += 1
                hh_agree += people[x] == people[y]

    correlation, unavailable = _scale_correlation(first, second, winner, is_human, n_items=n_items)
    return AgreementReport(
        ai_human=proportion(ai_agree, ai_n),
        human_human=proportion(hh_agree, hh_n),
        correlation=correlation,
        correlation_unavailable=unavailable,
        overturned=overturned,
        n_human=int(is_human.sum()),
        n_llm=int((~is_human).sum()),
    )


def _scale_correlation(
    first: np.ndarray, second: np.ndarray, winner: np.ndarray, is_human: np.ndarray, *, n_items: int
) -> tuple[ScaleCorrelation | None, str | None]:
    """θ from each kind of judge alone, correlated over the essays both compared."""
    fits = []
    for mask in (is_human, ~is_human):
        if not mask.any():
            return None, "needs judgements from both people and the LLM"
        outcome = (winner[mask] == first[mask]).astype(float)
        fits.append(fit_bt(first[mask], second[mask], outcome, n_items=n_items, allow_disconnected=True))
    human, llm = fits
    both = (human.comparisons > 0) & (llm.comparisons > 0)
    n = int(both.sum())
    if n < MIN_ESSAYS_FOR_CORRELATION:
        return None, f"needs at least {MIN_ESSAYS_FOR_CORRELATION} essays compared by both people and the LLM; {n} so far"
    # Fewer judgements than essays cannot even connect them: such a scale is mostly the prior.
    fewest = min(int(is_human.sum()), int((~is_human).sum()))
    if fewest < n:
        return None, f"needs at least as many judgements of each kind as essays compared by both ({n}); {fewest} so far"
    x, y = human.theta[both], llm.theta[both]
    if np.std(x) == 0 or np.std(y) == 0:
        return None, "one of the two scales does not vary yet"
    r = float(np.corrcoef(x, y)[0, 1])
    rel_h = float(human.ssr) if np.isfinite(human.ssr) else None
    rel_l = float(llm.ssr) if np.isfinite(llm.ssr) else None
    corrected = r / np.sqrt(rel_h * rel_l) if rel_h and rel_l and rel_h > 0 and rel_l > 0 else None
    return ScaleCorrelation(
        r=r,
        n_essays=n,
        reliability_human=rel_h,
        reliability_llm=rel_l,
        disattenuated=float(corrected) if corrected is not None else None,
    ), None
