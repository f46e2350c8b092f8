"""The multi-fidelity rule on curves shaped like LCBench's (budgets.rank_by_rungs)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers.problems import SPACE

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


def test_trusting_every_rung_judges_trials_at_the_step_they_reached():
    from functools import partial

    from tpe_plugins.budgets import FULL, flatten, rank_by_rungs

    def budget_order(*args):  # the quantile variant: every rung trusted
        return partial(rank_by_rungs, min_agreement=-2)(*args)[0]

    # four trials ran 9 steps; one stopped at step 3 after losing there; one ended at step 3
    # with the best value of all at that step (a plateau stopper)
    y = np.array([0.5, 0.6, 0.7, 0.8, 2.0, 0.2])
    budgets = np.array([9, 9, 9, 9, 3, 3])
    curves = [{3: 1.0, 9: 0.5}, {3: 1.1, 9: 0.6}, {3: 1.2, 9: 0.7}, {3: 1.3, 9: 0.8},
              {3: 2.0}, {3: 0.2}]
    order = list(budget_order(y, budgets, flatten(curves)))
    assert order[0] == 5 and order[-1] == 4
    assert order[1:5] == [0, 1, 2, 3]
    # a trial told without a curve (a warm start) ran in full: it ranks with the longest
    with_warm = list(budget_order(np.append(y, [0.55, 0.1]), np.append(budgets, [FULL, FULL]),
                                  flatten(curves + [{}, {}])))
    assert with_warm[0] == 7 and with_warm.index(6) == with_warm.index(0) + 1
    # one budget (or none): the plain order of the values, ties kept in order
    same = np.full(4, FULL)
    assert list(budget_order(np.array([3.0, 1.0, 2.0, 1.0]), same, flatten([{}] * 4))) == [
        1, 3, 2, 0]


def test_a_reported_curve_changes_the_suggestions():
    def run(curve_of_trial_6: dict) -> list:
        # six trials ran 3 steps, and their step-1 values rank them as their finals do, so
        # step 1 is trusted; trial 6 stopped at step 1
        opt = tp.TPE({"x": tp.Float(0, 1), "y": tp.Float(0, 1)}, seed=0, n_startup_trials=7)
        for i, t in enumerate(opt.ask(7)):
            curve = curve_of_trial_6 if i == 6 else {s: 1.0 + i + 1 / s for s in (1, 2, 3)}
            for step, v in curve.items():
                opt.report(t, step, v)
            opt.tell(t, curve[max(curve)])
        return [opt.ask().params for _ in range(3)]

    # trial 6 stopped at step 1 with a poor value, or with the best value there
    assert run({1: 9.0}) != run({1: 0.1})


def test_the_bohb_variant_fits_on_the_largest_budget_with_enough_trials():
    from tpe_plugins.budgets import flatten, largest_budget_order

    y = np.array([0.5, 0.9, 0.2, 0.4, 0.3])  # final values; trials 2-4 stopped at step 1
    budgets = np.array([3, 3, 1, 1, 1])
    reports = flatten([{1: 0.8, 2: 0.6, 3: 0.5}, {1: 1.0, 3: 0.9}, {1: 0.2}, {1: 0.4},
                       {1: 0.3}])
    # two trials reached step 3: with min_points 2 only they are modelled, by value there
    assert list(largest_budget_order(y, budgets, reports, 1.0, 2)) == [0, 1]
    # with min_points 3 the largest budget with enough trials is step 1: all five, by value
    # at step 1 (0.8, 1.0, 0.2, 0.4, 0.3)
    assert list(largest_budget_order(y, budgets, reports, 1.0, 3)) == [2, 4, 3, 0, 1]
    with pytest.raises(TypeError, match="unknown TPE setting"):
        tp.TPE(SPACE, fidelity="largest_budget")  # a benchmark variant, not a setting
