"""Ranking finished trials that stopped at different budgets (steps of their learning curves).

Why this rule (`rank_final`): on real learning curves an early ranking often does not predict
the final one. On LCBench's tune tasks the rank correlation between epoch 1 and epoch 52 is
-0.07 to 0.37 (at epoch 9, 0.63 to 0.98), so a model that takes a trial stopped at an early rung
as good chases noise: with that rule (the quantile rule this module had) TPE with successive
halving did worse than random search with it. Here only trials that reached the top budget can
be good, ranked by their values there (and a trial that ended below it with a value better than
all of them: a plateau that a user's stopper ended, not a scheduler's cut); a trial stopped
below the top is bad, a full kernel in g(x), so the search moves away from where the scheduler
stops trials, unless it stopped within the first 5% of the longest curve: a cut at epoch 1 of
52 (ASHA's first rung with a grace period of 1, two thirds of its trials) is about as
informative as a coin, so those trials are in neither group; and until MIN_TOP trials have
reached the top, the trials are judged at the highest rung that MIN_TOP of them reached if it is
at least half the top (`rank_at_rung`), else the optimiser keeps drawing start-up (Sobol)
points, so the first few trials a scheduler lets through do not pin the model.
Ray Tune does not say whether a scheduler stopped a trial, so the rule reads only the budgets.
When every trial has the same budget (no curves, or curves of one length) the order is the plain
order of the values: sequential TPE is unchanged.

`benchmarks/lcbench.py` chose it on LCBench's 25 tune tasks (ASHA, 20 full trainings, 10
seeds: regret 0.79 of random + ASHA's, against 1.30 for the quantile rule, 1.22 for trusting
rungs whose ranking agrees with the top's, 1.04 for final values with stopped trials as narrow
repellers). Leaving the earliest cuts out came later (grace period 1; 100 trainings, 10 seeds:
0.31 against 0.47 with 1 worker, 0.40 against 0.50 with 8, better on 19 of 25 tasks in both;
20 trainings, 25 seeds: 0.76 against 0.81 with 1 worker, level with 8). Leaving out every cut
at the lowest rung instead lost under a grace period of 3 (epoch 3 ranks far better than
epoch 1): 0.43 against 0.34 with 1 worker at 100 trainings. Judging at a late rung before
MIN_TOP trials reach the top came last (20 trainings, 5 seeds: synchronous SHA 0.80 against
1.00, Hyperband 0.58 against 0.79, ASHA 0.64 against 0.69 with 1 worker and 0.82 against 0.87
with 8). The losing rules live in benchmarks/mf_rules.py.
"""

from __future__ import annotations

import numpy as np

FULL = np.iinfo(np.int64).max  # the budget of a trial told without any intermediate value;
# next to trials with curves, it counts as having reached the longest of them
MIN_TOP = 5  # trials at the top budget before the model starts (BOHB waits for D + 2)
EARLY = 0.05  # share of the longest curve before which a stopped trial counts in neither group
RUNG = 0.5  # before MIN_TOP trials reach the top, judge at a rung of at least this share of it


def top_budgets(budgets: np.ndarray) -> np.ndarray:
    """Budgets with FULL (no curve) read as the longest curve: a trial told without
    intermediate values ran in full."""
    curved = budgets != FULL
    if curved.any():
        return np.where(curved, budgets, budgets[curved].max())
    return budgets


