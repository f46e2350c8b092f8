"""Ranking finished trials that stopped at different budgets (steps of their learning curves).

Why this rule (`rank_by_rungs`): on real learning curves an early ranking often does not predict
the final one. On LCBench's tune tasks the rank correlation between epoch 1 and epoch 52 is
-0.07 to 0.37; at epoch 9 it is 0.63 to 0.98. A model that trusts every rung (the quantile rule
this module had before, kept in benchmarks/) chases early noise, and TPE with successive halving
then did worse than random search with it. So the data decide which rungs to trust: a rung is
used only while its ranking agrees with the top rung's (Spearman correlation over the trials that
reached both) at least `min_agreement`. Trials judged at trusted rungs are ranked by the quantile
of their value among the trials that reached the same rung; trials that stopped below every
trusted rung are only repellers (narrow kernels in g(x)), as a stopped trial was before
multi-fidelity. Ray Tune does not say whether a scheduler stopped a trial, so the rule reads only
the budgets. When every trial has the same budget (no curves, or curves of one length) the order
is the plain order of the values, so sequential TPE is unchanged.

`benchmarks/lcbench.py` chose it on LCBench's tune tasks against the alternatives it keeps as
private variants (`RULES`).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

FULL = np.iinfo(np.int64).max  # the budget of a trial told without any intermediate value;
# next to trials with curves, it counts as having reached the longest of them


def largest_budget_order(y: np.ndarray, budgets: np.ndarray,
                         reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float,
                         min_points: int) -> np.ndarray:
    """BOHB's rule, a variant kept for benchmarks/lcbench.py: only the trials that reached the
    largest budget reached by at least `min_points` of them, best first by their value there;
    the others are left out of the model. With fewer such trials at every budget, the lowest."""
    finite = ~np.isnan(y)
    curved = budgets != FULL
    if curved.any():
        budgets = np.where(curved, budgets, budgets[curved].max())
    levels = np.unique(budgets[finite])
    if len(levels) <= 1:
        return np.lexsort((np.arange(len(y)), y))
    values = _values_at(y, budgets, reports, sign, levels)
    counts = (~np.isnan(values)).sum(axis=0)
    enough = np.flatnonzero(counts >= min_points)
    column = values[:, enough[-1] if len(enough) else 0]
    reached = np.flatnonzero(~np.isnan(column))
    return reached[np.lexsort((reached, column[reached]))]


def _values_at(y: np.ndarray, budgets: np.ndarray,
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


def flatten(curves: list[dict[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`reports` for `rank_by_rungs` from one {step: value} dict per trial (for callers that
    hold curves as dicts; the optimiser keeps its reports flat)."""
    pos = [j for j, c in enumerate(curves) for _ in c]
    steps = [s for c in curves for s in c]
    values = [v for c in curves for v in c.values()]
    return (np.array(pos, dtype=np.int64), np.array(steps, dtype=np.int64),
            np.array(values, dtype=float))


MIN_PAIRS = 5  # trials that reached both a rung and the top before the rung's agreement counts
MIN_AGREEMENT = 0.5


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
    curved = budgets != FULL
    if curved.any():
        budgets = np.where(curved, budgets, budgets[curved].max())
    levels = np.unique(budgets[finite])
    if len(levels) <= 1:
        return np.lexsort((np.arange(len(y)), y)), np.zeros(0, dtype=np.int64)
    values = _values_at(y, budgets, reports, sign, levels)
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
    curved = budgets != FULL
    if curved.any():
        budgets = np.where(curved, budgets, budgets[curved].max())
    order = np.lexsort((finite, y[finite], -budgets[finite].astype(float)))
    return finite[order], np.zeros(0, dtype=np.int64)


def rank_final(y: np.ndarray, budgets: np.ndarray,
               reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float = 1.0,
               min_top: int = 0, stopped_bad: bool = True) -> tuple:
    """(ranked, stopped, n_judged): the trials at the top budget by their values, then (with
    stopped_bad) every trial stopped below it, which can only be bad: the good group is drawn
    from the first n_judged. Fewer than min_top trials at the top: nothing ranked, so the
    optimiser keeps drawing start-up points."""
    finite = ~np.isnan(y)
    curved = budgets != FULL
    if curved.any():
        budgets = np.where(curved, budgets, budgets[curved].max())
    top = np.flatnonzero(finite & (budgets == budgets[finite].max()))
    none = np.zeros(0, dtype=np.int64)
    if len(top) < min_top:
        return none, none, 0
    top = top[np.lexsort((top, y[top]))]
    below = np.flatnonzero(finite & (budgets < budgets[finite].max()))
    if stopped_bad:
        return np.concatenate([top, below]), none, len(top)
    return top, below, len(top)
