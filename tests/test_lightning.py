"""TPECallback and tune_trainer: real Lightning training of a tiny model on CPU.

Core mode (no Ray) runs in this process; Tune runs use the session's Ray (2 CPUs); the
pytorch_lightning package and the missing-extra ImportError run in subprocesses, so that this
process keeps to lightning.pytorch.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

from helpers import lightning_model  # noqa: E402
from helpers.lightning_model import regression_loaders as loaders  # noqa: E402

import tpe_plugins as tp  # noqa: E402
from tpe_plugins.integrations.lightning import (  # noqa: E402
    DEFAULT_PRUNER,
    MissingMetricError,
    TPECallback,
    tune_checkpoint,
    tune_trainer,
)

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
       "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
QUIET = dict(enable_progress_bar=False, logger=False, enable_model_summary=False,
             enable_checkpointing=False)
GOOD_LR, BAD_LR = 0.1, 1e-4


Tiny = lightning_model.tiny_class(pl)  # linear regression, shared by every Lightning test


def build(params: dict, epochs: int = 3):
    torch.manual_seed(0)
    return Tiny(params["lr"]), loaders(), {"max_epochs": epochs, **QUIET}


SPACE = {"lr": tp.Float(1e-4, 0.3, log=True)}


# ---------------------------------------------------------------------------------- core mode
def test_core_mode_reports_every_epoch_and_completes_the_trial():
    opt = tp.TPE(SPACE, seed=0)
    trial = opt.ask()
    model, (train, val), kwargs = build({"lr": GOOD_LR})
    callback = TPECallback(opt, trial, monitor="val_loss")
    assert isinstance(callback, pl.Callback) and isinstance(callback, TPECallback)
    trainer = pl.Trainer(callbacks=[callback], num_sanity_val_steps=2, **kwargs)
    trainer.fit(model, train, val)
    done = opt.trial(trial.id)
    # the sanity check reported nothing: one value per epoch, steps 1..3
    assert sorted(done.intermediate) == [1, 2, 3]
    assert done.state == "complete"
    assert done.value == pytest.approx(float(trainer.callback_metrics["val_loss"]))
    assert done.value == done.intermediate[3]
    # trainer.validate() after fit is not a training epoch: nothing is reported to the
    # (finished) trial, which would raise
    trainer.validate(model, val, verbose=False)
    assert opt.trial(trial.id).intermediate == done.intermediate


def test_core_mode_max_mode_and_callback_metric_name():
    opt = tp.TPE(SPACE, seed=0, mode="max")
    trial = opt.ask()
    model, (train, val), kwargs = build({"lr": GOOD_LR})
    model.log_as = "neg_loss"
    trainer = pl.Trainer(callbacks=[TPECallback(opt, trial, monitor="neg_loss")], **kwargs)
    trainer.fit(model, train, val)
    assert opt.best.id == trial.id and opt.best.value == opt.trial(trial.id).intermediate[3]


def test_standalone_pruning_stops_the_trainer_and_records_the_trial_as_pruned():
    opt = tp.TPE(SPACE, seed=0, pruner=tp.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    for lr in (GOOD_LR, GOOD_LR * 0.9, BAD_LR):
        opt.enqueue({"lr": lr})
    epochs_run = []

    def build_and_count(params):
        model, data, kwargs = build(params, epochs=4)

        class Count(pl.Callback):
            def on_train_epoch_end(self, trainer, pl_module):
                epochs_run.append((params["lr"], trainer.current_epoch))

        return model, data, {**kwargs, "callbacks": [Count()]}

    result = tune_trainer(build_and_count, optimizer=opt, monitor="val_loss", n_trials=3)
    good, good2, bad = result.trials
    assert good.state == good2.state == "complete" and len(good.intermediate) == 4
    assert bad.state == "pruned"
    assert list(bad.intermediate) == [1]  # judged after its first epoch
    assert bad.value == bad.intermediate[1]  # pruned with its last value, not lost
    assert [e for lr, e in epochs_run if lr == BAD_LR] == [0]  # the Trainer stopped
    assert result.best_params == {"lr": GOOD_LR} and result.optimizer is opt


def test_per_epoch_reports_reach_the_model():
    """A trial its Trainer ended after one epoch is judged by its value there against the
    others' values at epoch 1, not by its final value against their final values; so the
    callback's per-epoch reports change what the optimiser suggests next."""
    lrs, epochs = (0.2, 0.25, 0.3), (4, 4, 1)

    def search(with_curves: bool) -> tp.TPE:
        opt = tp.TPE(SPACE, seed=0, n_startup_trials=3)
        for lr, n in zip(lrs, epochs, strict=True):
            opt.enqueue({"lr": lr})
            trial = opt.ask()
            model, (train, val), kwargs = build({"lr": lr}, epochs=n)
            pl.Trainer(callbacks=[TPECallback(opt, trial, monitor="val_loss")],
                       **kwargs).fit(model, train, val)
        if with_curves:
            return opt
        plain = tp.TPE(SPACE, seed=0, n_startup_trials=3)  # the same trials, final values only
        for t in opt.trials:
            plain.add_trial(t.params, t.value)
        return plain

    opt, plain = search(True), search(False)
    short, long_ = opt.trials[2], opt.trials[:2]
    assert list(short.intermediate) == [1] and all(len(t.intermediate) == 4 for t in long_)
    # at epoch 1 the short trial led; by final values it is last
    assert short.intermediate[1] < min(t.intermediate[1] for t in long_)
    assert short.value > max(t.value for t in long_)
    assert [opt.ask().params for _ in range(3)] != [plain.ask().params for _ in range(3)]


