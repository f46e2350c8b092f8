"""TPESearch, the Ray Tune searcher: the Searcher contract, space conversion and real Tune runs.

Tests that start trials use the session's Ray (2 CPUs, 4 fake GPUs); the multi-node cluster and
the killed driver run in subprocesses (see tests/ray_tune_scripts/).
"""

import json
import math
import os
import pickle
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402
from ray.tune.search import ConcurrencyLimiter, Searcher  # noqa: E402

import tpe_plugins as tp  # noqa: E402
from tpe_plugins.integrations.ray_tune import (  # noqa: E402
    TPESearch,
    convert_search_space,
    to_tune,
)

SCRIPTS = Path(__file__).parent / "ray_tune_scripts"
# Ray workers cannot import this test module: ship its trainables by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
       "PYTHONPATH": os.pathsep.join(sys.path)}

CONDITIONAL = {
    "lr": tune.loguniform(1e-4, 1e-1),
    "model": tune.choice([
        {"type": "cnn", "kernel": tune.qrandint(3, 7, 2)},
        {"type": "mlp", "hidden": tune.lograndint(32, 513), "act": tune.choice(["relu", "gelu"])},
    ]),
    "epochs": 3,
}


def drive(searcher: Searcher, n: int, fn, prefix: str = "t") -> list[dict]:
    """Run n trials one after another through the Searcher API, as Tune would."""
    configs = []
    for i in range(n):
        config = searcher.suggest(f"{prefix}{i}")
        if config == Searcher.FINISHED:
            break
        configs.append(config)
        searcher.on_trial_complete(f"{prefix}{i}", {"loss": fn(config), "training_iteration": 1})
    return configs


def cnn_is_best(c: dict) -> float:
    penalty = 0.0 if c["model"]["type"] == "cnn" else 1.0
    return (math.log10(c["lr"]) + 2) ** 2 + penalty


# ------------------------------------------------------------------------------ spaces
DOMAINS = {
    "uniform": tune.uniform(-1, 2),
    "loguniform": tune.loguniform(1e-4, 1e-1),
    "quniform": tune.quniform(-0.5, 1.5, 0.25),
    "qloguniform": tune.qloguniform(0.01, 1, 0.01),
    "randint": tune.randint(-3, 3),
    "qrandint": tune.qrandint(0, 10, 2),
    "qrandint_q1": tune.qrandint(1, 5, 1),
    "qrandint_offgrid": tune.qrandint(1, 11, 3),
    "lograndint": tune.lograndint(1, 20),
    "qlograndint": tune.qlograndint(2, 64, 2),
    "qlograndint_offgrid": tune.qlograndint(3, 40, 5),
    "choice": tune.choice(["a", 2, None, True]),
}


@pytest.mark.parametrize("name", list(DOMAINS))
def test_each_tune_domain_gives_exactly_the_values_tune_samples(name):
    domain = DOMAINS[name]
    tune_values = domain.sample(size=20000, random_state=np.random.default_rng(0))
    searcher = TPESearch({"x": domain}, metric="loss", mode="min", seed=0,
                         n_startup_trials=100000)
    ours = []
    for i in range(3000):  # a finite space ends with FINISHED once every value was tried
        config = searcher.suggest(str(i))
        if config == Searcher.FINISHED:
            break
        ours.append(config["x"])
    if name in ("uniform", "loguniform"):
        assert min(ours) >= domain.lower and max(ours) <= domain.upper
        assert all(type(v) is float for v in ours)
        return
    key = (lambda v: (type(v).__name__, v)) if name == "choice" else (lambda v: round(v, 9))
    assert {key(v) for v in ours} == {key(domain.cast(v)) for v in tune_values}
    kind = int if "int" in name else float
    assert name == "choice" or all(type(v) is kind for v in ours)


def test_a_conditional_space_gives_only_the_chosen_branch():
    searcher = TPESearch(CONDITIONAL, metric="loss", mode="min", seed=1)
    configs = drive(searcher, 40, cnn_is_best)
    assert {c["model"]["type"] for c in configs} == {"cnn", "mlp"}
    for c in configs:
        assert c["epochs"] == 3 and set(c) == {"lr", "model", "epochs"}
        if c["model"]["type"] == "cnn":
            assert set(c["model"]) == {"type", "kernel"} and c["model"]["kernel"] in (4, 6)
        else:
            assert set(c["model"]) == {"type", "hidden", "act"}
            assert 32 <= c["model"]["hidden"] <= 512


