"""The paper benchmark (benchmarks/paper/) at a tiny size: its space in every library, and one
real run of tpe-plugins and random search through Ray Tune that writes the table and the plot."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

PAPER = Path(__file__).resolve().parents[1] / "benchmarks" / "paper"


def _load(name: str):
    """Import a module of benchmarks/paper (not a package) under a private name."""
    if str(PAPER) not in sys.path:
        sys.path.insert(0, str(PAPER))
    module_name = f"paper_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, PAPER / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def _check_config(cfg: dict) -> None:
    space = _load("space")
    assert set(cfg) == set(space.SPACE)
    n = cfg["layers"]["n"]
    assert set(cfg["layers"]) == {"n"} | {f"l{i}" for i in range(1, n + 1)}
    for i in range(1, n + 1):
        layer = cfg["layers"][f"l{i}"]
        assert 16 <= layer["width"] <= 512 and isinstance(layer["width"], (int, np.integer))
        assert 0.0 <= layer["dropout"] <= 0.5
    assert 1e-4 <= cfg["lr"] <= 1.0
    assert ("scale" in cfg["init"]) == (cfg["init"]["scheme"] != "default")
    assert ("momentum" in cfg["optimizer"]) == (cfg["optimizer"]["name"] == "sgd")
    if cfg["preprocessing"]["kind"] == "pca":
        assert 8 <= cfg["preprocessing"]["components"] <= 256


def test_space_is_conditional_and_the_same_in_every_library():
    pytest.importorskip("optuna")
    pytest.importorskip("hyperopt")
    pytest.importorskip("ray")
    import optuna
    from hyperopt.pyll import stochastic
    from ray.tune.search.variant_generator import generate_variants

    space = _load("space")
    assert space.count_params() >= 15
    rng = np.random.default_rng(0)
    samples = {"tune": [], "optuna": [], "hyperopt": []}
    tune_space = space.tune_space(space.SPACE)
    hp_space = space.hyperopt_space(space.SPACE)
    define = space.optuna_define_by_run(space.SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(60):
        samples["tune"].append(next(iter(generate_variants(tune_space, random_state=rng)))[1])
        samples["hyperopt"].append(stochastic.sample(hp_space, rng=rng))
        trial = study.ask()
        samples["optuna"].append(define(trial))
        study.tell(trial, 0.0)
    for configs in samples.values():
        for cfg in configs:
            _check_config(cfg)
        assert {c["layers"]["n"] for c in configs} == {1, 2, 3}
        assert {c["preprocessing"]["kind"] for c in configs} == {"none", "standardise", "pca"}


def test_model_trains_on_the_tiny_data():
    torch = pytest.importorskip("torch")  # noqa: F841
    data, model = _load("data"), _load("model")
    split = data.load("convex", "tiny")
    assert split.x_train.shape == (300, 784) and set(np.unique(split.y_train)) == {0, 1}
    cfg = {"layers": {"n": 2, "l1": {"width": 32, "activation": "relu", "dropout": 0.1},
                      "l2": {"width": 16, "activation": "tanh", "dropout": 0.0}},
           "lr": 0.01, "weight_decay": 1e-5, "batch_size": 64, "optimizer": {"name": "adam"},
           "init": {"scheme": "normal", "scale": 1.0},
           "preprocessing": {"kind": "pca", "components": 20, "whiten": True}}
    first = model.evaluate(cfg, "convex", "tiny", epochs=2, seed=0)
    assert 0.0 <= first["val_error"] <= 1.0 and 0.0 <= first["test_error"] <= 1.0
    assert model.evaluate(cfg, "convex", "tiny", epochs=2, seed=0)["val_error"] == \
        first["val_error"]  # deterministic for a seed


def test_paper_run_tiny(ray_session, tmp_path):
    pytest.importorskip("optuna")
    run = _load("run")
    out = tmp_path / "results"
    run.main(["--size", "tiny", "--dataset", "convex", "--optimizers", "tpe_plugins,random",
              "--seeds", "1", "--trials", "4", "--epochs", "1", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert [(r["optimizer"], len(r["trials"]), r["failed"]) for r in results["runs"]] == \
        [("tpe_plugins", 4, 0), ("random", 4, 0)]
    for r in results["runs"]:
        assert r["best"]["val_error"] == min(t["val_error"] for t in r["trials"])
        for t in r["trials"]:
            _check_config(t["config"])
    table = (out / "table.md").read_text()
    assert "| convex |" in table and "tpe-plugins TPE" in table and "Random" in table
    assert (out / "best_so_far.png").stat().st_size > 5000


def test_merging_result_files_combines_optimisers_and_replaces_interrupted_seeds():
    """Runs of other optimisers on the same seeds, made later, join the table; an interrupted
    seed (not every data set done) is taken from the file that completed it; a seed that one
    optimiser never completed is left out, so that every comparison pairs."""
    run_py = _load("run")

    def result(optimizers, cells):  # cells: (seed, optimiser, dataset, val_error)
        runs = [{"optimizer": o, "dataset": d, "seed": s, "best": {"val_error": v}}
                for s, o, d, v in cells]
        return {"meta": {"datasets": ["convex", "mrbi"], "optimizers": optimizers,
                         "command": "run", "wall_minutes": 1.0}, "runs": runs}

    first = result(["tpe_plugins", "random"], [
        (0, o, d, 0.1) for o in ("tpe_plugins", "random") for d in ("convex", "mrbi")]
        + [(1, "tpe_plugins", "convex", 0.9)])  # seed 1 interrupted
    again = result(["tpe_plugins", "random"], [
        (1, o, d, 0.2) for o in ("tpe_plugins", "random") for d in ("convex", "mrbi")])
    optuna = result(["optuna_tpe"], [(s, "optuna_tpe", d, 0.3) for s in (0, 1, 2)
                                     for d in ("convex", "mrbi")])
    merged = run_py.merge([first, again, optuna])
    assert merged["meta"]["optimizers"] == ["tpe_plugins", "random", "optuna_tpe"]
    assert merged["meta"]["seeds"] == 2  # seed 2 has optuna only
    cells = {(r["seed"], r["optimizer"], r["dataset"]): r["best"]["val_error"]
             for r in merged["runs"]}
    assert len(cells) == len(merged["runs"]) == 2 * 3 * 2
    assert cells[(1, "tpe_plugins", "convex")] == 0.2  # the completed rerun, not the partial
    assert cells[(0, "optuna_tpe", "mrbi")] == 0.3