class TwoCosts(Tiny):
    """Logs a second objective beside val_loss: a cost that grows with the learning rate."""

    def validation_step(self, batch, batch_idx):
        super().validation_step(batch, batch_idx)
        self.log("cost", torch.tensor(self.lr * 10.0))


def test_core_mode_with_several_objectives_tells_one_value_per_monitor():
    opt = tp.TPE(SPACE, mode=["min", "min"], seed=0, n_startup_trials=3)
    with pytest.raises(ValueError, match="names 1 metric.* 2 objective"):
        TPECallback(opt, opt.ask(), monitor="val_loss")
    opt = tp.TPE(SPACE, mode=["min", "min"], seed=0, n_startup_trials=3)
    for lr in (BAD_LR, 0.01, GOOD_LR):
        opt.enqueue({"lr": lr})
        trial = opt.ask()
        torch.manual_seed(0)
        model = TwoCosts(lr)
        train, val = loaders()
        trainer = pl.Trainer(callbacks=[TPECallback(opt, trial, monitor=["val_loss", "cost"])],
                             max_epochs=2, **QUIET)
        trainer.fit(model, train, val)
        done = opt.trial(trial.id)
        assert done.state == "complete" and done.intermediate == {}
        assert done.value == pytest.approx([float(trainer.callback_metrics["val_loss"]),
                                            lr * 10.0], rel=1e-6)
    # a low learning rate is cheap but learns little, a high one the reverse: a front
    assert len(opt.pareto) >= 2


def test_tune_trainer_default_pruner_and_result():
    result = tune_trainer(build, SPACE, monitor="val_loss", n_trials=3, seed=1)
    assert result.optimizer.pruner is DEFAULT_PRUNER
    assert isinstance(DEFAULT_PRUNER, tp.MedianPruner)
    assert len(result.trials) == 3 and all(t.state == "complete" for t in result.trials)
    assert result.best_value == min(t.value for t in result.trials)


