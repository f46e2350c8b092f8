"""The local quadratic step (tpe_plugins/local_step.py): when it is taken and where it lands."""

import math

import numpy as np
import pytest

import tpe_plugins as tp
from tpe_plugins import local_step


def slope(p: dict) -> float:
    """Hartmann3's trouble in miniature: the value falls along x while y and z must be exact."""
    return p["x"] + 20 * ((p["y"] - 0.5) ** 2 + (p["z"] - 0.5) ** 2)


def crawled(local_fraction: float, seed: int = 0) -> tp.TPE:
    """A history that has crawled down the slope from x = 0.9 to 0.7, y and z about right."""
    rng = np.random.default_rng(seed)
    opt = tp.TPE({k: tp.Float(0, 1) for k in "xyz"}, seed=seed, local_fraction=local_fraction)
    for x, dy, dz in zip(rng.uniform(0.7, 0.9, 30), *rng.normal(0, 0.03, (2, 30)), strict=True):
        p = {"x": float(x), "y": 0.5 + float(dy), "z": 0.5 + float(dz)}
        opt.add_trial(p, slope(p))
    return opt


def test_a_local_step_goes_far_down_a_slope_that_the_kernels_crawl():
    """With every ask a local step, the suggestion moves x past every trial so far, further
    than TPE's own draw from the same history (up to the trust region's edge, twice the best
    trials' spread), and puts y and z at their fitted optimum."""
    step, tpe = [], []
    for seed in range(6):
        opt = crawled(1.0, seed)
        lowest = min(t.params["x"] for t in opt.trials)
        p = opt.ask().params
        assert abs(p["y"] - 0.5) < 1e-6 and abs(p["z"] - 0.5) < 1e-6
        step.append(lowest - p["x"])
        tpe.append(lowest - crawled(0.0, seed).ask().params["x"])
    assert all(s > t for s, t in zip(step, tpe, strict=True))
    assert np.mean(step) > 0.15 and np.mean(tpe) < 0.1


def test_a_local_step_lands_at_the_bottom_of_a_bowl():
    space = {"a": tp.Float(0, 1), "b": tp.Float(1e-3, 1, log=True), "n": tp.Int(0, 100)}
    rng = np.random.default_rng(1)
    opt = tp.TPE(space, seed=0, local_fraction=1.0)

    def bowl(p):  # minimum at a = 0.3, b = 0.01 (log scale), n = 60
        return (p["a"] - 0.3) ** 2 + (math.log10(p["b"]) + 2) ** 2 / 9 + (p["n"] - 60) ** 2 / 1e4

    for a, lb, n in zip(rng.uniform(0.1, 0.5, 20), rng.uniform(-3, -1, 20),
                        rng.integers(40, 80, 20), strict=True):
        p = {"a": float(a), "b": float(10**lb), "n": int(n)}
        opt.add_trial(p, bowl(p))
    p = opt.ask().params
    assert abs(p["a"] - 0.3) < 1e-6 and abs(math.log10(p["b"]) + 2) < 1e-6 and p["n"] == 60


def test_concurrent_asks_take_one_local_step_per_state_of_the_finished_trials():
    """The step depends only on the finished trials, so while it runs the next ask would
    repeat it: that ask is a TPE suggestion instead. Once the step's result is in, the next
    step starts from it."""
    opt = crawled(1.0)
    lowest = min(t.params["x"] for t in opt.trials)
    step = opt.ask()
    beside = opt.ask()
    assert step.params["x"] < lowest - 0.1
    assert step.params["y"] == pytest.approx(0.5) and step.params["z"] == pytest.approx(0.5)
    assert beside.params["y"] != pytest.approx(0.5)  # a TPE draw, not the step again
    opt.tell(step, slope(step.params))
    assert opt.ask().params["x"] < step.params["x"] - 0.1


def test_a_batch_carries_one_local_step_as_often_as_that_many_single_asks_would():
    """ask(n) from one state of the finished trials: n single asks would take at most one
    step (the rest would repeat it), with chance 1 - (1 - local_fraction)^n. A batch does the
    same, and its other points are TPE draws that do not repeat the step."""
    def at_fit(t):  # y and z at the fitted optimum: the step, not a TPE draw
        return abs(t.params["y"] - 0.5) < 1e-9 and abs(t.params["z"] - 0.5) < 1e-9

    def has_step(trials):
        return any(at_fit(t) for t in trials)

    opt = crawled(1.0)
    lowest = min(t.params["x"] for t in opt.trials)
    batch = opt.ask(4)
    assert [at_fit(t) for t in batch] == [True, False, False, False]
    assert batch[0].params["x"] < lowest - 0.1

    seeds = range(40)
    batches = sum(has_step(crawled(0.2, seed).ask(8)) for seed in seeds)
    singles = sum(has_step([crawled(0.2, seed).ask()]) for seed in seeds)
    assert batches >= 25 and singles <= 16  # expected 33.3 (1 - 0.8^8) and 8 of 40


@pytest.mark.parametrize("case", ["categorical", "two_objectives"])
def test_local_steps_leave_the_search_as_it_was_where_they_do_not_apply(case):
    """A space without numeric parameters, or several objectives: the suggestions are exactly
    those of local_fraction=0 (the random draw that decides on a step is not even made)."""
    def build(fraction):
        if case == "categorical":
            space = {k: tp.Categorical(list("abcd")) for k in "uvw"}
            opt = tp.TPE(space, seed=0, local_fraction=fraction)
            for _ in range(40):
                t = opt.ask()
                opt.tell(t, sum("abcd".index(v) for v in t.params.values()))
            return opt
        if case == "two_objectives":
            opt = tp.TPE({k: tp.Float(0, 1) for k in "xy"}, seed=0, mode=["min", "min"],
                         local_fraction=fraction)
            for _ in range(40):
                t = opt.ask()
                opt.tell(t, [t.params["x"], (1 - t.params["x"]) + t.params["y"]])
            return opt
        raise AssertionError(case)

    plain, local = build(0.0), build(1.0)
    assert [t.params for t in plain.trials] == [t.params for t in local.trials]
    assert [plain.ask().params for _ in range(5)] == [local.ask().params for _ in range(5)]


def test_a_step_onto_a_tried_point_gives_way_to_a_tpe_suggestion():
    """At the bottom of an integer bowl the step would repeat the best trial, (10, 10): even
    with every ask a local step, the optimiser asks TPE instead of repeating it."""
    opt = tp.TPE({k: tp.Int(0, 20) for k in "ij"}, seed=0, local_fraction=1.0)
    for i in range(7, 14):
        for j in range(7, 14):
            opt.add_trial({"i": i, "j": j}, (i - 10) ** 2 + (j - 10) ** 2)
    rng = np.random.default_rng(0)
    h = opt.history
    assert local_step.propose(h, opt.space, 1.0, 0.02, rng) is None
    # the step the fit proposes is indeed the tried best, so it is the repeat that is refused
    top = np.argsort(h.y[: h.n], kind="stable")[: local_step.n_points(2)]
    step = local_step.quadratic_step(h.X[top], h.y[top], 0.02)
    assert opt.space.decode(opt.space.snap(step[None, :])[0]) == {"i": 10, "j": 10}
    asks = [opt.ask() for _ in range(5)]  # all pending: TPE draws beside each other
    assert sum(t.params == {"i": 10, "j": 10} for t in asks) <= 1