def plain_order(y: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
    """Positions of y by value, the oldest (lowest position) first among equals.

    hint: that order of the first len(hint) positions, from an earlier call when the later
    positions were not there yet. The later ones are appended to it and the nearly sorted whole
    is sorted again (stably, so the result is the same): about 5 us instead of 26 us for 1,000
    values, since numpy's stable sort runs in near-linear time on nearly sorted input.
    """
    if hint is None:
        return np.argsort(y, kind="stable")
    order = np.concatenate([hint, np.arange(len(hint), len(y))])
    return order[np.argsort(y[order], kind="stable")]


def rank_final(y: np.ndarray, budgets: np.ndarray,
               reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float = 1.0,
               min_top: int = MIN_TOP, hint: np.ndarray | None = None,
               longest: float = 0.0) -> tuple[np.ndarray, np.ndarray, int]:
    """(ranked, stopped, n_judged) for the split (split.good_and_bad): the judged trials best
    first, then every other finished trial; the good group is drawn from the first n_judged.

    Judged: the trials at the top budget, and a trial that ended below it with a value better
    than every trial at the top (a user's stopper or early stopping ended it on a plateau: a
    scheduler cuts losers). Every other trial that stopped below the top is bad, except those
    stopped before EARLY of the longest curve (ASHA's first rung, epoch 1 of 52), which are in
    neither group. Nothing repels narrowly (stopped is empty). With curves of different
    lengths and fewer than `min_top` trials at the top, the trials are judged at a lower rung
    instead (`rank_at_rung`), or not at all (start-up points). hint: see `plain_order`
    (used when every trial has the same budget). longest: a budget some trial (a running
    one, say) has reached; the top is never below it.
    """
    none = np.zeros(0, dtype=np.int64)
    finite = ~np.isnan(y)
    if not finite.any():
        return none, none, 0
    if finite.all() and (budgets == budgets[0]).all():  # one budget (no curves): by value
        return plain_order(y, hint), none, len(y)
    budgets = top_budgets(budgets)
    top = max(budgets[finite].max(), longest)
    at_top = finite & (budgets == top)
    below = finite & ~at_top
    if below.any() and at_top.sum() < min_top:
        return rank_at_rung(y, budgets, reports, sign, top, min_top)
    judged = at_top | (below & (y < y[at_top].min()))
    first = judged.nonzero()[0]
    first = first[np.argsort(y[first], kind="stable")]  # by value, the oldest first among equals
    # cut in the first EARLY of training (epoch 1 of 52): it says next to nothing, in neither group
    bad = finite & ~judged & (budgets >= EARLY * top)
    return np.concatenate([first, bad.nonzero()[0]]), none, len(first)


def rank_at_rung(y: np.ndarray, budgets: np.ndarray,
                 reports: tuple[np.ndarray, np.ndarray, np.ndarray], sign: float, top: float,
                 min_top: int = MIN_TOP, floor: float = RUNG, early: float = EARLY
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """`rank_final`'s answer while fewer than min_top trials reached the top: the trials judged
    at the highest budget that min_top of them reached, if it is at least `floor` of the top,
    by their values there (their last report up to it); every other one bad, or in neither
    group if cut before `early` of the top. Below `floor` of the top: nothing ranked
    (start-up). `budgets` as `top_budgets` gives them. (benchmarks/mf_rules.py's ladder
    variants call it with other floors and at every count at the top.)

    Why: synchronous successive halving lets one trial in 81 reach the top, so with 20 full
    trainings' worth of epochs fewer than 5 ever do, and waiting for them left TPE drawing
    start-up points to the end (regret 1.00 of random + SHA's on the tune tasks; judging at
    epoch 27, 0.80; Hyperband 0.58 against 0.79; ASHA 0.64 against 0.69 with 1 worker).
    Epoch 27 ranks the final errors far better than the early rungs, whose ranking this does
    not trust (RUNG; a floor of 0.15, epoch 9, lost with 8 workers).
    """
    none = np.zeros(0, dtype=np.int64)
    finite = ~np.isnan(y)
    reached = np.sort(budgets[finite])
    levels = np.unique(reached[reached >= floor * top])
    counts = len(reached) - np.searchsorted(reached, levels)  # trials at or beyond each level
    enough = levels[counts >= min_top]
    if len(enough) == 0:
        return none, none, 0
    level = enough[-1]
    value = np.where(finite & (budgets == level), y, np.nan)
    pos, steps, vals = reports
    passed = finite & (budgets > level)  # their last report at a step up to the level
    mine = passed[pos] & (steps <= level)
    pos, steps, vals = pos[mine], steps[mine], vals[mine]
    order = np.lexsort((np.arange(len(pos)), steps, pos))  # by trial, step, report order
    pos, vals = pos[order], vals[order]
    if len(pos):  # none where the trials beyond the level reported only after it
        last = np.append(pos[1:] != pos[:-1], True)
        value[pos[last]] = sign * vals[last]
    judged = ~np.isnan(value)
    first = judged.nonzero()[0]
    first = first[np.argsort(value[first], kind="stable")]
    bad = finite & ~judged & (budgets >= early * top)
    return np.concatenate([first, bad.nonzero()[0]]), none, len(first)


def flatten(curves: list[dict[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`reports` for the rank rules from one {step: value} dict per trial (for callers that
    hold curves as dicts; the optimiser keeps its reports flat)."""
    pos = [j for j, c in enumerate(curves) for _ in c]
    steps = [s for c in curves for s in c]
    values = [v for c in curves for v in c.values()]
    return (np.array(pos, dtype=np.int64), np.array(steps, dtype=np.int64),
            np.array(values, dtype=float))


MIN_PAIRS = 5  # trials that reached both a rung and the top before the rung's agreement counts
MIN_AGREEMENT = 0.5
