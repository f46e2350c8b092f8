"""The ask/tell optimiser (tpe_plugins/optimizer.py): determinism, state, parallel asks,
start-up, failures and bad calls."""

import json
import warnings

import numpy as np
import pytest
from helpers.problems import SPACE, branin, objective, run

import tpe_plugins as tp


def test_same_seed_same_suggestions():
    a, b = tp.TPE(SPACE, seed=3), tp.TPE(SPACE, seed=3)
    run(a, 30)
    run(b, 30)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    c = tp.TPE(SPACE, seed=4)
    run(c, 30)
    assert [t.params for t in a.trials] != [t.params for t in c.trials]


def test_state_dict_round_trip_continues_exactly():
    opt = tp.TPE(SPACE, seed=0, mode="min")
    run(opt, 25)
    pending = opt.ask()
    opt.report(pending, 1, 3.0)
    opt.enqueue({**opt.trials[0].params})
    state = json.loads(json.dumps(opt.state_dict(), allow_nan=False))
    restored = tp.TPE.from_state_dict(state)
    assert [vars(t) for t in restored.trials] == [vars(t) for t in opt.trials]
    for _ in range(10):
        t1, t2 = opt.ask(), restored.ask()
        assert t1.params == t2.params
        opt.tell(t1, objective(t1.params))
        restored.tell(t2, objective(t2.params))
    restored.tell(pending.id, 1.0)
    assert restored.trial(pending.id).intermediate == {1: 3.0}


def test_corrupt_state_gets_a_clear_error():
    opt = tp.TPE(SPACE, seed=0)
    run(opt, 12)
    with pytest.raises(ValueError, match="not a tpe-plugins optimiser state"):
        tp.TPE.from_state_dict({"format": "something-else"})
    state = opt.state_dict()
    del state["X"]
    with pytest.raises(ValueError, match="corrupt tpe-plugins optimiser state"):
        tp.TPE.from_state_dict(state)
    state = opt.state_dict()
    state["X"][3] = state["X"][3][:-1]
    with pytest.raises(ValueError, match="trial 3 has"):
        tp.TPE.from_state_dict(state)


def test_mode_max_maximises():
    opt = tp.TPE({"x": tp.Float(0, 1)}, seed=0, mode="max")
    for _ in range(40):
        t = opt.ask()
        opt.tell(t, -((t.params["x"] - 0.7) ** 2))
    assert abs(opt.best.params["x"] - 0.7) < 0.05
    assert opt.best.value == max(t.value for t in opt.trials)


def test_failed_trials_are_kept_and_never_fit_as_numbers():
    opt = tp.TPE({"x": tp.Float(0, 1)}, seed=0, n_startup_trials=3)
    values = [None, float("nan"), float("inf"), 0.5, 0.2, 0.9]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for v in values:
            opt.tell(opt.ask(), v)
    assert len([w for w in caught if "recorded as failed" in str(w.message)]) == 2
    states = [t.state for t in opt.trials]
    assert states == ["failed"] * 3 + ["complete"] * 3
    assert opt.best.value == 0.2
    for _ in range(20):  # the model runs on the three finite values only
        t = opt.ask()
        assert 0 <= t.params["x"] <= 1
        opt.tell(t, abs(t.params["x"] - 0.3))


def batch_after_30(seed: int, constant_liar: bool) -> tuple[np.ndarray, np.ndarray]:
    opt = tp.TPE({"x": tp.Float(0, 1), "y": tp.Float(0, 1)}, seed=seed,
                 constant_liar=constant_liar)
    for _ in range(30):
        t = opt.ask()
        opt.tell(t, (t.params["x"] - 0.5) ** 2 + (t.params["y"] - 0.5) ** 2)
    best = np.array([opt.best.params["x"], opt.best.params["y"]])
    return best, np.array([[t.params["x"], t.params["y"]] for t in opt.ask(32)])


def nearest_neighbour_median(pts: np.ndarray) -> float:
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(axis=1)))


def test_concurrent_asks_spread_out():
    """ask(32) before any tell must not collapse onto one point; the batch's lies spread it.

    ask(n) fits the model once (its lies are added to g without a refit); its median
    neighbour distance is about 10% below that of 32 single asks, whose refits also narrow
    g's bandwidth, at equal quality (see benchmarks/parallel.py).
    """
    for seed in range(4):
        best, pts = batch_after_30(seed, constant_liar=True)
        _, pts_off = batch_after_30(seed, constant_liar=False)
        assert len({tuple(p) for p in pts}) == 32
        assert np.any(np.linalg.norm(pts - best, axis=1) < 0.05)  # still exploits the best
        assert nearest_neighbour_median(pts) > 0.04
        assert nearest_neighbour_median(pts) > 1.75 * nearest_neighbour_median(pts_off)