def test_a_conditional_space_learns_the_better_branch():
    """Trials 21-40 take the better branch far more often than the 50% of a random draw.
    The branch is drawn in proportion to l/g, so one seed's 20 trials swing between 9 and 17;
    over 20 seeds the share is 68.5% (274 of 400, numpy 2.4.6), and a random draw would reach
    260 (65%) with a chance below 1e-9."""
    late = []
    for seed in range(20):
        searcher = TPESearch(CONDITIONAL, metric="loss", mode="min", seed=seed)
        late += [c["model"]["type"] for c in drive(searcher, 40, cnn_is_best)[20:]]
    assert late.count("cnn") >= 260


def test_nested_dicts_lists_constants_and_placeholders_are_all_in_the_suggestion():
    fn_ph, ref_ph = ("__fn_ph", "0123abcd"), ("__ref_ph", "89abcdef")
    config = {"opt": {"lr": tune.uniform(0, 1), "betas": [tune.uniform(0.8, 0.99), 0.999]},
              "derived": fn_ph, "dataset": ref_ph, "shape": (3, 4), "name": "x",
              "head": tune.choice([{"kind": "linear"}, {"kind": "mlp", "f": fn_ph}])}
    searcher = TPESearch(seed=0)
    assert searcher.set_search_properties("loss", "min", config)
    for i in range(12):
        c = searcher.suggest(str(i))
        assert c["derived"] == fn_ph and c["dataset"] == ref_ph  # Tune resolves these
        assert c["shape"] == (3, 4) and c["name"] == "x" and c["opt"]["betas"][1] == 0.999
        assert 0.8 <= c["opt"]["betas"][0] <= 0.99
        assert c["head"] in ({"kind": "linear"}, {"kind": "mlp", "f": fn_ph})
    assert "derived" not in convert_search_space(config)


def test_tpe_plugins_types_work_in_the_space():
    space = {"x": tp.Float(0, 1, step=0.25), "n": tp.Int(1, 9, step=4),
             "m": tp.Categorical([{"k": tp.Int(1, 3)}, "off"]), "y": tune.uniform(0, 1)}
    configs = drive(TPESearch(space, metric="loss", mode="min", seed=0), 20, lambda c: c["y"])
    assert {c["x"] for c in configs} <= {0, 0.25, 0.5, 0.75, 1.0}
    assert {c["n"] for c in configs} <= {1, 5, 9}
    assert all(c["m"] == "off" or c["m"]["k"] in (1, 2, 3) for c in configs)


@pytest.mark.parametrize("domain, words", [
    ({"grid_search": [1, 2]}, "tune.choice([1, 2])"),
    (tune.randn(0, 1), "tune.uniform(-3, 3)"),
    (tune.qrandn(0, 2, 0.5), "tune.uniform(-6, 6)"),
    (tune.sample_from(lambda c: 1), "param_space"),
])
def test_domains_tpe_cannot_model_are_refused_with_what_to_use(domain, words):
    with pytest.raises((ValueError, TypeError), match="x") as info:
        TPESearch({"a": 1, "x": domain}, metric="loss", mode="min")
    assert words in str(info.value)


def test_bad_bounds_name_the_parameter():
    with pytest.raises(ValueError, match="model.w"):
        TPESearch({"model": {"w": tp.Float(1, 0)}}, metric="m", mode="min")


# ------------------------------------------------------------------------------ contract
def test_mode_max_maximises():
    fn = lambda c: -((c["x"] - 0.3) ** 2)  # noqa: E731
    searcher = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="max", seed=0)
    drive(searcher, 40, fn)
    best = searcher.optimizer.best
    assert abs(best.params["x"] - 0.3) < 0.05 and best.value == max(
        t.value for t in searcher.optimizer.trials)


def test_metric_and_mode_from_the_run_and_conflicts():
    searcher = TPESearch(seed=0)
    with pytest.raises(RuntimeError, match="search space"):
        searcher.suggest("a")
    assert searcher.set_search_properties("acc", "max", {"x": tune.uniform(0, 1)})
    assert searcher.metric == "acc" and searcher.mode == "max"
    assert isinstance(searcher.suggest("a")["x"], float)
    with pytest.raises(ValueError, match="mode"):
        TPESearch(mode="max").set_search_properties("acc", "min", {"x": tune.uniform(0, 1)})
    own = TPESearch({"x": tune.uniform(0, 1)}, seed=0)
    assert not own.set_search_properties("m", "min", {"y": tune.uniform(0, 1)})
    assert own.set_search_properties("m", "min", {"const": 1})  # constants only: fine
    with pytest.raises(RuntimeError, match="metric"):
        TPESearch({"x": tune.uniform(0, 1)}).suggest("a")


