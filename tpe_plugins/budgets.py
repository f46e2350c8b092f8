"""Ranking finished trials that stopped at different budgets (steps of their learning curves).

Why: a trial stopped early by a scheduler or a pruner and a trial ended early by its own
stopping rule look alike to a searcher; Ray Tune does not say which one it was. So the model
does not rely on that label. Each trial is judged where it stopped: by the quantile of its
value among the values that every trial reaching that step had there. A trial that lost at its
rung ranks low; one that ended early with a value better than its peers' at that step ranks
high. When every trial has the same budget (no curves, or curves of one length) the order is
the plain order of the values, so sequential TPE is unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

FULL = np.iinfo(np.int64).max  # the budget of a trial told without any intermediate value;
# next to trials with curves, it counts as having reached the longest of them


def budget_order(y: np.ndarray, budgets: np.ndarray,
                 reports: tuple[np.ndarray, np.ndarray, np.ndarray],
                 sign: float = 1.0) -> np.ndarray:
    """Indices of finished trials from best to worst (minimisation).

    y: final values (NaN for a trial stopped before it had one). budgets: the last step of each
    trial's curve, FULL for none. reports: the intermediate values as three flat arrays (the
    trial's index into y, the step, the value, in the order they were reported), read only
    when budgets differ; `sign` turns the values into y's sign.
    """
    finite = ~np.isnan(y)
    curved = budgets != FULL
    if curved.any():  # a trial told without a curve ran in full: as far as the longest curve
        budgets = np.where(curved, budgets, budgets[curved].max())
    levels = np.unique(budgets[finite])
    if len(levels) <= 1:
        return np.lexsort((np.arange(len(y)), y))  # stable sort by value, NaN last
    values = _values_at(y, budgets, reports, sign, levels)  # (n, L), NaN where not reached
    quantile = np.full(len(y), np.inf)
    level_of = np.searchsorted(levels, budgets)
    for t in range(len(levels)):  # one pass per level (rung), not per observation
        column = values[:, t]
        reached = ~np.isnan(column)
        ranks = rankdata(column[reached])  # average ranks for ties
        q = np.full(len(y), np.nan)
        q[reached] = (ranks - 0.5) / reached.sum()
        mine = (level_of == t) & finite
        quantile[mine] = q[mine]
    return np.lexsort((y, -budgets.astype(float), quantile))


def largest_budget_order(y: np.ndarray, budgets: np.ndarray,
                         reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float,
                         min_points: int) -> np.ndarray:
    """BOHB's rule, the alternative to `budget_order`: only the trials that reached the largest
    budget reached by at least `min_points` of them, best first by their value there; the
    others are left out of the model. With fewer such trials at every budget, the lowest."""
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
    """`reports` for `budget_order` from one {step: value} dict per trial (for callers that
    hold curves as dicts; the optimiser keeps its reports flat)."""
    pos = [j for j, c in enumerate(curves) for _ in c]
    steps = [s for c in curves for s in c]
    values = [v for c in curves for v in c.values()]
    return (np.array(pos, dtype=np.int64), np.array(steps, dtype=np.int64),
            np.array(values, dtype=float))
