"""`python -m tpe_plugins.report` / `tpe-plugins report`: one interactive page from a saved
state or a Tune folder from any searcher, importance that can be checked, and the live
`ReportCallback` in a real Tune run. What the page draws in a browser:
tests/test_report_browser.py."""

import json
import logging
import math
import re
import subprocess
import sys

import pytest

import tpe_plugins as tp
from tpe_plugins.report import Run, load_run, payload

pytest.importorskip("plotly", reason='the report needs plotly: pip install "tpe-plugins[plot]"')


def page_data(path) -> dict:
    """The JSON the page draws from (figures are drawn from it in the browser)."""
    text = path.read_text()
    assert "plotly-gz" in text and "<script src=" not in text  # self-contained, offline
    blob = re.search(r"<script id='report-data' type='application/json'>(.*?)</script>",
                     text, re.S).group(1)
    return json.loads(blob.replace("<\\/", "</"))


def report(args, tmp_path, name="report.html"):
    out = tmp_path / name
    proc = subprocess.run([sys.executable, "-m", "tpe_plugins.report", *args, "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    return proc, page_data(out) if proc.returncode == 0 else None


def lr_objective(p):
    return (math.log10(p["lr"]) + 3) ** 2 + 0.3 * (p["act"] == "tanh")


SPACE = {"lr": tp.Float(1e-5, 1e-1, log=True), "layers": tp.Int(1, 4),
         "unused": tp.Float(0, 1), "act": tp.Categorical(["relu", "tanh"]), "epochs": 10}


def test_a_saved_state_becomes_one_small_self_contained_page(tmp_path):
    opt = tp.TPE(SPACE, seed=0)
    for _ in range(60):
        t = opt.ask()
        final = lr_objective(t.params)
        for step in range(1, 5):
            opt.report(t, step, final + 1 / step)
        opt.tell(t, final)
    (tmp_path / "state.json").write_text(json.dumps(opt.state_dict()))

    proc, data = report([str(tmp_path / "state.json")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    size = (tmp_path / "report.html").stat().st_size
    assert size < 3e6, f"{size / 1e6:.1f} MB: too big to mail"  # plotly.js gzipped once
    assert [p["name"] for p in data["params"]] == ["lr", "layers", "unused", "act"]
    assert data["constants"] == {"epochs": 10}  # constants are not parameters
    assert [p["log"] for p in data["params"]] == [True, False, False, False]
    assert len(data["trials"]) == 60 and not data["live"]
    best = [t for t in data["trials"] if t["best"]]
    assert best[0]["value"] == [pytest.approx(opt.best.value)] and best[0]["id"] == opt.best.id
    assert all(len(t["curve"]) == 4 for t in data["trials"])
    scores = data["importance"]["scores"][0]
    assert max(scores, key=scores.get) == "lr" and "epochs" not in scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_importance_ranks_the_dominant_parameter_first(seed):
    """fANOVA on a forest, over trials spread through the space: the learning rate, which moves
    the value by up to 9, ranks first; the choice (0.3) next; unused parameters near zero."""
    from tpe_plugins.report import importance

    opt = tp.TPE(SPACE, seed=seed, n_startup_trials=80, startup="random")
    for _ in range(80):
        t = opt.ask()
        opt.tell(t, lr_objective(t.params))
    share = importance(Run.from_optimizer(opt))
    assert set(share) == {"lr", "layers", "unused", "act"}
    assert max(share, key=share.get) == "lr" and share["lr"] > 0.8
    assert share["unused"] < 0.05 and share["layers"] < 0.05
    assert sum(share.values()) == pytest.approx(1.0)


def test_without_scikit_learn_the_page_says_what_to_install(monkeypatch):
    opt = tp.TPE(SPACE, seed=0)
    for _ in range(10):
        t = opt.ask()
        opt.tell(t, lr_objective(t.params))
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)
    data = payload(Run.from_optimizer(opt))
    assert "needs scikit-learn" in data["importance"]["error"]
    assert "tpe-plugins[plot]" in data["importance"]["error"]


def test_several_objectives_and_constraints_mark_front_and_feasibility(tmp_path):
    opt = tp.TPE({"x": tp.Float(0, 1), "y": tp.Float(0, 1)}, mode=["min", "max"], seed=0)
    for _ in range(40):
        t = opt.ask()
        x, y = t.params["x"], t.params["y"]
        opt.tell(t, [x + 0.1 * y, x ** 2], constraints=[y - 0.8])
    (tmp_path / "state.json").write_text(json.dumps(opt.state_dict()))
    proc, data = report([str(tmp_path / "state.json")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert data["modes"] == ["min", "max"] and data["constraints"]
    assert {t["id"] for t in data["trials"] if t["front"]} == {t.id for t in opt.pareto}
    feasible = {t.id: t.feasible for t in opt.trials}
    assert all(t["feasible"] == feasible[t["id"]] for t in data["trials"])
    assert not any(t["front"] and not t["feasible"] for t in data["trials"])
    assert len(data["importance"]["scores"]) == 2  # one per objective


def test_bad_sources_get_clear_errors(tmp_path):
    proc, _ = report([str(tmp_path / "missing.json")], tmp_path)
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr
    (tmp_path / "bad.json").write_text("{not json")
    proc, _ = report([str(tmp_path / "bad.json")], tmp_path)
    assert proc.returncode == 2 and "not JSON" in proc.stderr
    (tmp_path / "other.json").write_text('{"a": 1}')
    proc, _ = report([str(tmp_path / "other.json")], tmp_path)
    assert proc.returncode == 2 and "not a saved optimiser state" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc, _ = report([str(tmp_path / "empty")], tmp_path)
    assert proc.returncode == 2 and "no trial folders" in proc.stderr


def test_console_script(tmp_path, capsys):
    from tpe_plugins.report.cli import console

    opt = tp.TPE({"x": tp.Float(0, 1)}, seed=0)
    for _ in range(8):
        t = opt.ask()
        opt.tell(t, t.params["x"])
    (tmp_path / "s.json").write_text(json.dumps(opt.state_dict()))
    assert console(["report", str(tmp_path / "s.json"), "-o", str(tmp_path / "r.html")]) == 0
    assert "wrote" in capsys.readouterr().out and page_data(tmp_path / "r.html")["trials"]
    assert console(["nonsense"]) == 2
    text = open("pyproject.toml").read()  # noqa: SIM115 - the script the package declares
    assert 'tpe-plugins = "tpe_plugins.report.cli:console"' in text


# ---------------------------------------------------------------------- real Tune runs
def test_tpesearch_folder_needs_no_flags_and_the_live_callback_writes_as_trials_finish(
        ray_session, tmp_path, caplog):
    """Several objectives and a constraint with TPESearch, the metrics named only in the
    searcher: the folder alone gives the front. ReportCallback rewrites the page during the
    run and says "finished" at the end; an unwritable path only logs a warning."""
    from ray import tune

    from tpe_plugins.integrations.ray_tune import ReportCallback, TPESearch

    def two_objectives(config):  # defined here: Ray workers cannot import test modules
        for step in range(1, 4):
            tune.report({"err": (config["x"] - 0.3) ** 2 + 0.5 / step, "size": config["y"],
                         "mem_over": config["x"] - 0.8})

    search = TPESearch(metric=["err", "size"], mode=["min", "max"], seed=0, n_startup_trials=4,
                       constraints=["mem_over"])
    live = ReportCallback(tmp_path / "live.html", searcher=search, every_s=0.0)
    (tmp_path / "file").write_text("")
    broken = ReportCallback(tmp_path / "file" / "report.html", searcher=search, every_s=0.0)
    with caplog.at_level(logging.WARNING):
        grid = tune.Tuner(
            two_objectives,
            param_space={"x": tune.uniform(0, 1), "y": tune.uniform(0, 1), "epochs": 3},
            tune_config=tune.TuneConfig(search_alg=search, num_samples=10, reuse_actors=True),
            run_config=tune.RunConfig(storage_path=str(tmp_path), name="mo", verbose=0,
                                      callbacks=[live, broken])).fit()
    assert grid.num_errors == 0  # the broken report did not break the run
    assert any("could not write" in r.getMessage() for r in caplog.records)
    assert live.writes >= 3  # live pages while trials went, and the final one
    data = page_data(tmp_path / "live.html")
    assert not data["live"] and len(data["trials"]) == 10  # "finished"
    assert "finished" in (tmp_path / "live.html").read_text()
    assert not list(tmp_path.glob(".live.html.*"))  # no temporary file left behind

    proc, data = report([str(tmp_path / "mo")], tmp_path)  # no --metric, no --mode
    assert proc.returncode == 0, proc.stderr
    assert data["metrics"] == ["err", "size"] and data["modes"] == ["min", "max"]
    assert "TPESearch state" in " ".join(data["notes"])
    assert [p["name"] for p in data["params"]] == ["x", "y"] and data["constants"] == {
        "epochs": 3}
    core = {t.id: t for t in search.optimizer.trials}
    assert {t["id"] for t in data["trials"] if t["front"]} == {
        t.id for t in search.optimizer.pareto}
    assert all(t["feasible"] == core[t["id"]].feasible for t in data["trials"])
    assert any(t["feasible"] is False for t in data["trials"])


def test_asha_runs_show_rungs_and_stopped_trials(ray_session, tmp_path):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from tpe_plugins.integrations.ray_tune import TPESearch

    def curve(config):
        for step in range(1, 9):
            tune.report({"loss": (config["x"] - 0.3) ** 2 + 1 / step})

    tune.Tuner(curve, param_space={"x": tune.uniform(0, 1)},
               tune_config=tune.TuneConfig(
                   search_alg=TPESearch(seed=0, n_startup_trials=4), metric="loss", mode="min",
                   scheduler=ASHAScheduler(max_t=8, grace_period=1, reduction_factor=2),
                   num_samples=10, reuse_actors=True),
               run_config=tune.RunConfig(storage_path=str(tmp_path), name="asha",
                                         verbose=0)).fit()
    run = load_run(tmp_path / "asha")
    assert run.metric == "loss" and run.rungs and max(run.rungs) <= 8
    stopped = [t for t in run.trials if t["state"] == "stopped"]
    assert stopped and all(max(t["curve"]) < 8 for t in stopped)
    assert all(max(t["curve"]) == 8 for t in run.trials if t["state"] == "complete")


@pytest.mark.parametrize("searcher", ["optuna", "hyperopt"])
def test_folders_from_other_searchers(ray_session, tmp_path, searcher):
    """OptunaSearch with a Tuner (the metric comes from the Tuner's config); HyperOptSearch
    with tune.run (nothing saved names the metric: the error lists what the trials reported,
    and --metric/--mode work)."""
    from ray import tune

    def quad(config):
        tune.report({"loss": (config["x"] - 0.3) ** 2 + 0.1 * (config["act"] == "b"),
                     "acc": 1 - config["x"]})

    space = {"x": tune.uniform(0, 1), "act": tune.choice(["a", "b"])}
    if searcher == "optuna":
        pytest.importorskip("optuna")
        from ray.tune.search.optuna import OptunaSearch

        tune.Tuner(quad, param_space=space,
                   tune_config=tune.TuneConfig(search_alg=OptunaSearch(seed=0), metric="loss",
                                               mode="min", num_samples=8, reuse_actors=True),
                   run_config=tune.RunConfig(storage_path=str(tmp_path), name="exp",
                                             verbose=0)).fit()
        proc, data = report([str(tmp_path / "exp")], tmp_path)
        assert proc.returncode == 0, proc.stderr
    else:
        pytest.importorskip("hyperopt")
        from ray.tune.search.hyperopt import HyperOptSearch

        tune.run(quad, config=space, search_alg=HyperOptSearch(random_state_seed=0),
                 metric="loss", mode="min", num_samples=8, storage_path=str(tmp_path),
                 name="exp", verbose=0)
        proc, _ = report([str(tmp_path / "exp")], tmp_path)
        if proc.returncode == 2:  # nothing saved names the metric: the choices are listed
            assert "pass --metric" in proc.stderr and "loss" in proc.stderr \
                and "acc" in proc.stderr
        proc, data = report([str(tmp_path / "exp"), "--metric", "loss", "--mode", "min"],
                            tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert data["metrics"] == ["loss"] and data["modes"] == ["min"]
    assert len(data["trials"]) == 8 and all(t["value"] for t in data["trials"])
    assert {p["name"] for p in data["params"]} == {"x", "act"}
    proc, _ = report([str(tmp_path / "exp"), "--metric", "nope"], tmp_path)
    assert proc.returncode == 2 and "no trial reported the metric 'nope'" in proc.stderr \
        and "loss" in proc.stderr