def test_points_to_evaluate_nested_or_flat_then_rewards_and_evaluated_points():
    points = [{"lr": 0.01, "model": {"type": "mlp", "hidden": 64, "act": "gelu"}},
              {"lr": 0.001, "model/type": "cnn", "model/kernel": 6}]
    searcher = TPESearch(CONDITIONAL, metric="loss", mode="min", points_to_evaluate=points)
    first = [searcher.suggest("a"), searcher.suggest("b")]
    assert first[0] == {**points[0], "epochs": 3}
    assert first[1] == {"lr": 0.001, "model": {"type": "cnn", "kernel": 6}, "epochs": 3}

    warm = TPESearch(CONDITIONAL, metric="loss", mode="min", points_to_evaluate=points,
                     evaluated_rewards=[0.5, 0.1])
    trials = warm.optimizer.trials
    assert [t.state for t in trials] == ["complete", "complete"]
    assert warm.optimizer.best.value == 0.1

    warm.add_evaluated_point({"lr": 0.05, "model": {"type": "cnn", "kernel": 4}}, 0.3)
    warm.add_evaluated_point({"lr": 0.02, "model": {"type": "cnn", "kernel": 4}}, 9.0, error=True)
    warm.add_evaluated_point({"lr": 0.03, "model": {"type": "cnn", "kernel": 4}}, 2.0,
                             pruned=True, intermediate_values=[3.0, 2.0])
    states = [t.state for t in warm.optimizer.trials]
    assert states == ["complete", "complete", "complete", "failed", "pruned"]
    assert warm.optimizer.trials[-1].intermediate == {1: 3.0, 2: 2.0}

    with pytest.raises(ValueError, match=r"points_to_evaluate\[0\].*model.kernel"):
        TPESearch(CONDITIONAL, metric="l", mode="min",
                  points_to_evaluate=[{"lr": 0.01, "model": {"type": "cnn"}}]).suggest("x")
    with pytest.raises(ValueError, match="unknown key"):
        warm.add_evaluated_point({"lr": 0.01, "modle": 1}, 1.0)
    with pytest.raises(ValueError, match="lr"):
        warm.add_evaluated_point({"lr": 5.0, "model": {"type": "cnn", "kernel": 4}}, 1.0)


def test_how_each_ending_is_recorded():
    s = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0)
    core = {}

    def start(tid, results=()):
        s.suggest(tid)
        core[tid] = len(core)
        for step, v in enumerate(results, start=1):
            s.on_trial_result(tid, {"loss": v, "training_iteration": step})

    start("natural", [3.0, 2.0, 1.0])  # a trainable that returns: last result seen before
    s.on_trial_complete("natural", {"loss": 1.0, "training_iteration": 3})
    start("stopped", [5.0])  # a STOP (scheduler or stopper): Tune does not say whose
    s.on_trial_complete("stopped", {"loss": 4.0, "training_iteration": 2})
    start("error", [1.0])
    with pytest.warns(RuntimeWarning, match="errored"):
        s.on_trial_complete("error", None, error=True)
    start("nan", [1.0])
    with pytest.warns(RuntimeWarning, match="nan"):
        s.on_trial_complete("nan", {"loss": float("nan"), "training_iteration": 3})
    start("nometric")
    with pytest.warns(RuntimeWarning, match="no metric 'loss'"):
        s.on_trial_result("nometric", {"acc": 1, "training_iteration": 1})
    with pytest.warns(RuntimeWarning, match="no metric 'loss'"):
        s.on_trial_complete("nometric", {"acc": 1, "training_iteration": 3})
    start("paused", [7.0, 6.0])  # removed while paused: it ran, complete at its last value
    s.on_trial_complete("paused")
    start("pending")  # removed before it ran: carries no information
    s.on_trial_complete("pending")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.on_trial_complete("natural", {"loss": 0.0})  # a second completion is ignored
        s.on_trial_complete("never-suggested", {"loss": 0.0})

    got = {tid: s.optimizer.trial(i) for tid, i in core.items()}
    assert (got["natural"].state, got["natural"].value) == ("complete", 1.0)
    assert (got["stopped"].state, got["stopped"].value) == ("complete", 4.0)
    assert got["stopped"].intermediate == {1: 5.0, 2: 4.0}  # judged at step 2 by the model
    assert (got["paused"].state, got["paused"].value) == ("complete", 6.0)
    assert got["paused"].intermediate == {1: 7.0, 2: 6.0}
    for tid in ("error", "nan", "nometric", "pending"):
        assert got[tid].state == "failed", tid
    assert got["natural"].intermediate == {1: 3.0, 2: 2.0, 3: 1.0}


