"""Several objectives in the core: mode lists, tell with one value per objective, pareto."""

import json
import math

import numpy as np
import pytest

import tpe_plugins as tp
from tpe_plugins.pareto import front_ranks, good_mask, hypervolume
from tpe_plugins.settings import _Variants

ZDT_SPACE = {f"x{i}": tp.Float(0.0, 1.0) for i in range(5)}


def zdt1(p: dict) -> list[float]:
    """Two objectives to minimise; the front is f2 = 1 - sqrt(f1) where x1..x4 = 0."""
    f1 = p["x0"]
    g = 1.0 + 9.0 * np.mean([p[f"x{i}"] for i in range(1, 5)])
    return [f1, g * (1.0 - math.sqrt(f1 / g))]


def front_volume(values: list[list[float]]) -> float:
    return hypervolume(np.array(values), np.array([1.1, 11.0]))


def test_two_objectives_beat_random_search_on_hypervolume():
    """On ZDT1 the front found in 100 trials dominates more than random search's 100 trials.
    (On some seeds it still crowds near f1 = 0: see README, known limitations.)"""
    wins = 0
    for seed in range(5):
        opt = tp.TPE(ZDT_SPACE, mode=["min", "min"], seed=seed)
        for _ in range(100):
            t = opt.ask()
            opt.tell(t, zdt1(t.params))
        rnd = np.random.default_rng(seed)
        random_values = [zdt1({f"x{i}": float(v) for i, v in enumerate(rnd.random(5))})
                         for _ in range(100)]
        front = [t.value for t in opt.pareto]
        wins += front_volume(front) > front_volume(random_values)
        assert len(front) >= 3  # a front, not one point
    assert wins >= 4


def test_min_and_max_objectives_in_the_callers_sign():
    opt = tp.TPE({"x": tp.Float(0, 1)}, mode=["min", "max"], seed=0, n_startup_trials=3)
    told = {}
    for x in (0.1, 0.5, 0.9, 0.3):
        opt.enqueue({"x": x})
        t = opt.ask()
        told[x] = [x, x * x]  # min x, max x^2: every point trades one for the other
        opt.tell(t, told[x])
    assert sorted(t.value for t in opt.pareto) == sorted(told.values())
    dominated = opt.ask()
    opt.tell(dominated, [0.95, 0.0])  # worse on both than x = 0.9 ... and x = 0.1
    assert dominated.id not in {t.id for t in opt.pareto}
    assert opt.trial(dominated.id).value == [0.95, 0.0]


def test_state_round_trip_with_two_objectives_continues_exactly():
    opt = tp.TPE(ZDT_SPACE, mode=["min", "min"], seed=1)
    for _ in range(20):
        t = opt.ask()
        opt.tell(t, zdt1(t.params))
    pending = opt.ask()
    restored = tp.TPE.from_state_dict(json.loads(json.dumps(opt.state_dict())))
    assert [t.value for t in restored.trials] == [t.value for t in opt.trials]
    restored.tell(pending.id, zdt1(pending.params))
    opt.tell(pending, zdt1(pending.params))
    assert [restored.ask().params for _ in range(3)] == [opt.ask().params for _ in range(3)]


def test_minimize_returns_the_front():
    result = tp.minimize(zdt1, ZDT_SPACE, n_trials=30, seed=0, mode=["min", "min"])
    assert result.best_params is None and result.best_value is None
    assert result.pareto and all(t.state == "complete" for t in result.pareto)
    assert len(result.trials) == 30