def test_missing_monitor_key_names_it_and_records_the_trial_as_failed():
    opt = tp.TPE(SPACE, seed=0)
    trial = opt.ask()
    model, (train, val), kwargs = build({"lr": GOOD_LR})
    trainer = pl.Trainer(callbacks=[TPECallback(opt, trial, monitor="val_los")], **kwargs)
    with pytest.warns(RuntimeWarning, match="recorded as failed"):
        with pytest.raises(MissingMetricError, match=r"\['val_los'\].*logged: \['val_loss'\]"):
            trainer.fit(model, train, val)
    assert opt.trial(trial.id).state == "failed"

    # in a search, the failed trial is kept and the search goes on
    with pytest.warns(RuntimeWarning, match="val_los"):
        result = tune_trainer(build, SPACE, monitor="val_los", n_trials=2, seed=0)
    assert [t.state for t in result.trials] == ["failed", "failed"]
    assert result.best_params is None


def test_a_crash_in_build_or_fit_is_a_failed_trial():
    def build_or_crash(params):
        if params["lr"] > 0.01:
            raise RuntimeError("out of memory")
        return build(params)

    opt = tp.TPE(SPACE, seed=0)
    opt.enqueue({"lr": 0.1})
    opt.enqueue({"lr": 0.005})
    with pytest.warns(RuntimeWarning, match="out of memory"):
        result = tune_trainer(build_or_crash, optimizer=opt, monitor="val_loss", n_trials=2)
    assert [t.state for t in result.trials] == ["failed", "complete"]


def test_state_dict_round_trip_mid_search_continues_exactly():
    whole = tune_trainer(build, SPACE, monitor="val_loss", n_trials=5, seed=3,
                         n_startup_trials=2)
    first = tune_trainer(build, SPACE, monitor="val_loss", n_trials=3, seed=3,
                         n_startup_trials=2)
    saved = json.loads(json.dumps(first.optimizer.state_dict()))
    rest = tune_trainer(build, monitor="val_loss", n_trials=2,
                        optimizer=tp.TPE.from_state_dict(saved))
    assert isinstance(rest.optimizer.pruner, tp.MedianPruner)  # the pruner is in the state
    assert [t.params for t in rest.trials] == [t.params for t in whole.trials]
    assert rest.best_value == pytest.approx(whole.best_value)


def test_callback_rejects_bad_arguments_and_finished_trials():
    opt = tp.TPE(SPACE, seed=0)
    trial = opt.ask()
    with pytest.raises(TypeError, match="monitor="):
        TPECallback(opt, trial)
    with pytest.raises(TypeError, match="both"):
        TPECallback(opt, monitor="val_loss")
    with pytest.raises(ValueError, match="unknown trial id"):
        TPECallback(opt, 7, monitor="val_loss")
    opt.tell(trial, 1.0)
    model, (train, val), kwargs = build({"lr": GOOD_LR})
    trainer = pl.Trainer(callbacks=[TPECallback(opt, trial, monitor="val_loss")], **kwargs)
    with pytest.raises(ValueError, match="already complete"):
        trainer.fit(model, train, val)


def test_tune_mode_outside_tune_says_what_to_do():
    model, (train, val), kwargs = build({"lr": GOOD_LR})
    trainer = pl.Trainer(callbacks=[TPECallback(metrics={"loss": "val_loss"})], **kwargs)
    with pytest.raises(RuntimeError, match="not running in a Tune trial"):
        trainer.fit(model, train, val)


class TrainLossOnly(Tiny):
    """A loop without validation: it logs its training loss per epoch."""

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss


def test_on_train_epoch_end_serves_a_loop_without_validation():
    opt = tp.TPE(SPACE, seed=0)
    model, (train, _), kwargs = build({"lr": GOOD_LR})
    model.__class__ = TrainLossOnly
    trial = opt.ask()
    pl.Trainer(callbacks=[TPECallback(opt, trial, monitor="train_loss", on="train_epoch_end")],
               **kwargs).fit(model, train)
    done = opt.trial(trial.id)
    assert done.state == "complete" and sorted(done.intermediate) == [1, 2, 3]
    # the default hook never fires without validation: the trial is failed, and says why
    other = opt.ask()
    with pytest.warns(RuntimeWarning, match="did validation end run"):
        pl.Trainer(callbacks=[TPECallback(opt, other, monitor="train_loss")],
                   **kwargs).fit(model, train)
    assert opt.trial(other.id).state == "failed"
    with pytest.raises(ValueError, match="on must be one of"):
        TPECallback(opt, other, monitor="train_loss", on="epoch")


