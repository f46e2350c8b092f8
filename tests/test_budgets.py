"""The multi-fidelity rule on curves shaped like LCBench's (budgets.rank_by_rungs)."""

from __future__ import annotations

from functools import partial

import numpy as np

import tpe_plugins as tp
from tpe_plugins.budgets import flatten, rank_by_rungs

EPOCHS = np.arange(1, 53)


def lcbench_curve(x: float) -> np.ndarray:
    """Validation error over 52 epochs. Small x: a slow starter (high error for the first
    epochs, ends best); large x: a fast starter that plateaus early at a worse error. Ranks at
    epoch 1 run against those at epoch 52, as on LCBench's tasks where early ranks mislead."""
    tau = 1.0 + 20.0 * (1.0 - x)  # how many epochs the curve needs
    start, end = 90.0 - 60.0 * x, 10.0 + 20.0 * x
    return end + (start - end) * np.exp(-(EPOCHS - 1) / tau)


def trials(xs_full: np.ndarray, xs_stopped: np.ndarray):
    """Trials trained in full, then trials stopped at epoch 1 (as successive halving does)."""
    curves = [{int(e): float(v) for e, v in zip(EPOCHS, lcbench_curve(x), strict=True)}
              for x in xs_full]
    curves += [{1: float(lcbench_curve(x)[0])} for x in xs_stopped]
    y = np.array([c[max(c)] for c in curves])
    budgets = np.array([max(c) for c in curves])
    return y, budgets, flatten(curves)


def test_a_slow_starter_that_ends_best_ranks_above_a_fast_starter_that_plateaus():
    xs_full = np.linspace(0.05, 0.95, 10)  # epoch 1 ranks them in reverse of epoch 52
    y, budgets, reports = trials(xs_full, np.array([0.99, 0.5]))
    fast = len(xs_full)  # the best epoch-1 error of all, stopped there
    ranked, stopped = rank_by_rungs(y, budgets, reports)
    assert ranked[0] == 0  # the slowest starter, which ends best
    assert fast in stopped and fast not in ranked  # only a repeller
    assert list(ranked) == list(range(len(xs_full)))  # the full trials by their final error
    # trusting every rung (the rule this replaced) puts the fast starter first
    quantile_first = partial(rank_by_rungs, min_agreement=-2.0)(y, budgets, reports)[0][0]
    assert quantile_first == fast


def test_rungs_that_agree_with_the_top_are_trusted():
    # curves that keep their order: epoch 1 predicts epoch 52, so trials stopped at epoch 1
    # are judged there, and one with a poor epoch-1 value ranks below one with a good value
    curves = [{1: 1.0 + i, 52: 0.1 + i} for i in range(6)] + [{1: 0.5}, {1: 9.0}]
    y = np.array([c[max(c)] for c in curves])
    budgets = np.array([max(c) for c in curves])
    ranked, stopped = rank_by_rungs(y, budgets, flatten(curves))
    assert len(stopped) == 0
    assert list(ranked).index(6) < list(ranked).index(7)
    assert ranked[-1] == 7


def test_too_few_trials_at_the_top_trust_only_the_top():
    curves = [{1: 1.0, 52: 0.1}, {1: 2.0, 52: 0.2}, {1: 0.5}, {1: 0.7}]
    y = np.array([c[max(c)] for c in curves])
    budgets = np.array([max(c) for c in curves])
    ranked, stopped = rank_by_rungs(y, budgets, flatten(curves))
    assert list(ranked) == [0, 1] and sorted(stopped) == [2, 3]


def test_the_optimizer_follows_slow_starters_not_early_leaders():
    def suggestions(rule) -> np.ndarray:
        opt = tp.TPE({"x": tp.Float(0.0, 1.0)}, seed=0, n_startup_trials=5, local_fraction=0.0)
        opt._rank_rule = rule
        rng = np.random.default_rng(0)
        full = rng.uniform(0.0, 1.0, 20)
        stopped = rng.uniform(0.6, 1.0, 60)  # early leaders, stopped at epoch 1
        for x in full:
            curve = lcbench_curve(x)
            opt.add_trial({"x": float(x)}, float(curve[-1]),
                          intermediate={int(e): float(v) for e, v in zip(EPOCHS, curve,
                                                                         strict=True)})
        for x in stopped:
            first = float(lcbench_curve(x)[0])
            opt.add_trial({"x": float(x)}, first, state="pruned", intermediate={1: first})
        return np.array([opt.ask().params["x"] for _ in range(20)])

    trusted = suggestions(rank_by_rungs)
    every_rung = suggestions(partial(rank_by_rungs, min_agreement=-2.0))
    assert np.median(trusted) < 0.35  # where the best final errors are
    # trusting every rung sends asks after the early leaders
    assert np.mean(trusted > 0.6) + 0.2 <= np.mean(every_rung > 0.6)