def test_the_run_stop_dict_is_a_normal_end_not_an_early_stop():
    s = TPESearch(seed=0)
    s.set_search_properties("loss", "min", {"x": tune.uniform(0, 1)},
                            stop={"loss_below": 10}, num_samples=4)
    s.suggest("long")
    for step in (1, 2, 3):
        s.on_trial_result("long", {"loss": 1.0, "training_iteration": step})
    s.on_trial_complete("long", {"loss": 1.0, "training_iteration": 4})
    s.suggest("goal")
    s.on_trial_complete("goal", {"loss": 0.5, "loss_below": 11, "training_iteration": 1})
    assert [t.state for t in s.optimizer.trials] == ["complete", "complete"]


def test_concurrency_limit_and_pending_trials_spread_out():
    s = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0)
    limited = ConcurrencyLimiter(s, max_concurrent=16)
    drive(limited, 20, lambda c: (c["x"] - 0.5) ** 2, prefix="warm")
    pending = [limited.suggest(f"p{i}") for i in range(17)]
    assert pending[-1] is None  # the 17th waits for a free slot
    xs = np.sort([c["x"] for c in pending[:-1]])
    assert np.min(np.diff(xs)) > 1e-3  # constant liar: no two pending trials coincide
    limited.on_trial_complete("p0", {"loss": 0.1, "training_iteration": 1})
    assert limited.suggest("p16") is not None


def test_a_finite_space_finishes_when_every_configuration_was_tried():
    s = TPESearch({"a": tune.choice(["x", "y", "z"]), "b": tune.randint(0, 2)},
                  metric="loss", mode="min", seed=0)
    configs = drive(s, 50, lambda c: c["b"])
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 6
    assert s.suggest("more") == Searcher.FINISHED


def test_save_and_restore_continue_exactly(tmp_path):
    fn = cnn_is_best
    a = TPESearch(seed=3)
    pickle.loads(pickle.dumps(a))  # Tuner pickles the searcher before set_search_properties
    a.set_search_properties("loss", "min", CONDITIONAL)
    drive(a, 15, fn)
    a.suggest("pending")
    a.on_trial_result("pending", {"loss": 2.0, "training_iteration": 1})
    path = tmp_path / "searcher-state.pkl"
    a.save(str(path))

    b = TPESearch(seed=3)  # Tuner.restore: set_search_properties first, restore second
    b.set_search_properties("loss", "min", CONDITIONAL)
    b.restore(str(path))
    c = TPESearch(metric="loss", mode="min")  # restore before the space arrives
    c.restore(str(path))
    c.set_search_properties(None, None, CONDITIONAL)
    d = pickle.loads(pickle.dumps(a))
    for s in (a, b, c, d):
        s.on_trial_complete("pending", {"loss": 1.5, "training_iteration": 1})
    runs = [drive(s, 10, fn, prefix="after") for s in (a, b, c, d)]
    assert runs[0] == runs[1] == runs[2] == runs[3]
    assert [t.value for t in a.optimizer.trials] == [t.value for t in c.optimizer.trials]


def test_corrupt_or_foreign_checkpoints_get_a_clear_error(tmp_path):
    s = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0)
    drive(s, 3, lambda c: c["x"])
    good = tmp_path / "good.json"
    s.save(str(good))
    state = json.loads(good.read_text())

    garbage = tmp_path / "garbage"
    garbage.write_bytes(os.urandom(200))
    foreign = tmp_path / "optuna.pkl"
    foreign.write_bytes(pickle.dumps({"_ot_trials": {}, "_space": {}}))
    other_json = tmp_path / "other.json"
    other_json.write_text(json.dumps({"format": "something-else"}))
    truncated = tmp_path / "truncated.json"
    truncated.write_text(good.read_text()[:-40])
    broken = tmp_path / "broken.json"
    state_broken = json.loads(good.read_text())
    state_broken["optimizer"]["X"] = "oops"
    broken.write_text(json.dumps(state_broken))
    for path in (garbage, foreign, other_json, truncated, broken):
        fresh = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min")
        with pytest.raises(ValueError, match="TPESearch checkpoint"):
            fresh.restore(str(path))
    other_space = TPESearch({"x": tune.uniform(0, 2)}, metric="loss", mode="min")
    with pytest.raises(ValueError, match="different search space"):
        other_space.restore(str(good))
    assert state["format"].startswith("tpe-plugins/ray-tune-searcher")


