"""Schedule: how many comparisons a batch may use in all, and how many each round.

Pure functions of numbers (no ORM), so the rules can be read and tested on their own.
Rounds are sequential (each waits for the previous one's scores), so wall-clock time grows with
their number: a batch is planned in few, large rounds rather than many small ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Share of the budget spent in round 1 (a connected design); the rest is split over later rounds.
FIRST_ROUND_SHARE = 0.4
# Rounds the remaining budget is spread over after round 1.
ADAPTIVE_ROUNDS = 3


@dataclass(frozen=True)
class Budget:
    max_pairs: int
    source: str  # "default" or "runner_override"
    asked: int  # what the request came to before the ceiling (equal to max_pairs unless capped)

    @property
    def capped(self) -> bool:
        return self.asked > self.max_pairs


def budget_for(*, n_essays: int, comparisons_per_essay: int, override: int | None, ceiling: int) -> Budget:
    """Total comparisons a batch may use: the override when given, else n·k/2; never above the ceiling.

    The ceiling is a hard limit for both: an override above it is lowered to it, and `asked`
    keeps what was asked so that the requester is told (`capped`).
    """
    if override is not None:
        return Budget(max_pairs=min(override, ceiling), source="runner_override", asked=override)
    asked = math.ceil(n_essays * comparisons_per_essay / 2)
    return Budget(max_pairs=min(asked, ceiling), source="default", asked=asked)


def max_distinct_pairs(n_essays: int) -> int:
    return n_essays * (n_essays - 1) // 2


def round_size(*, round_no: int, n_essays: int, budget: int, used: int, max_rounds: int) -> int:
    """Comparisons to plan in `round_no` (1-based), given what earlier rounds used.

    1. Round 1 spends about 40% of the budget, at least one comparison per essay (a connected
       design needs n of them) and never more than the budget.
    2. Later rounds split what is left over the remaining adaptive rounds (at most
       `ADAPTIVE_ROUNDS`, fewer when `max_rounds` is lower); the last allowed round takes the rest.
    """
    remaining = max(0, budget - used)
    if remaining == 0:
        return 0
    if round_no == 1:
        target = max(n_essays, math.ceil(budget * FIRST_ROUND_SHARE)) if max_rounds > 1 else budget
        return min(remaining, target)
    rounds_left = max(1, min(ADAPTIVE_ROUNDS - (round_no - 2), max_rounds - round_no + 1))
    return min(remaining, math.ceil(remaining / rounds_left))