def test_a_batch_in_a_finite_space_repeats_nothing():
    """The points of one ask(n) count as seen, and a point whose own candidates were all
    tried takes a new candidate of the batch's pool: 44 distinct configurations of 60."""
    space = {"a": tp.Int(0, 19), "b": tp.Categorical(["x", "y", "z"])}
    for seed in range(3):
        opt = tp.TPE(space, seed=seed)
        for t in opt.ask(20):
            opt.tell(t, (t.params["a"] - 7) ** 2 + (t.params["b"] != "y"))
        batch = opt.ask(24)
        keys = [(t.params["a"], t.params["b"]) for t in opt.trials]
        assert len(set(keys)) == 44
        assert sum(abs(t.params["a"] - 7) <= 3 for t in batch) >= 12  # and exploits the best


def test_a_batch_on_a_conditional_space_is_valid_and_takes_both_branches():
    opt = tp.TPE(SPACE, seed=0)
    for t in opt.ask(15):
        opt.tell(t, branin(t.params))
    batch = opt.ask(40)
    assert len(opt) == 55 and all(t.state == "pending" for t in batch)
    for t in batch:
        m = t.params["model"]
        assert set(m) == ({"kind", "u"} if m["kind"] == "a" else {"kind", "k"})
    assert {t.params["model"]["kind"] for t in batch} == {"a", "b"}


def test_ask_n_refuses_a_bad_count():
    opt = tp.TPE(SPACE, seed=0)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n must be a positive int"):
            opt.ask(bad)


def test_pending_trials_count_toward_the_random_start():
    opt = tp.TPE({"x": tp.Float(0, 1)}, seed=0, n_startup_trials=8)
    first = opt.ask(8)
    for t in first[:4]:
        opt.tell(t, t.params["x"])
    opt.ask()  # the 9th ask comes from the model, not from a 9th startup point
    assert opt._startup.used == 8


def test_startup_does_not_repeat_in_a_small_finite_space():
    space = {"a": tp.Categorical(["x", "y", "z"]), "b": tp.Int(0, 1)}
    for seed in range(5):
        opt = tp.TPE(space, seed=seed)
        assert len({(t.params["a"], t.params["b"]) for t in opt.ask(6)}) == 6


def test_bad_calls_raise_clear_errors():
    opt = tp.TPE(SPACE, seed=0)
    t = opt.ask()
    opt.tell(t, 1.0)
    with pytest.raises(ValueError, match="cannot tell trial 0: it is already complete"):
        opt.tell(t, 2.0)
    with pytest.raises(ValueError, match="unknown trial id 99"):
        opt.tell(99, 1.0)
    with pytest.raises(TypeError, match="must be a number"):
        opt.tell(opt.ask(), "bad")
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        tp.TPE(SPACE, mode="maximise")
    with pytest.raises(TypeError, match="unknown TPE setting"):
        tp.TPE(SPACE, n_candidate=10)
    with pytest.raises(ValueError, match="gamma: unknown rule"):
        tp.TPE(SPACE, gamma="cube")


def test_enqueue_and_add_trial():
    opt = tp.TPE(SPACE, seed=0)
    point = {"x": 1.0, "y": 2.0, "n": 3, "opt": "sgd", "model": {"kind": "b", "k": 5},
             "epochs": 5}
    opt.enqueue(point)
    assert opt.ask().params == point
    added = opt.add_trial(dict(point, x=2.0), 4.5)
    assert added.state == "complete" and added.value == 4.5
    with pytest.raises(ValueError, match=r"model\.k: 4.0 is not on the grid|model: "):
        opt.enqueue(dict(point, model={"kind": "c"}))


def test_add_trial_records_pruned_and_failed_points():
    opt = tp.TPE({"x": tp.Float(0, 1)}, seed=0)
    t = opt.add_trial({"x": 0.3}, 2.0, state="pruned", intermediate={1: 3.0, 2: 2.0})
    assert (t.state, t.value, t.intermediate) == ("pruned", 2.0, {1: 3.0, 2: 2.0})
    assert opt.add_trial({"x": 0.4}, None, state="failed").state == "failed"
    with pytest.raises(ValueError, match="state must be"):
        opt.add_trial({"x": 0.5}, 1.0, state="running")


def test_restoring_with_a_different_space_is_refused():
    opt = tp.TPE({"x": tp.Float(0, 1), "c": 3}, seed=0)
    run_state = opt.state_dict()
    with pytest.raises(ValueError, match="differs from the one in the saved state"):
        tp.TPE.from_state_dict(run_state, space={"x": tp.Float(0, 2), "c": 3})
    assert len(tp.TPE.from_state_dict(run_state, space={"x": tp.Float(0, 1), "c": 4})) == 0


def test_trial_states_are_an_enum_that_reads_as_text():
    opt = tp.TPE({"x": tp.Float(0, 1)}, seed=0)
    t = opt.tell(opt.ask(), 1.0)
    assert t.state is tp.TrialState.COMPLETE and t.state == "complete"
    assert json.loads(json.dumps(opt.state_dict()))["state"] == ["complete"]
