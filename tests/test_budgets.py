"""The multi-fidelity rule on curves shaped like LCBench's (budgets.rank_final)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.problems import SPACE

import tpe_plugins as tp
from tpe_plugins.budgets import FULL, MIN_TOP, flatten, rank_final

EPOCHS = np.arange(1, 53)


def lcbench_curve(x: float) -> np.ndarray:
    """Validation error over 52 epochs. Small x: a slow starter (high error for the first
    epochs, ends best); large x: a fast starter that plateaus early at a worse error. Ranks at
    epoch 1 run against those at epoch 52, as on LCBench's tasks where early ranks mislead."""
    tau = 1.0 + 20.0 * (1.0 - x)  # how many epochs the curve needs
    start, end = 90.0 - 60.0 * x, 10.0 + 20.0 * x
    return end + (start - end) * np.exp(-(EPOCHS - 1) / tau)


def curve(x: float, epochs: int = 52) -> dict[int, float]:
    """The first `epochs` epochs of lcbench_curve(x): a trial stopped there, or trained in full."""
    return {int(e): float(v) for e, v in zip(EPOCHS[:epochs], lcbench_curve(x)[:epochs],
                                             strict=True)}


def arrays(curves: list[dict[int, float]]):
    """(y, budgets, reports) as the optimiser hands them to the rule."""
    y = np.array([c[max(c)] for c in curves])
    budgets = np.array([max(c) for c in curves])
    return y, budgets, flatten(curves)


def test_a_slow_starter_that_ends_best_ranks_above_a_fast_starter_that_plateaus():
    xs_full = np.linspace(0.05, 0.95, 10)  # epoch 1 ranks them in reverse of epoch 52
    # the ten trained in full; two cut at epoch 1 (x=0.99 has the best epoch-1 error of all);
    # one let through epoch 1 and cut at epoch 3
    y, budgets, reports = arrays([curve(x) for x in xs_full] + [curve(0.99, 1), curve(0.5, 1),
                                                                curve(0.7, 3)])
    fast, late = 10, 12
    ranked, stopped, n_judged = rank_final(y, budgets, reports)
    assert ranked[0] == 0  # the slowest starter, which ends best
    assert list(ranked[:n_judged]) == list(range(len(xs_full)))  # the full ones by final error
    assert list(ranked[n_judged:]) == [late] and len(stopped) == 0  # bad, a full kernel in g(x)
    # cut at epoch 1 of 52 (near-random ranks on LCBench): in neither group
    assert fast not in ranked and fast + 1 not in ranked
    # at epoch 1 the fast starter led everyone: a rule that judged it there put it first
    assert y[fast] < min(curve(x)[1] for x in xs_full)
    # the share of the curve counts, not the rung: on 10-epoch curves an epoch-1 cut is bad
    y, budgets, reports = arrays([curve(x, 10) for x in xs_full[:5]] + [curve(0.05, 1)])
    ranked, _, n_judged = rank_final(y, budgets, reports)
    assert n_judged == 5 and list(ranked[n_judged:]) == [5]


def test_before_five_trials_reach_the_top_the_trials_are_judged_at_a_late_rung():
    # synchronous successive halving, two brackets: 81 trials cut at epoch 1, 27 at 3, 9 at 9,
    # 3 at 27, one trained in full per bracket; here the survivors of each rung, with 2 at the
    # top and 6 that reached epoch 27 (the 4 cut there and the 2 that went on)
    xs = np.linspace(0.05, 0.95, 8)
    full, at27 = [curve(x) for x in xs[:2]], [curve(x, 27) for x in xs[2:6]]
    y, budgets, reports = arrays(full + at27 + [curve(x, 9) for x in xs[6:]] + [curve(0.9, 1)])
    ranked, _, n_judged = rank_final(y, budgets, reports)
    assert n_judged == 6  # all that reached epoch 27, the full ones by their epoch-27 error
    at27_errors = [lcbench_curve(x)[26] for x in xs[:6]]
    assert list(ranked[:n_judged]) == list(np.argsort(at27_errors))
    assert ranked[0] != 0  # on one scale: trial 0's final error (the best) is not compared
    assert list(ranked[n_judged:]) == [6, 7]  # cut at epoch 9: bad; epoch 1: in neither group
    # epoch 9 is below half the top: until 5 reach epoch 27, still the start-up
    y, budgets, reports = arrays(full + [curve(x, 27) for x in xs[2:4]]
                                 + [curve(x, 9) for x in xs])
    assert rank_final(y, budgets, reports)[2] == 0
    # curves reported sparsely (every 10th step, say): the one trial beyond epoch 30 has no
    # value there, so it is not judged; the five at epoch 30 are
    curves = [{30: 1.0 + i} for i in range(5)] + [{52: 0.5}, {10: 3.0}]
    ranked, _, n_judged = rank_final(*arrays(curves))
    assert n_judged == 5 and list(ranked) == [0, 1, 2, 3, 4, 5, 6]