def test_import_without_ray_names_the_extra():
    code = ("import sys; sys.modules['ray'] = None\n"
            "try:\n    import tpe_plugins.integrations.ray_tune\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=ENV, timeout=60)
    assert 'pip install "tpe-plugins[ray]"' in out.stdout, out.stderr


# ------------------------------------------------------------------------------ real runs
def quadratic(config):
    """A tiny function trainable: a few reports, then a normal end."""
    m = config["model"]
    base = (math.log10(config["lr"]) + 2) ** 2 + (0.0 if m["type"] == "cnn" else 0.5)
    for step in range(1, config["epochs"] + 1):
        tune.report({"loss": base + 1.0 / step, "seen": json.dumps(config, default=str)})


def test_tune_run_with_every_kind_of_entry(ray_session, tmp_path):
    config = {**CONDITIONAL, "wd": to_tune(tp.Float(1e-5, 1e-2, log=True)),
              "bs": tune.qrandint(16, 64, 16),
              "optim": to_tune(tp.Categorical([{"name": "sgd", "momentum": tp.Float(0.0, 0.99)},
                                               {"name": "adam"}])),
              "derived": tune.sample_from(lambda c: c["lr"] * 10), "tag": "exp",
              "nested": {"drop": tune.quniform(0.0, 0.5, 0.1), "layers": [tune.randint(1, 3), 8]}}
    searcher = TPESearch(seed=0)
    analysis = tune.run(quadratic, config=config, search_alg=searcher, metric="loss",
                        mode="min", num_samples=12, max_concurrent_trials=2, reuse_actors=True,
                        storage_path=str(tmp_path), verbose=0)
    assert len(analysis.trials) == 12
    for trial in analysis.trials:
        c = trial.config
        assert trial.status == "TERMINATED"
        assert c["derived"] == pytest.approx(c["lr"] * 10) and c["tag"] == "exp"
        assert isinstance(c["wd"], float) and 1e-5 <= c["wd"] <= 1e-2
        assert c["bs"] in (16, 32, 48, 64) and c["nested"]["layers"][1] == 8
        assert round(c["nested"]["drop"] * 10, 9) in range(6)
        assert c["optim"] == {"name": "adam"} or 0.0 <= c["optim"]["momentum"] <= 0.99
    opt = searcher.optimizer
    assert [t.state for t in opt.trials] == ["complete"] * 12
    assert {t.value for t in opt.trials} == {t.last_result["loss"] for t in analysis.trials}
    assert all(len(t.intermediate) == 3 for t in opt.trials)

    warm = TPESearch(seed=1)  # a new search that starts from the finished one's results
    warm.set_search_properties("loss", "min", config)
    warm.add_evaluated_trials(analysis, "loss")
    assert sorted(t.value for t in warm.optimizer.trials) == sorted(t.value for t in opt.trials)


def flaky(config):
    kind = config["fault"]
    if kind == "raise":
        raise RuntimeError("boom")
    if kind == "exit":
        os._exit(1)  # the worker process dies
    if kind == "nan":
        return {"loss": float("nan")}
    if kind == "nometric":
        return {"accuracy": 1.0}
    return {"loss": (config["x"] - 0.5) ** 2}


@pytest.mark.parametrize("fault", ["raise", "exit", "nan", "nometric"])
def test_a_faulty_trial_is_recorded_as_failed_and_the_run_goes_on(ray_session, tmp_path,
                                                                  monkeypatch, fault):
    monkeypatch.setenv("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")  # else Tune rejects "nometric"
    points = [{"fault": fault, "x": 0.1}, {"fault": "ok", "x": 0.2}, {"fault": fault, "x": 0.3}]
    searcher = TPESearch(points_to_evaluate=points, seed=0)
    with pytest.warns(RuntimeWarning, match="TPESearch"):
        tuner = tune.Tuner(
            flaky, param_space={"fault": tune.choice(["ok", fault]), "x": tune.uniform(0, 1)},
            tune_config=tune.TuneConfig(search_alg=searcher, metric="loss", mode="min",
                                        num_samples=6, max_concurrent_trials=1,
                                        reuse_actors=True),
            run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
        results = tuner.fit()
    assert len(results) == 6
    trials = searcher.optimizer.trials
    assert [t.state for t in trials[:3]] == ["failed", "complete", "failed"]
    assert all(t.state == "failed" for t in trials if t.params["fault"] == fault)
    assert all(t.state == "complete" for t in trials if t.params["fault"] == "ok")
    assert searcher.optimizer.best.params["fault"] == "ok"


def which_gpu(config):
    """The trial's device, held until `n` trials have started (so that they overlap even when
    a loaded machine starts them slowly and one reused actor could otherwise run them all)."""
    start = time.time()
    gathered = gathering(config)["together"]
    return {"loss": config["x"], "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "gpu_ids": json.dumps([str(g) for g in ray.get_gpu_ids()]), "start": start,
            "end": time.time(), "together": gathered}


def test_each_trial_sees_its_own_gpu(ray_session, tmp_path):
    (tmp_path / "started").mkdir()
    analysis = tune.run(which_gpu, config={"x": tune.uniform(0, 1), "n": 4,
                                           "folder": str(tmp_path / "started")},
                        search_alg=TPESearch(seed=0), metric="loss", mode="min", num_samples=8,
                        max_concurrent_trials=4,
                        resources_per_trial={"cpu": 0.25, "gpu": 1}, reuse_actors=True,
                        storage_path=str(tmp_path), verbose=0)
    results = [t.last_result for t in analysis.trials]
    for r in results:
        assert r["cuda"] in {"0", "1", "2", "3"} and json.loads(r["gpu_ids"]) == [r["cuda"]]
    for a in results:  # trials that overlap in time hold different devices
        for b in results:
            if a is not b and a["start"] < b["end"] and b["start"] < a["end"]:
                assert a["cuda"] != b["cuda"]
    assert all(r["together"] >= 4 for r in results)  # the first 4 ran at once...
    assert len({r["cuda"] for r in results}) == 4  # ...on the 4 devices


def gathering(config):
    """Wait until `n` trials are running at once (or give up), then report how many were."""
    folder = Path(config["folder"])
    (folder / f"{os.getpid()}-{time.time()}").touch()
    deadline = time.time() + 90
    while len(list(folder.iterdir())) < config["n"] and time.time() < deadline:
        time.sleep(0.05)
    return {"loss": (config["x"] - 0.5) ** 2, "together": len(list(folder.iterdir()))}


def test_sixteen_concurrent_trials_with_spread_out_configs(ray_session, tmp_path):
    known = [{"x": x} for x in np.linspace(0.05, 0.95, 10)]
    searcher = TPESearch(points_to_evaluate=known, evaluated_rewards=[(p["x"] - 0.5) ** 2
                                                                        for p in known], seed=0)
    (tmp_path / "started").mkdir()
    analysis = tune.run(gathering, config={"x": tune.uniform(0, 1), "n": 16,
                                           "folder": str(tmp_path / "started")},
                        search_alg=searcher, metric="loss", mode="min", num_samples=16,
                        max_concurrent_trials=16, resources_per_trial={"cpu": 0.1},
                        reuse_actors=True, storage_path=str(tmp_path), verbose=0)
    assert [t.status for t in analysis.trials] == ["TERMINATED"] * 16
    assert all(t.last_result["together"] >= 16 for t in analysis.trials)
    xs = np.sort([t.config["x"] for t in analysis.trials])  # all asked before any result
    assert np.min(np.diff(xs)) > 1e-3 and xs[-1] - xs[0] > 0.2


def test_a_finite_space_ends_the_run_cleanly_before_num_samples(ray_session, tmp_path):
    analysis = tune.run(lambda c: {"loss": c["b"]}, config={"a": tune.choice([1, 2]),
                                                            "b": tune.randint(0, 3)},
                        search_alg=TPESearch(seed=0), metric="loss", mode="min",
                        num_samples=30, max_concurrent_trials=2, reuse_actors=True,
                        storage_path=str(tmp_path), verbose=0)
    assert all(t.status == "TERMINATED" for t in analysis.trials)
    assert len({(t.config["a"], t.config["b"]) for t in analysis.trials}) == 6
    assert len(analysis.trials) < 30  # FINISHED once all 6 were tried


def test_tuner_with_tp_types_and_mode_max(ray_session, tmp_path, caplog):
    def accuracy(config):
        return {"acc": -(config["x"] - 0.7) ** 2 - 0.01 * config["n"]}

    space = {"x": tp.Float(0, 1), "n": tp.Int(1, 4)}
    for searcher, param_space in ((TPESearch(space, metric="acc", mode="max", seed=0), None),
                                  (TPESearch(seed=0), to_tune(space))):  # or through to_tune
        tuner = tune.Tuner(accuracy, param_space=param_space,
                           tune_config=tune.TuneConfig(search_alg=searcher, metric="acc",
                                                       mode="max", num_samples=24,
                                                       max_concurrent_trials=2,
                                                       reuse_actors=True),
                           run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
        best = tuner.fit().get_best_result()
        assert abs(best.config["x"] - 0.7) < 0.15 and best.config["n"] in (1, 2)
        assert isinstance(best.config["n"], int)
        assert searcher.optimizer.best.value == pytest.approx(best.metrics["acc"])
    # Tune hides other objects from searchers: a tp type left in param_space is named
    hidden = TPESearch(seed=0)
    with caplog.at_level("WARNING"):
        hidden.set_search_properties("acc", "max", {"x": ("__ref_ph", "ab12"),
                                                    "y": tune.uniform(0, 1)})
    assert "objects at x" in caplog.text and "to_tune" in caplog.text


def test_to_tune_keeps_exactly_the_values_of_each_type():
    cases = [tp.Float(0.5, 2.0), tp.Float(1e-3, 1.0, log=True), tp.Float(0.0, 1.0, step=0.25),
             tp.Int(-3, 4), tp.Int(2, 64, log=True), tp.Int(0, 12, step=3),
             tp.Categorical(["a", 1, None])]
    for p in cases:
        back = convert_search_space({"p": to_tune(p)})["p"]
        assert back == p, (p, back)
    with pytest.raises(ValueError, match="multiple of step"):
        to_tune(tp.Int(1, 10, step=3))


def test_tuner_restore_with_a_foreign_searcher_checkpoint_fails_clearly(ray_session, tmp_path):
    def loss(config):
        return {"loss": config["x"]}

    tuner = tune.Tuner(loss, param_space={"x": tune.uniform(0, 1)},
                       tune_config=tune.TuneConfig(search_alg=TPESearch(seed=0), metric="loss",
                                                   mode="min", num_samples=2),
                       run_config=tune.RunConfig(name="exp", storage_path=str(tmp_path),
                                                 verbose=0))
    tuner.fit()
    for state in (tmp_path / "exp").glob("searcher-state-*.pkl"):
        state.write_bytes(pickle.dumps({"not": "ours"}))
    restored = tune.Tuner.restore(str(tmp_path / "exp"), trainable=loss)
    with pytest.raises(RuntimeError, match="restoring its checkpoint failed.*not a TPESearch"):
        restored.fit()


def newest_searcher_state(folder: Path) -> Path:
    return sorted(folder.glob("searcher-state-*.pkl"))[-1]


def quadratic_loss(config: dict) -> dict:
    return {"loss": (config["x"] - 0.3) ** 2}


def six_trial_run(tmp_path: Path) -> dict:
    """A finished 6-trial Tuner run in tmp_path/exp; Tune's loss of each trial."""
    tuner = tune.Tuner(quadratic_loss, param_space={"x": tune.uniform(0, 1)},
                       tune_config=tune.TuneConfig(search_alg=TPESearch(seed=0), metric="loss",
                                                   mode="min", num_samples=6),
                       run_config=tune.RunConfig(name="exp", storage_path=str(tmp_path),
                                                 verbose=0))
    return {r.metrics["trial_id"]: r.metrics["loss"] for r in tuner.fit()}


def mark_pending(state: dict, trial_id: str) -> int:
    """Make a saved searcher state hold trial_id as still running; its core index."""
    i = state["ids"][trial_id]
    opt = state["optimizer"]
    opt["state"][i], opt["y"][i], state["live"][trial_id] = "pending", None, i
    return i


def test_restore_catches_up_with_trials_tune_finished_after_the_searcher_saved(ray_session,
                                                                               tmp_path):
    tune_values = six_trial_run(tmp_path)
    # A driver killed between Tune's two saves: the searcher's file is one step behind, with
    # one trial still pending and the last one never suggested.
    path = newest_searcher_state(tmp_path / "exp")
    state = json.loads(path.read_text())
    opt = state["optimizer"]
    by_core_id = sorted(state["ids"], key=state["ids"].get)
    pending, unseen = by_core_id[-2], by_core_id[-1]
    mark_pending(state, pending)
    j = state["ids"].pop(unseen)
    for key in ("X", "y", "state", "params", "intermediate"):
        opt[key].pop(j)
    path.write_text(json.dumps(state))

    tune.Tuner.restore(str(tmp_path / "exp"), trainable=quadratic_loss).fit()
    final = json.loads(newest_searcher_state(tmp_path / "exp").read_text())
    assert final["optimizer"]["state"] == ["complete"] * 6
    assert {tid: final["optimizer"]["y"][i] for tid, i in final["ids"].items()} == pytest.approx(
        tune_values)


def test_restore_ends_a_trial_that_tune_lost_from_its_experiment_state(ray_session, tmp_path):
    tune_values = six_trial_run(tmp_path)
    # A driver killed while Tune copied its files: the searcher's file is a save ahead of
    # Tune's experiment state, which lacks the last trial; the searcher has it running.
    path = newest_searcher_state(tmp_path / "exp")
    state = json.loads(path.read_text())
    lost = max(state["ids"], key=state["ids"].get)
    i = mark_pending(state, lost)
    path.write_text(json.dumps(state))
    experiment_state = sorted((tmp_path / "exp").glob("experiment_state-*.json"))[-1]
    tune_state = json.loads(experiment_state.read_text())
    tune_state["trial_data"] = [t for t in tune_state["trial_data"]
                                if json.loads(t[0])["trial_id"] != lost]
    assert len(tune_state["trial_data"]) == 5
    experiment_state.write_text(json.dumps(tune_state))

    restored = {r.metrics["trial_id"] for r in
                tune.Tuner.restore(str(tmp_path / "exp"), trainable=quadratic_loss).fit()}
    assert lost not in restored and len(restored) == 5
    final = json.loads(newest_searcher_state(tmp_path / "exp").read_text())
    # Tune will never run it, so it is not left pending: it never reported, so it failed
    assert final["live"] == {}
    assert final["optimizer"]["state"][i] == "failed"
    assert {tid: final["optimizer"]["y"][j] for tid, j in final["ids"].items()
            if tid != lost} == pytest.approx({t: v for t, v in tune_values.items() if t != lost})
    assert final["optimizer"]["state"].count("complete") == 5


# ------------------------------------------------------------------------------ subprocesses
def stop_process(pid: int) -> None:
    """SIGSTOP a process and wait until every one of its threads has stopped."""
    os.kill(pid, signal.SIGSTOP)
    tasks = Path(f"/proc/{pid}/task")
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            states = [(t / "stat").read_text().rsplit(")", 1)[1].split()[0]
                      for t in tasks.iterdir()]
        except OSError:  # a thread ended while we looked
            continue
        if all(state in "tTZX" for state in states):
            return
        time.sleep(0.005)


def whole_snapshot(exp: Path) -> dict | None:
    """The stored searcher state, if Tune's stored files form one whole snapshot; else None.

    Tune copies its experiment state, its trial counter and the searcher file to storage one
    after the other while the driver goes on saving. A kill between two of those copies can
    leave Tune's counter ahead of its trial list, and Tune then restores a run of fewer than
    num_samples trials: a Ray limitation no searcher can undo. A searcher file ahead of Tune's
    trial list has its own test (test_restore_ends_a_trial_that_tune_lost_...).
    """
    try:
        [trials_file] = exp.glob("experiment_state-*.json")
        [counter_file] = exp.glob("search_gen_state-*.json")
        n_trials = len(json.loads(trials_file.read_text())["trial_data"])
        counter = pickle.loads(counter_file.read_bytes())["counter"]
        saved = json.loads(newest_searcher_state(exp).read_text())
    except Exception:  # not there yet, or half copied
        return None
    return saved if counter == n_trials >= len(saved["ids"]) else None


@pytest.mark.slow
def test_driver_killed_then_restored_loses_no_observation(tmp_path):
    script = SCRIPTS / "killable_tuner.py"
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), "run"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    exp = tmp_path / "killable"
    deadline = time.time() + 120
    saved = None
    try:
        # the kill lands at the first moment, once 6 trials are stored as complete, at which
        # the stored files form a whole snapshot: the driver is frozen while they are read
        while time.time() < deadline and proc.poll() is None:
            stop_process(proc.pid)
            saved = whole_snapshot(exp)
            if saved and saved["optimizer"]["state"].count("complete") >= 6:
                break
            os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)  # the driver dies without any cleanup
    finally:
        proc.wait(timeout=30)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # Ray's own processes of that session
        except ProcessLookupError:
            pass
    before = {tid: saved["optimizer"]["y"][i] for tid, i in saved["ids"].items()
              if saved["optimizer"]["state"][i] == "complete"}

    out = subprocess.run([sys.executable, str(script), str(tmp_path), "restore"], env=ENV,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    after = summary["searcher"]
    # every observation the killed run had recorded is still there, unchanged
    for tid, value in before.items():
        assert after["values"][tid] == pytest.approx(value)
    # the search went on: every Tune trial is one complete observation with the same value
    assert summary["n_trials"] == summary["num_samples"], summary
    assert after["states"].count("complete") == summary["num_samples"], summary
    assert after["values"] == pytest.approx(summary["tune_values"])
    assert len(after["states"]) == summary["num_samples"]  # no trial was asked twice


@pytest.mark.slow
def test_multi_node_cluster_places_trials_on_every_node(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPTS / "cluster_run.py"), str(tmp_path)],
                         env=ENV, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["n_nodes"] == 3
    assert len(set(summary["trial_nodes"])) == 3  # head and both workers ran trials
    assert summary["n_complete"] == summary["num_samples"]
