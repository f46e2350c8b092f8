"""The split rules: which finished trials are good (l(x)), which bad (g(x)), which repel.

The heart of TPE. Three regimes share one entry point, `good_and_bad`:

- one objective: finished trials ranked at the budgets their curves reached (budgets.py),
  feasible ones first, ties with the last good place shuffled across the boundary;
- several objectives: fronts, then hypervolume contribution (pareto.py), feasible first;
- constraints: in both, infeasible trials go to the bad group while enough feasible ones exist.

Plain functions over a `History`; the optimiser owns the random state and passes it in.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tpe_plugins import pareto
from tpe_plugins.budgets import FULL, rank_final
from tpe_plugins.history import CODE, COMPLETE, FAILED, PRUNED, History
from tpe_plugins.settings import Gamma

Split = tuple[np.ndarray, np.ndarray, np.ndarray]  # good, bad, repelling trial indices
_NO_REPORTS = (np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0))  # (trial, step, value)
RankRule = Callable[..., tuple[np.ndarray, np.ndarray]]


def n_good(n: int, gamma: Gamma) -> int:
    """How many of n finished trials form the good group."""
    if callable(gamma):
        k = int(gamma(n))
    elif gamma == "sqrt":
        k = min(math.ceil(0.25 * math.sqrt(n)), 25)
    elif gamma == "linear":
        k = min(math.ceil(0.1 * n), 25)
    else:
        k = math.ceil(float(gamma) * n)
    return int(min(max(k, 1), n))


def good_and_bad(h: History, *, n_startup: int, gamma: Gamma, rng: np.random.Generator,
                 rank: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                 ties: str = "random", constraint_rule: str = "feasible_first"
                 ) -> Split | None:
    """The good, the bad and the repelling (stopped where their budget says little) trials'
    indices, or None while the start-up lasts (fewer than n_startup live trials, pending ones
    included, or fewer than 2 finished). rank: finished indices -> (ranked, stopped), see
    `FinishedOrder`."""
    codes = h.codes()
    n_live = len(codes) - int(np.count_nonzero(codes == CODE[FAILED]))
    if h.several:
        finished = h.where(COMPLETE)
        if n_live < n_startup or len(finished) < 2:
            return None
        return several_objectives(h.Y, h.violation, finished, n_good(len(finished), gamma))
    # A pruned trial is judged at the step it reached (budgets.py); one without a curve, or
    # without a value, has no such step and stays in the bad group.
    pruned = codes == CODE[PRUNED]
    judged = pruned & (h.budget[: h.n] >= 0) & ~np.isnan(h.y[: h.n])
    finished = ((codes == CODE[COMPLETE]) | judged).nonzero()[0]
    if n_live < n_startup or len(finished) < 2:
        return None
    ranked, stopped, *judged_first = rank(finished)
    if len(ranked) == 0:
        return None
    if h.constraints and constraint_rule == "feasible_first":
        ranked = feasible_first(ranked, h.violation)
    # a rule may rank trials that can only be bad after the first n it judged
    k = n_good(judged_first[0] if judged_first else len(ranked), gamma)
    if ties == "random":
        ranked = shuffle_ties(ranked, k, (h.y, h.budget, h.violation), rng)
    return ranked[:k], np.concatenate([ranked[k:], (pruned & ~judged).nonzero()[0]]), stopped


def several_objectives(Y: np.ndarray, violation: np.ndarray, finished: np.ndarray,
                       k: int) -> Split:
    """k good trials of several objectives: the feasible ones by fronts and hypervolume
    contribution (pareto.py); short of k feasible ones, all of them and then the least
    violating. Nothing repels."""
    feasible = finished[violation[finished] <= 0]
    if len(feasible) >= k:
        good = feasible[pareto.good_mask(Y[feasible], k)]
    else:
        rest = np.setdiff1d(finished, feasible)
        rest = rest[np.argsort(violation[rest], kind="stable")]
        good = np.concatenate([feasible, rest[: k - len(feasible)]])
    return good, np.setdiff1d(finished, good), finished[:0]


def feasible_first(ranked: np.ndarray, violation: np.ndarray) -> np.ndarray:
    """`ranked` with the feasible trials first (in their order), then the infeasible ones by
    violation, least first; so infeasible trials are good only while too few feasible exist."""
    v = violation[ranked]
    return ranked[np.lexsort((np.arange(len(ranked)), v, v > 0))]


def shuffle_ties(ranked: np.ndarray, k: int, keys: tuple[np.ndarray, ...],
                 rng: np.random.Generator) -> np.ndarray:
    """`ranked` with the trials tied with the k-th best (equal in every array of `keys`)
    shuffled among their places; the random draw is made only when a tie crosses the boundary.

    Why: on a plateau of equal values (CV errors on small data, rounded metrics) a stable
    sort keeps the oldest tied trials in the good group for good, so l(x) stays on the same
    few early points and the search stalls there. A seeded shuffle of the tied trials lets
    each ask see a different part of the plateau. Splitting each tied trial's weight
    between the groups was measured too, and lost (the plateau problems of
    benchmarks/parallel.py; docs/benchmarks/local-optima.md).
    """
    last = ranked[k - 1]
    first, *rest = keys
    tied = first[ranked] == first[last]
    if not tied[k:].any():  # no tie across the boundary in the first key, so in none
        return ranked
    for key in rest:
        tied &= key[ranked] == key[last]
    tied = tied.nonzero()[0]
    if tied[-1] < k:  # no tie across the boundary
        return ranked
    ranked = ranked.copy()
    ranked[tied] = ranked[rng.permutation(tied)]
    return ranked


class FinishedOrder:
    """Ranks finished trials of one objective at the budgets they reached, with a rank rule
    of budgets.py; cached until a trial finishes, so a batch of asks ranks the history once.
    When trials only joined at the end since the last call and that ranking was the plain order
    by value, `rank_final` gets it as a hint (the same ranking, a faster sort)."""

    def __init__(self) -> None:
        self._key: np.ndarray | None = None
        self._order: tuple[np.ndarray, np.ndarray] | None = None
        self._hint: np.ndarray | None = None  # positions in _key by value, when that was plain

    def __call__(self, h: History, finished: np.ndarray, rule: RankRule
                 ) -> tuple:
        """The rule's answer with trial indices: (ranked, stopped) and, where the rule gives
        it, n_judged (see budgets.rank_final)."""
        if self._key is not None and np.array_equal(self._key, finished):
            return self._order
        if h.n_reports:
            log = h.reports[: h.n_reports]
            is_finished = np.zeros(h.n, dtype=bool)  # a lookup, not np.isin's hashing per ask
            is_finished[finished] = True
            mine = is_finished[log[:, 0].astype(np.intp)]
            reports = (np.searchsorted(finished, log[mine, 0]), log[mine, 1], log[mine, 2])
            budgets = h.budget[finished]
            budgets = np.where(budgets < 0, FULL, budgets)
        else:  # no curves: every trial ran in full
            reports = _NO_REPORTS
            budgets = np.full(len(finished), FULL)
        y, sign = h.y[finished], float(h.signs[0])
        if rule is rank_final:
            grown = (self._hint is not None and len(finished) > len(self._key)
                     and np.array_equal(finished[: len(self._key)], self._key))
            ranked, stopped, *rest = rank_final(y, budgets, reports, sign,
                                                hint=self._hint if grown else None)
            plain = len(stopped) == 0 and rest[0] == len(finished)  # every trial judged
            self._hint = ranked if plain else None
        else:
            ranked, stopped, *rest = rule(y, budgets, reports, sign)
        self._key, self._order = finished, (finished[ranked], finished[stopped], *rest)
        return self._order


def constraint_splits(h: History, X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """For the c-TPE variant: per constraint, the rows of X that satisfied it and those that
    did not (of the trials told with constraints)."""
    told = np.array(sorted(h.constraints))
    c = np.array([h.constraints[i] for i in told])
    return [(X[told[c[:, j] <= 0]], X[told[c[:, j] > 0]]) for j in range(c.shape[1])]