def test_bad_multi_objective_input_gets_clear_errors():
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', or a list of them"):
        tp.TPE(ZDT_SPACE, mode=["min", "maximise"])
    opt = tp.TPE(ZDT_SPACE, mode=["min", "max"], seed=0)
    t = opt.ask()
    with pytest.raises(ValueError, match="expected 2 values"):
        opt.tell(t, [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="give 2 values, one per objective"):
        opt.tell(t, 1.0)
    with pytest.warns(RuntimeWarning, match="objective 1 is nan; recorded as failed"):
        assert opt.tell(t, [1.0, float("nan")]).state == "failed"
    t = opt.ask()
    with pytest.raises(ValueError, match=r"learning curves \(report\) needs a single"):
        opt.report(t, 1, 0.5)
    with pytest.raises(ValueError, match="pruning needs a single objective"):
        opt.prune(t)
    with pytest.raises(ValueError, match="use pareto"):
        _ = opt.best
    assert opt.pareto == []


def test_fronts_hypervolume_and_the_good_group():
    Y = np.array([[1, 5], [2, 3], [3, 2], [5, 1], [2, 5], [4, 4], [6, 6]], dtype=float)
    assert list(front_ranks(Y)) == [0, 0, 0, 0, 1, 1, 2]
    assert hypervolume(Y[:4], np.array([6.0, 6.0])) == pytest.approx(17.0)
    P = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    assert hypervolume(P, np.array([2.0, 2.0, 2.0])) == pytest.approx(5.0)
    # the whole first front fits in 5: it is good, plus one of the second front by volume
    mask = good_mask(Y, 5)
    assert mask[:4].all() and mask[4:6].sum() == 1 and not mask[6]
    # a front cut to 2 of 3: the middle point adds least volume next to two close neighbours
    Y = np.array([[0.0, 1.0], [0.5, 0.49], [0.52, 0.48], [1.0, 0.0]])
    assert list(good_mask(Y, 3)) in ([True, True, False, True], [True, False, True, True])


def constrained(p: dict) -> tuple[float, list[float]]:
    """Minimise the distance to (0.8, 0.8) with x + y <= 1: the optimum is (0.5, 0.5), 0.18."""
    x, y = p["x"], p["y"]
    return (x - 0.8) ** 2 + (y - 0.8) ** 2, [x + y - 1.0]


def test_constraints_steer_the_search_to_the_feasible_optimum():
    space = {"x": tp.Float(0, 1), "y": tp.Float(0, 1)}
    gaps = []
    for seed in range(4):
        opt = tp.TPE(space, seed=seed)
        for _ in range(60):
            t = opt.ask()
            value, c = constrained(t.params)
            opt.tell(t, value, constraints=c)
        assert opt.best.feasible and opt.best.constraints[0] <= 0
        late = np.array([[t.params["x"], t.params["y"]] for t in opt.trials[-20:]])
        # the search works at the boundary, by the feasible optimum (half of it infeasible)
        assert np.median(np.linalg.norm(late - 0.5, axis=1)) < 0.15
        gaps.append(opt.best.value - 0.18)
    assert np.median(gaps) < 0.01


def test_constraints_survive_a_round_trip_and_bad_ones_are_refused():
    opt = tp.TPE({"x": tp.Float(0, 1)}, seed=0)
    t = opt.ask()
    with pytest.raises(ValueError, match="constraint 0 is nan"):
        opt.tell(t, 1.0, constraints=[float("nan")])
    with pytest.raises(TypeError, match="constraints must be a list of numbers"):
        opt.tell(t, 1.0, constraints=0.5)
    with pytest.raises(ValueError, match="constraint_rule: use 'feasible_first' or 'ctpe'"):
        _Variants(constraint_rule="penalty")  # c-TPE is a benchmark-only variant
    with pytest.raises(TypeError, match="unknown TPE setting"):
        tp.TPE({"x": tp.Float(0, 1)}, constraint_rule="ctpe")
    opt.tell(t, 1.0, constraints=[0.5])  # infeasible: never the best
    opt.add_trial({"x": 0.2}, 2.0, constraints=[-1.0])
    assert opt.best.value == 2.0 and [p.value for p in opt.pareto] == [2.0]
    restored = tp.TPE.from_state_dict(json.loads(json.dumps(opt.state_dict())))
    assert [t.constraints for t in restored.trials] == [[0.5], [-1.0]]
    assert restored.best.id == opt.best.id