def test_a_running_trial_further_along_moves_the_top():
    # five trials finished 9 epochs, but one still running has reached epoch 27: the top is
    # 27, so none of the five is at it, and epoch 9 is below half of it (start-up)
    y, budgets, reports = arrays([curve(x, 9) for x in np.linspace(0.1, 0.9, 5)]
                                 + [curve(0.5, 1)])
    assert rank_final(y, budgets, reports)[2] == 5
    assert rank_final(y, budgets, reports, longest=27)[2] == 0


def test_a_trial_its_own_stopper_ended_on_the_best_value_stays_good():
    # five trials ran 9 steps; one ended at step 4 on a plateau better than all of them (a
    # stopper or early stopping, not a scheduler: schedulers cut losers); one lost at step 3
    curves = [{9: 0.5 + 0.1 * i} for i in range(5)] + [{4: 0.2}, {3: 2.0}]
    y = np.array([c[max(c)] for c in curves])
    budgets = np.array([max(c) for c in curves])
    ranked, _, n_judged = rank_final(y, budgets, flatten(curves))
    assert list(ranked[:n_judged]) == [5, 0, 1, 2, 3, 4] and list(ranked[n_judged:]) == [6]


def test_the_model_waits_for_enough_trials_at_the_top():
    curves = [{1: 1.0, 9: 0.1}, {1: 2.0, 9: 0.2}, {1: 0.5}, {1: 0.7}]
    y = np.array([c[max(c)] for c in curves])
    budgets = np.array([max(c) for c in curves])
    ranked, _, n_judged = rank_final(y, budgets, flatten(curves))
    assert len(ranked) == 0 and n_judged == 0 and MIN_TOP > 2  # still the start-up
    # one budget (no curves, or curves of one length): the plain order, ties oldest first
    same = np.full(4, FULL)
    ranked, _, n_judged = rank_final(np.array([3.0, 1.0, 2.0, 1.0]), same, flatten([{}] * 4))
    assert list(ranked) == [1, 3, 2, 0] and n_judged == 4
    # a trial told without a curve (a warm start) ran in full: it counts at the top
    y = np.array([0.5, 0.6, 0.7, 0.8, 2.0, 0.1])
    budgets = np.array([9, 9, 9, 9, 3, FULL])
    ranked, _, n_judged = rank_final(y, budgets, flatten([{9: v} for v in y[:4]] + [{3: 2.0},
                                                                                   {}]))
    assert list(ranked[:n_judged]) == [5, 0, 1, 2, 3] and list(ranked[n_judged:]) == [4]


def test_the_optimizer_follows_slow_starters_not_early_leaders():
    opt = tp.TPE({"x": tp.Float(0.0, 1.0)}, seed=0, n_startup_trials=5, local_fraction=0.0)
    rng = np.random.default_rng(0)
    for x in rng.uniform(0.0, 1.0, 20):
        curve = lcbench_curve(x)
        opt.add_trial({"x": float(x)}, float(curve[-1]),
                      intermediate={int(e): float(v) for e, v in zip(EPOCHS, curve,
                                                                     strict=True)})
    for x in rng.uniform(0.6, 1.0, 60):  # early leaders, stopped at epoch 1
        first = float(lcbench_curve(x)[0])
        opt.add_trial({"x": float(x)}, first, state="pruned", intermediate={1: first})
    asks = np.array([opt.ask().params["x"] for _ in range(20)])
    assert np.median(asks) < 0.35  # where the best final errors are
    assert np.mean(asks > 0.6) <= 0.15  # not after the early leaders


def test_a_reported_curve_changes_the_suggestions():
    def run(curve_of_trial_6: dict) -> list:
        # six trials ran 3 steps; trial 6 stopped at step 1, and is bad unless its value
        # there beats every trial that ran in full (a plateau its own stopper ended)
        opt = tp.TPE({"x": tp.Float(0, 1), "y": tp.Float(0, 1)}, seed=0, n_startup_trials=7)
        for i, t in enumerate(opt.ask(7)):
            curve = curve_of_trial_6 if i == 6 else {s: 1.0 + i + 1 / s for s in (1, 2, 3)}
            for step, v in curve.items():
                opt.report(t, step, v)
            opt.tell(t, curve[max(curve)])
        return [opt.ask().params for _ in range(3)]

    # trial 6 stopped at step 1 with a poor value, or with the best value there
    assert run({1: 9.0}) != run({1: 0.1})


def test_the_rule_variants_are_not_settings():
    with pytest.raises(TypeError, match="unknown TPE setting"):
        tp.TPE(SPACE, fidelity="largest_budget")  # a benchmark variant, not a setting
