"""The multi-fidelity rules that lost on LCBench's tune tasks, kept for benchmarks/lcbench.py
and benchmarks/multifidelity.py. They are not settings: a benchmark sets one on an optimiser
through its private hook, `opt._rank_rule = RULE`.

Each takes (y, budgets, reports, sign) like `tpe_plugins.budgets.rank_final` and returns
(ranked, stopped): finished trials best first, and trials kept only as narrow repellers.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata

from tpe_plugins.budgets import MIN_TOP, rank_at_rung, rank_final, top_budgets

MIN_PAIRS = 5  # trials that reached both a rung and the top before its agreement counts
MIN_AGREEMENT = 0.5


def largest_budget_order(y: np.ndarray, budgets: np.ndarray,
                         reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float,
                         min_points: int) -> np.ndarray:
    """BOHB's rule, a variant kept for benchmarks/lcbench.py: only the trials that reached the
    largest budget reached by at least `min_points` of them, best first by their value there;
    the others are left out of the model. With fewer such trials at every budget, the lowest."""
    finite = ~np.isnan(y)
    budgets = top_budgets(budgets)
    levels = np.unique(budgets[finite])
    if len(levels) <= 1:
        return np.lexsort((np.arange(len(y)), y))
    values = values_at(y, budgets, reports, sign, levels)
    counts = (~np.isnan(values)).sum(axis=0)
    enough = np.flatnonzero(counts >= min_points)
    column = values[:, enough[-1] if len(enough) else 0]
    reached = np.flatnonzero(~np.isnan(column))
    return reached[np.lexsort((reached, column[reached]))]


def rank_by_rungs(y: np.ndarray, budgets: np.ndarray,
                  reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float = 1.0,
                  min_agreement: float = MIN_AGREEMENT) -> tuple[np.ndarray, np.ndarray]:
    """(ranked, stopped): indices of the finished trials judged at trusted rungs, best first,
    and of those that stopped below every trusted rung (to be kept only as repellers).

    A rung is trusted when at least MIN_PAIRS trials reached both it and the top budget and its
    values rank them with a Spearman correlation of at least `min_agreement` to their values at
    the top. The top budget is always trusted; min_agreement > 1 trusts only it ("final values
    only"), min_agreement < -1 every rung (the quantile rule).
    """
    finite = ~np.isnan(y)
    budgets = top_budgets(budgets)
    levels = np.unique(budgets[finite])
    if len(levels) <= 1:
        return np.lexsort((np.arange(len(y)), y)), np.zeros(0, dtype=np.int64)
    values = values_at(y, budgets, reports, sign, levels)
    trusted = np.zeros(len(levels), dtype=bool)
    trusted[-1] = True
    top = values[:, -1]
    reached_top = ~np.isnan(top)
    if min_agreement <= -1:
        trusted[:] = True
    elif min_agreement <= 1 and reached_top.sum() >= MIN_PAIRS:
        both = values[reached_top]
        ranks = rankdata(both, axis=0)  # every column is complete on the trials at the top
        agreement = np.corrcoef(ranks, rowvar=False)[-1]
        trusted = np.nan_to_num(agreement, nan=-1.0) >= min_agreement
        trusted[-1] = True
    keep = np.flatnonzero(trusted)
    judged = finite & (budgets >= levels[keep[0]])  # below the lowest trusted rung: repellers
    # each judged trial at the highest trusted rung it reached
    at = keep[np.searchsorted(levels[keep], budgets, side="right") - 1]
    quantile = np.full(len(y), np.inf)
    for t in keep:  # one pass per trusted rung, not per observation
        column = values[:, t]
        reached = ~np.isnan(column)
        q = np.full(len(y), np.nan)
        q[reached] = (rankdata(column[reached]) - 0.5) / reached.sum()
        mine = judged & (at == t)
        quantile[mine] = q[mine]
    ranked = np.flatnonzero(judged)
    ranked = ranked[np.lexsort((y[ranked], -budgets[ranked].astype(float), quantile[ranked]))]
    return ranked, np.flatnonzero(finite & ~judged)


def bohb_rule(y: np.ndarray, budgets: np.ndarray,
              reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float = 1.0,
              min_points: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """`largest_budget_order` in the (ranked, stopped) form of `rank_by_rungs`."""
    return (largest_budget_order(y, budgets, reports, sign, min_points),
            np.zeros(0, dtype=np.int64))


def rank_by_budget(y: np.ndarray, budgets: np.ndarray,
                   reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float = 1.0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(ranked, stopped=[]): the furthest budget first, then the value there. Trials trained in
    full lead by their final values; a stopped trial counts as worse than any trial that went
    further, so with the good group a fraction of *all* finished trials, it holds the trials
    the scheduler let through and the stopped ones form the bad group."""
    finite = np.flatnonzero(~np.isnan(y))
    budgets = top_budgets(budgets)
    order = np.lexsort((finite, y[finite], -budgets[finite].astype(float)))
    return finite[order], np.zeros(0, dtype=np.int64)


def values_at(y: np.ndarray, budgets: np.ndarray,
              reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float,
              levels: np.ndarray) -> np.ndarray:
    """Each trial's value at each level: its last reported value at a step <= the level, and its
    final value at its own budget; NaN at levels beyond its budget."""
    values = np.full((len(y), len(levels)), np.nan)
    pos, steps, vals = reports
    order = np.lexsort((np.arange(len(pos)), steps, pos))  # by trial, step, then report order
    pos, steps, vals = pos[order], steps[order], sign * vals[order]
    for t, level in enumerate(levels):
        m = steps <= level
        p, v = pos[m], vals[m]
        last = np.append(p[1:] != p[:-1], True)  # each trial's latest record up to the level
        values[p[last], t] = v[last]
    values[levels[None, :] > budgets[:, None]] = np.nan
    own = np.searchsorted(levels, budgets)
    finite = ~np.isnan(y)
    values[np.flatnonzero(finite), own[finite]] = y[finite]
    values[~finite] = np.nan
    return values


def rank_final_sized(y: np.ndarray, budgets: np.ndarray,
                     reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float = 1.0,
                     size: str = "third", min_top: int = MIN_TOP):
    """`rank_final_all_bad` with another good-group size among the judged trials: "third"
    (the share ASHA promotes, eta = 3), "half" or "sqrt" of the n judged, instead of the gamma
    rule on them (10%: one or two trials at 20 trainings). The split sizes the good group with the
    optimiser's gamma from the count a rule returns, so this returns the count whose linear
    gamma (min(ceil(0.1 n), 25)) gives the wanted size; lcbench_drivers.py runs these
    variants with gamma="linear"."""
    ranked, stopped, n_judged = rank_final_all_bad(y, budgets, reports, sign, min_top=min_top)
    if n_judged == 0:
        return ranked, stopped, 0
    k = {"third": math.ceil(n_judged / 3), "half": math.ceil(n_judged / 2),
         "sqrt": math.ceil(math.sqrt(n_judged))}[size]
    return ranked, stopped, 10 * min(k, n_judged, 25)


def rank_ladder(y: np.ndarray, budgets: np.ndarray,
                reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float = 1.0,
                floor: float = 0.15, min_top: int = MIN_TOP, early: float = 0.0):
    """(ranked, stopped=[], n_judged): judge at the highest budget that at least `min_top`
    finished trials reached, but never below `floor` of the longest curve (where an early rung
    ranks noise); the trials that reached it by their value there, every other one bad except
    those stopped before `early` of the longest curve, which are in neither group (0.05: as
    the default rule). Until some such budget has min_top trials, start-up points."""
    none = np.zeros(0, dtype=np.int64)
    finite = ~np.isnan(y)
    if not finite.any():
        return none, none, 0
    budgets = top_budgets(budgets)
    top = budgets[finite].max()
    if (budgets[finite] == top).all():
        first = np.flatnonzero(finite)
        return first[np.lexsort((first, y[first]))], none, int(finite.sum())
    return rank_at_rung(y, budgets, reports, sign, top, min_top, floor=floor, early=early)


def rank_final_all_bad(y: np.ndarray, budgets: np.ndarray,
                       reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float = 1.0,
                       min_top: int = MIN_TOP):
    """`rank_final` as it was before the earliest cuts left g(x): every trial stopped
    below the top is bad (the default until 2026-12-08; lost at 100 trainings, 0.47 against
    0.31 of random + ASHA's regret with 1 worker, benchmarks/results/lcbench_drop_tune.md)."""
    ranked, stopped, n_judged = rank_final(y, budgets, reports, sign, min_top=min_top)
    if n_judged == 0:
        return ranked, stopped, 0
    head = ranked[:n_judged]
    rest = np.setdiff1d(np.flatnonzero(~np.isnan(y)), head)  # in trial order, as it was
    return np.concatenate([head, rest]), stopped, n_judged


def rank_final_dropped(y: np.ndarray, budgets: np.ndarray,
                       reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float = 1.0,
                       below: float | None = 0.1, min_top: int = MIN_TOP):
    """`rank_final_all_bad`, with the trials stopped below `below` x the longest curve (None:
    at the lowest budget any of them stopped at, a scheduler's first rung) left out of both
    groups instead of bad. below=0.05 is the default rule (`budgets.rank_final`); 0.1 (epochs
    1 and 3 of 52) lost on the tune tasks, and so did None under a grace period of 3, where it
    drops epoch 3's cuts (benchmarks/results/lcbench_drop_tune.md)."""
    ranked, stopped, n_judged = rank_final_all_bad(y, budgets, reports, sign, min_top=min_top)
    if n_judged == 0:
        return ranked, stopped, 0
    b = top_budgets(budgets)
    rest = ranked[n_judged:]
    if below is None:
        keep = rest[b[rest] > b[rest].min()] if len(rest) else rest
    else:
        keep = rest[b[rest] >= below * b[~np.isnan(y)].max()]
    return np.concatenate([ranked[:n_judged], keep]), stopped, n_judged


class RunningTop:
    """`rank_final` with the top budget read from every trial of `history`, running ones
    included: early in a run with several workers, before any trial finished, trials cut at
    epoch 3 are otherwise "at the top" once 5 of them exist."""

    def __init__(self, history):
        self.history = history

    def __call__(self, y, budgets, reports, sign=1.0):
        h = self.history
        longest = float(h.budget[: h.n].max(initial=0))
        return rank_final(y, budgets, reports, sign, longest=longest)