def test_a_resumed_fit_continues_the_trials_curve(tmp_path):
    opt = tp.TPE(SPACE, seed=0)
    trial = opt.ask()
    saved, path = {}, str(tmp_path / "epoch2.ckpt")

    class NodeLost(pl.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.current_epoch + 1 == 2:
                saved["optimizer"] = opt.state_dict()  # what a checkpointing driver kept
                trainer.save_checkpoint(path)
                raise RuntimeError("node lost")

    model, (train, val), kwargs = build({"lr": GOOD_LR}, epochs=4)
    with pytest.warns(RuntimeWarning, match="node lost"), pytest.raises(RuntimeError):
        pl.Trainer(callbacks=[TPECallback(opt, trial, monitor="val_loss"), NodeLost()],
                   **kwargs).fit(model, train, val)
    before = opt.trial(trial.id).intermediate
    assert sorted(before) == [1, 2]

    resumed = tp.TPE.from_state_dict(saved["optimizer"])
    callback = TPECallback(resumed, trial.id, monitor="val_loss")
    model, (train, val), kwargs = build({"lr": GOOD_LR}, epochs=4)
    pl.Trainer(callbacks=[callback], **kwargs).fit(model, train, val, ckpt_path=path)
    done = resumed.trial(trial.id)
    assert done.state == "complete" and sorted(done.intermediate) == [1, 2, 3, 4]
    assert {s: done.intermediate[s] for s in (1, 2)} == before
    assert sorted(callback.curve) == [1, 2, 3, 4] and callback.last_value == done.value


def test_callback_pickles():
    import pickle

    opt = tp.TPE(SPACE, seed=0)
    callback = TPECallback(opt, opt.ask(), monitor="val_loss")
    copy = pickle.loads(pickle.dumps(callback))
    assert type(copy) is type(callback) and copy.monitor == "val_loss"


# ---------------------------------------------------------------------------------- packages
def run_script(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=ENV, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_pytorch_lightning_package_alone_and_mixed_in_one_program():
    out = run_script("""
        import sys, warnings
        warnings.simplefilter("ignore")
        import torch
        import pytorch_lightning as ptl
        import tpe_plugins as tp
        from tpe_plugins.integrations.lightning import TPECallback
        sys.path.insert(0, "tests")
        from helpers.lightning_model import regression_loaders, tiny_class

        def module(base):
            return tiny_class(base)(lr=0.1)

        dl, _ = regression_loaders(n=8, batch_size=4)
        kw = dict(max_epochs=2, enable_progress_bar=False, logger=False,
                  enable_model_summary=False, enable_checkpointing=False)

        def fit(base):
            opt = tp.TPE({"x": tp.Float(0, 1)}, seed=0)
            trial = opt.ask()
            cb = TPECallback(opt, trial, monitor="val_loss")
            base.Trainer(callbacks=[cb], **kw).fit(module(base), dl, dl)
            assert opt.trial(trial.id).state == "complete", opt.trial(trial.id)
            return cb

        cb = fit(ptl)
        assert "lightning.pytorch" not in sys.modules, "imported the other package"
        assert isinstance(cb, ptl.Callback)
        import lightning.pytorch as lp   # now both are in use: one callback fits either
        assert isinstance(fit(lp), ptl.Callback) and isinstance(fit(ptl), lp.Callback)
        print("OK")
    """)
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-3000:]


def test_missing_lightning_raises_import_error_naming_the_extra():
    out = run_script("""
        import sys
        sys.modules["lightning"] = sys.modules["pytorch_lightning"] = None
        try:
            import tpe_plugins.integrations.lightning
        except ImportError as exc:
            print(exc)
    """)
    assert 'pip install "tpe-plugins[lightning]"' in out.stdout, out.stderr[-3000:]


# ---------------------------------------------------------------------------------- Ray Tune
def tune_trainable(config: dict) -> None:
    """A Tune function trainable: the usual Lightning loop plus TPECallback."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model, (train, val), kwargs = build(config, epochs=config["epochs"])
    callbacks = [TPECallback(metrics={"loss": config.get("metric_key", "val_loss")})]
    if config.get("fail_once_at"):
        callbacks.append(FailOnce(config["fail_once_at"], config["marker"]))
    trainer = pl.Trainer(callbacks=callbacks, **kwargs)
    with tune_checkpoint() as path:
        trainer.fit(model, train, val, ckpt_path=path)
    trainer.validate(model, val, verbose=False)  # not reported


class FailOnce(pl.Callback):
    """Crash at the start of an epoch, the first time only (the marker file remembers)."""

    def __init__(self, epoch: int, marker: str):
        self.epoch, self.marker = epoch, marker

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch + 1 == self.epoch and not os.path.exists(self.marker):
            Path(self.marker).touch()
            raise RuntimeError("simulated crash")


@pytest.fixture(scope="module")
def tune_modules(ray_session):
    ray_session.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray_session.cloudpickle.register_pickle_by_value(lightning_model)  # workers lack tests/
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from tpe_plugins.integrations.ray_tune import TPESearch

    return SimpleNamespace(tune=tune, ASHAScheduler=ASHAScheduler, TPESearch=TPESearch)


def tuner(m, tmp_path, param_space, num_samples, max_failures=0, **tune_config):
    tune = m.tune
    return tune.Tuner(
        tune.with_resources(tune_trainable, {"cpu": 1}),
        param_space=param_space,
        tune_config=tune.TuneConfig(metric="loss", mode="min", num_samples=num_samples,
                                    max_concurrent_trials=2, reuse_actors=True, **tune_config),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path), name="run", verbose=0,
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=2, checkpoint_score_attribute="loss", checkpoint_score_order="min"),
            failure_config=tune.FailureConfig(max_failures=max_failures)))


@pytest.fixture(scope="module")
def asha_run(tune_modules, tmp_path_factory):
    """Two good learning rates first, then bad ones that ASHA should stop after one epoch."""
    m = tune_modules
    points = [{"lr": GOOD_LR}, {"lr": GOOD_LR * 1.1}, {"lr": BAD_LR}, {"lr": BAD_LR * 1.1}]
    searcher = m.TPESearch(seed=0, points_to_evaluate=points, n_startup_trials=4)
    scheduler = m.ASHAScheduler(max_t=4, grace_period=1, reduction_factor=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = tuner(m, tmp_path_factory.mktemp("asha"),
                     {"lr": m.tune.loguniform(1e-4, 0.3), "epochs": 4}, 5,
                     search_alg=searcher, scheduler=scheduler).fit()
    return grid, searcher


def test_tune_reports_each_validation_epoch(asha_run):
    grid, _ = asha_run
    assert grid.num_errors == 0
    for result in grid:
        df = result.metrics_dataframe
        n = len(df)
        # one report per epoch: no sanity check, no trainer.validate()
        assert list(df["training_iteration"]) == list(range(1, n + 1))
        assert list(df["epoch"]) == list(range(1, n + 1))
        assert df["loss"].notna().all()


def test_tune_keeps_num_to_keep_lightning_checkpoints(asha_run):
    grid, _ = asha_run
    full = [r for r in grid if len(r.metrics_dataframe) == 4]
    assert full
    for result in grid:
        kept = sorted(p for p in os.listdir(result.path) if p.startswith("checkpoint_"))
        assert 1 <= len(kept) <= 2, kept
    for result in full:
        kept = sorted(p for p in os.listdir(result.path) if p.startswith("checkpoint_"))
        assert len(kept) == 2
        with result.checkpoint.as_directory() as folder:
            state = torch.load(os.path.join(folder, "checkpoint.ckpt"), weights_only=False)
        assert "state_dict" in state and state["epoch"] >= 1


def test_asha_stops_bad_trials_early(asha_run):
    grid, searcher = asha_run
    by_lr = {r.config["lr"]: len(r.metrics_dataframe) for r in grid}
    assert max(by_lr.values()) == 4
    assert by_lr[BAD_LR] == by_lr[BAD_LR * 1.1] == 1
    # Tune does not say ASHA stopped them: complete, judged by the model at epoch 1
    trials = {t.params["lr"]: t for t in searcher.optimizer.trials}
    assert trials[BAD_LR].state == "complete" and max(trials[BAD_LR].intermediate) == 1
    assert searcher.optimizer.best.params["lr"] not in (BAD_LR, BAD_LR * 1.1)


def test_tune_trial_resumes_from_its_checkpoint_after_a_crash(tune_modules, tmp_path):
    marker = tmp_path / "crashed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = tuner(tune_modules, tmp_path, {"lr": GOOD_LR, "epochs": 4, "fail_once_at": 3,
                                              "marker": str(marker)}, 1,
                     max_failures=1).fit()
    assert marker.exists()  # it did crash once
    result = grid[0]
    assert result.error is None
    df = result.metrics_dataframe
    # epochs 1-2, crash, then 3-4 from the checkpoint of epoch 2 (not from scratch)
    assert list(df["epoch"]) == [1, 2, 3, 4]
    assert list(df["training_iteration"]) == [1, 2, 3, 4]


def test_tune_missing_metric_errors_the_trial_naming_the_key(tune_modules, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = tuner(tune_modules, tmp_path, {"lr": GOOD_LR, "epochs": 1,
                                              "metric_key": "val_los"}, 1).fit()
    assert grid.num_errors == 1
    assert "val_los" in str(grid[0].error) and "MissingMetricError" in str(grid[0].error)


# ---------------------------------------------------------------------------------- real DDP
def ddp_search(tmp_path, strategy: str, mode: str) -> tuple[list[dict], list[dict]]:
    """Run tests/lightning_scripts/ddp_search.py: 2 CPU processes, gloo."""
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "lightning_scripts" /
                                              "ddp_search.py"), str(tmp_path), strategy, mode],
                         env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    ranks = 2 if strategy == "ddp" else 1  # ddp: rank 1 runs the script too, and may end later
    deadline = time.time() + 60
    while len(list(tmp_path.glob("final-*.json"))) < ranks and time.time() < deadline:
        time.sleep(0.1)
    finals = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("final-*.json"))]
    trained_file = tmp_path / "trained.jsonl"
    trained = ([json.loads(line) for line in trained_file.read_text().splitlines()]
               if trained_file.exists() else [])
    return finals, trained


@pytest.mark.slow
@pytest.mark.parametrize("strategy,mode", [("ddp", "callback"), ("ddp", "tune_trainer"),
                                           ("ddp_spawn", "tune_trainer")])
def test_ddp_ranks_train_the_same_trials_and_tell_each_once(tmp_path, strategy, mode):
    finals, trained = ddp_search(tmp_path, strategy, mode)
    n_trials = 3 if mode == "tune_trainer" else 2
    # ddp: every rank runs the script and its own search; ddp_spawn: only the caller's
    assert len(finals) == (2 if strategy == "ddp" else 1)
    for final in finals:
        assert "error" not in final, final["error"]
        # a spawned rank may still crash while it exits (gloo teardown): the finished trial
        # is kept, and says so; any other warning is a failure
        assert not [w for w in final["warnings"] if "its result is kept" not in w], \
            final["warnings"]
        trials = final["trials"]
        assert len(trials) == n_trials  # each trial told once: no duplicate, none pending
        assert all(t["state"] in ("complete", "pruned") for t in trials)
        assert all(len(t["intermediate"]) >= 1 for t in trials)
        complete = [t for t in trials if t["state"] == "complete"]
        assert final["best_params"] == min(complete, key=lambda t: t["value"])["params"]
        if mode == "tune_trainer":
            assert final["result_best"] == final["best_params"]
    assert all(f["trials"] == finals[0]["trials"] for f in finals)  # the ranks agree
    # both ranks trained every trial, with the same learning rate
    assert len(trained) == 2 * n_trials
    by_rank = {r: [t["lr"] for t in trained if t["rank"] == r] for r in (0, 1)}
    assert by_rank[0] == by_rank[1] == [t["params"]["lr"] for t in finals[0]["trials"]]


@pytest.mark.slow
@pytest.mark.parametrize("strategy,mode,words", [
    ("ddp", "unseeded", "fixed seed"),
    ("ddp_spawn", "callback", "reads the result back")])
def test_ddp_combinations_that_cannot_work_are_refused(tmp_path, strategy, mode, words):
    finals, trained = ddp_search(tmp_path, strategy, mode)
    assert finals and all(words in f.get("error", "") for f in finals)
    assert trained == []  # refused at setup, before any training


def train_worker(config: dict) -> None:
    """Ray Train worker code: the usual Lightning loop on Ray's DDP strategy, plus TPECallback."""
    import ray.train.lightning as rtl

    torch.set_num_threads(1)
    model, (train, val), kwargs = build(config, epochs=2)
    trainer = pl.Trainer(strategy=rtl.RayDDPStrategy(), plugins=[rtl.RayLightningEnvironment()],
                         accelerator="cpu", devices="auto",
                         callbacks=[TPECallback(metrics={"loss": "val_loss"})], **kwargs)
    rtl.prepare_trainer(trainer).fit(model, train, val)


def train_driver(config: dict) -> None:
    """The Tune trial: one distributed training run of 2 CPU workers."""
    import ray.train
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    # on a loaded machine 2 workers can take longer than Ray Train's default 60 s to start
    os.environ["RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"] = "600"
    TorchTrainer(train_worker, train_loop_config=config,
                 scaling_config=ray.train.ScalingConfig(num_workers=2,
                                                        resources_per_worker={"CPU": 0.5}),
                 run_config=ray.train.RunConfig(
                     name=f"train-{ray.tune.get_context().get_trial_id()}",
                     storage_path=config["storage"],
                     callbacks=[TuneReportCallback()])).fit()


@pytest.mark.slow
def test_a_tune_trial_trained_by_ray_train_workers_reports_through_the_callback(tune_modules,
                                                                               tmp_path):
    tune = tune_modules.tune
    searcher = tune_modules.TPESearch(seed=0, n_startup_trials=1)
    grid = tune.Tuner(
        tune.with_resources(train_driver, {"cpu": 0.2}),
        param_space={"lr": tune.loguniform(1e-3, 0.3), "storage": str(tmp_path / "train")},
        tune_config=tune.TuneConfig(search_alg=searcher, metric="loss", mode="min",
                                    num_samples=2, max_concurrent_trials=1),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="tune", verbose=0)).fit()
    assert grid.num_errors == 0, [r.error for r in grid]
    for result in grid:
        assert list(result.metrics_dataframe["epoch"]) == [1, 2]  # one report per epoch
    trials = searcher.optimizer.trials
    assert [t.state for t in trials] == ["complete", "complete"]
    assert all(sorted(t.intermediate) == [1, 2] for t in trials)
    assert sorted(t.value for t in trials) == pytest.approx(
        sorted(r.metrics["loss"] for r in grid))
