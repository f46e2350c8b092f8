"""PyTorch Lightning integration: `TPECallback` and `tune_trainer`.

The LightningModule and the training loop stay as they are; one callback joins the Trainer.
`TPECallback(...)` is the entry point and makes one of two small classes:

- `TuneReportCallback` (no optimiser given): under Ray Tune, reports the mapped metrics after
  each epoch and saves a checkpoint that Tune keeps, so that Tune's searcher (`TPESearch`) and
  schedulers (ASHA) see every epoch. In a Tune function trial only global rank zero reports; in
  a Ray Train worker (`TorchTrainer` launched from a trial, with Ray's
  `TuneReportCallback`) every rank calls `ray.train.report`, as Ray Train requires::

      trainer = pl.Trainer(callbacks=[TPECallback(metrics={"loss": "val_loss"})])

- `TrialCallback` (an optimiser and one of its trials): drives that trial of the core
  optimiser. It reports the monitored value after each epoch (`opt.report`), stops the Trainer
  when the optimiser's pruner says the trial cannot beat the good ones (`opt.prune`), and tells
  the result when fit ends::

      trial = opt.ask()
      trainer = pl.Trainer(callbacks=[TPECallback(opt, trial, monitor="val_loss")])
      trainer.fit(build(trial.params))   # trial is now complete, pruned or failed

`on=` picks the hook: "validation_end" (default; not the sanity check, not `validate()`) or
"train_epoch_end" for loops without validation. Steps are epochs counted from 1.

Distributed training. With `strategy="ddp"` Lightning runs the script once per rank, so every
rank runs its own search; the callback keeps those searches in lockstep (rank zero's value and
pruning decision are broadcast, so every rank records the same) and refuses ranks that ask for
different trials (give the optimiser a seed). With `"ddp_spawn"` the callback runs in copies of
the optimiser in new processes: `tune_trainer` reads the outcome back, a bare
`TPECallback(opt, trial)` is refused at setup. Under Tune, train on several workers with Ray
Train; Lightning's own launchers would start ranks that have no Tune session, which is refused.

Lightning comes as two packages, `lightning.pytorch` and `pytorch_lightning`, whose classes do
not mix. Each callback class is therefore bound, when it is made, to the `Callback` of every
Lightning package the program has imported, so that it fits whichever Trainer it is given.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

if importlib.util.find_spec("torch") is None or (
        importlib.util.find_spec("lightning") is None
        and importlib.util.find_spec("pytorch_lightning") is None):
    raise ImportError('tpe_plugins.integrations.lightning needs PyTorch Lightning (and torch): '
                      'pip install "tpe-plugins[lightning]"')

import tpe_plugins as tp

__all__ = ["TPECallback", "TrialCallback", "TuneReportCallback", "MissingMetricError",
           "tune_checkpoint", "DEFAULT_PRUNER"]

_PACKAGES = ("lightning.pytorch", "pytorch_lightning")
_HOOKS = ("validation_end", "train_epoch_end")

#: The pruner `tune_trainer` gives a new optimiser: median pruning needs no resource schedule
#: and copes with noisy curves; the first 5 trials run in full to set the median, and no trial
#: is judged on its first epoch (steps are epochs, counted from 1).
DEFAULT_PRUNER = tp.MedianPruner(n_startup_trials=5, n_warmup_steps=2)


class MissingMetricError(LookupError):
    """The monitored metric is not in `trainer.callback_metrics` (the trial is not lost: in
    core mode it is recorded as failed, under Tune the trial errors and the searcher records it)."""


# ---------------------------------------------------------------------------------- binding
def lightning_modules() -> list[Any]:
    """The Lightning packages this program uses: those imported, else the first installed."""
    loaded = [sys.modules[name] for name in _PACKAGES
              if hasattr(sys.modules.get(name), "Callback")]
    if loaded:
        return loaded
    for name in _PACKAGES:
        if importlib.util.find_spec(name.split(".")[0]) is not None:
            return [importlib.import_module(name)]
    raise ImportError('PyTorch Lightning is not installed: pip install "tpe-plugins[lightning]"')


_BOUND: dict[tuple, type] = {}


def _bound(cls: type) -> type:
    """`cls` joined with the Callback class of each Lightning package in use (made once)."""
    bases = tuple(module.Callback for module in lightning_modules())
    if (cls, bases) not in _BOUND:
        _BOUND[cls, bases] = type(cls.__name__, (cls, *bases), {"__module__": __name__})
    return _BOUND[cls, bases]


def _rebuild(cls: type, state: dict) -> Any:
    callback = object.__new__(_bound(cls))
    callback.__dict__.update(state)
    return callback


class TPECallback:
    """The entry point: `TPECallback(opt, trial, monitor=...)` makes a `TrialCallback`,
    `TPECallback(metrics=...)` a `TuneReportCallback` (see the module docstring).

    on: "validation_end" or "train_epoch_end". Under Tune: metrics is a key, a list of keys, or
    {tune_name: lightning_key} (None: every scalar metric); save_checkpoints and filename make a
    checkpoint with every report, which Tune's CheckpointConfig keeps or drops.
    """

    def __new__(cls, optimizer: tp.TPE | None = None, trial: tp.Trial | int | None = None,
                *args: Any, **kwargs: Any) -> TPECallback:
        if cls is TPECallback:
            if (optimizer is None) != (trial is None):
                raise TypeError("give both an optimizer and one of its trials (core mode), or "
                                "neither (Ray Tune mode)")
            cls = TrialCallback if optimizer is not None else TuneReportCallback
        return super().__new__(_bound(cls))

    def __init__(self, on: str = "validation_end") -> None:
        if on not in _HOOKS:
            raise ValueError(f"on must be one of {_HOOKS}, got {on!r}")
        self.on = on
        self._pid = os.getpid()  # a different pid in a hook means a spawned copy

    def __reduce__(self) -> tuple:
        # The bound class is made at run time; rebuild it wherever this is unpickled.
        return _rebuild, (type(self).__mro__[1], self.__dict__)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if (self.on == "validation_end" and not trainer.sanity_checking
                and trainer.state.fn == "fit"):
            self._epoch_end(trainer)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.on == "train_epoch_end":
            self._epoch_end(trainer)

    def _epoch_end(self, trainer: Any) -> None:
        raise NotImplementedError

    def _spawned(self) -> bool:
        return os.getpid() != self._pid


def _values(trainer: Any, metrics: dict[str, str] | None) -> dict[str, float]:
    """The mapped metrics as floats; a missing key raises `MissingMetricError`."""
    found = trainer.callback_metrics
    if metrics is None:
        return {k: float(v) for k, v in found.items() if _numel(v) == 1}
    missing = [key for key in metrics.values() if key not in found]
    if missing:
        raise MissingMetricError(
            f"TPECallback: metric(s) {missing} not in trainer.callback_metrics (logged: "
            f"{sorted(found)}); log them with self.log(...) in validation_step or "
            "on_validation_epoch_end (or training_step with on='train_epoch_end'), or fix the "
            "name")
    return {name: float(found[key]) for name, key in metrics.items()}


def _numel(value: Any) -> int:
    numel = getattr(value, "numel", None)
    return numel() if callable(numel) else 1


# ---------------------------------------------------------------------------------- core mode
class TrialCallback(TPECallback):
    """Drives one pending trial of a core optimiser: report, prune, tell (module docstring)."""

    def __init__(self, optimizer: tp.TPE, trial: tp.Trial | int, *,
                 monitor: str | list[str] | None = None, metrics: Any = None,
                 on: str = "validation_end", handoff: str | None = None):
        super().__init__(on)
        if not isinstance(optimizer, tp.TPE):
            raise TypeError(f"optimizer must be a tpe_plugins TPE, got {optimizer!r}")
        names = monitor if isinstance(monitor, (list, tuple)) else [monitor]
        if not names or not all(isinstance(m, str) for m in names):
            raise TypeError("core mode needs monitor=, the key of trainer.callback_metrics "
                            f"to optimise, e.g. monitor='val_loss', or one key per objective "
                            f"(got {monitor!r})")
        if len(names) != optimizer.n_objectives:
            raise ValueError(f"monitor={monitor!r} names {len(names)} metric(s) but the "
                             f"optimizer has {optimizer.n_objectives} objective(s) "
                             f"(mode={optimizer.mode}); give one key per objective")
        if metrics is not None:
            raise TypeError("metrics= is for Ray Tune mode; with an optimizer use monitor=")
        self.optimizer = optimizer
        self.trial_id = trial.id if isinstance(trial, tp.Trial) else int(trial)
        optimizer.trial(self.trial_id)  # unknown ids fail now
        self.monitor = list(names) if len(names) > 1 else names[0]
        self.final: list[float] | None = None  # several objectives: the last values, no curve
        self.handoff = handoff  # a file where a spawned rank zero leaves the outcome (tune_trainer)
        self.curve: dict[int, float] = {}
        self.pruned = False

    @property
    def last_value(self) -> float | list[float] | None:
        if isinstance(self.monitor, list):
            return self.final
        return self.curve[max(self.curve)] if self.curve else None

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Refuse, before training, what cannot record the trial where the caller sees it."""
        if stage != "fit":
            return
        if self._spawned() and not self.handoff:
            raise RuntimeError(
                "TPECallback(opt, trial) runs in a copy of the optimizer in a process that "
                "the Trainer spawned (strategy='ddp_spawn' or similar), so your optimizer would "
                "never see the result. Use strategy='ddp' (every rank runs the script and a "
                "seeded search), or tune_trainer(), which reads the result back.")
        state = self.optimizer.trial(self.trial_id).state
        if state != "pending":
            raise ValueError(f"TPECallback: trial {self.trial_id} is already {state}; "
                             "ask the optimizer for a new trial for each fit")
        if trainer.world_size > 1:
            mine = json.dumps(self.optimizer.trial(self.trial_id).params, sort_keys=True)
            zero = trainer.strategy.broadcast(mine, src=0)
            if trainer.strategy.reduce_boolean_decision(mine != zero, all=False):
                raise RuntimeError(
                    "the DDP ranks ask the optimizer for different trials (this is rank "
                    f"{trainer.global_rank}, with {mine}; rank 0 has {zero}): under "
                    "strategy='ddp' every rank runs your script and its own search. Give the "
                    "optimizer a fixed seed (tp.TPE(space, seed=0)) so that every rank asks "
                    "for the same trials.")

    def _epoch_end(self, trainer: Any) -> None:
        if self.pruned:
            return
        epoch = trainer.current_epoch + 1
        if isinstance(self.monitor, list):  # several objectives: only the final values count
            got = _values(trainer, {m: m for m in self.monitor})
            self.final = trainer.strategy.broadcast([got[m] for m in self.monitor], src=0)
            return
        value = _values(trainer, {self.monitor: self.monitor})[self.monitor]
        # every rank records rank zero's value and decision, so the searches stay in lockstep
        value = trainer.strategy.broadcast(value, src=0)
        self.optimizer.report(self.trial_id, epoch, value)
        self.curve[epoch] = value  # NaN too: a diverged trial is told NaN, i.e. failed
        stop = trainer.strategy.broadcast(self.optimizer.should_prune(self.trial_id), src=0)
        if stop:
            self.optimizer.prune(self.trial_id)
            self.pruned = True
            trainer.should_stop = True

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        """Tell the result: the last reported value (unless pruned)."""
        if self._pending():
            if self.last_value is None:
                warnings.warn(f"TPECallback: trial {self.trial_id} ended without reporting "
                              f"{self.monitor!r} (did {self.on.replace('_', ' ')} run?); "
                              "recorded as failed", RuntimeWarning, stacklevel=2)
            self.optimizer.tell(self.trial_id, self.last_value)
        if self._spawned() and self.handoff and trainer.is_global_zero:
            # written as fit ends, before the spawned processes exit (which may still crash)
            t = self.optimizer.trial(self.trial_id)
            outcome = {"state": str(t.state), "value": t.value, "curve": list(self.curve.items())}
            with open(self.handoff + ".tmp", "w") as f:
                json.dump(outcome, f)
            os.replace(self.handoff + ".tmp", self.handoff)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """A crashed fit is recorded as a failed trial rather than left pending."""
        if self.handoff and not self._spawned():
            return  # tune_trainer decides: a spawned rank zero may have finished the trial
        if self._pending():
            warnings.warn(f"TPECallback: trial {self.trial_id} raised {exception!r}; recorded "
                          "as failed", RuntimeWarning, stacklevel=2)
            self.optimizer.tell(self.trial_id, None)

    def state_dict(self) -> dict:
        """Saved in Lightning checkpoints, so that a resumed fit continues the curve."""
        return {"trial_id": self.trial_id, "curve": [[s, v] for s, v in self.curve.items()],
                "pruned": self.pruned, "final": self.final}

    def load_state_dict(self, state_dict: dict) -> None:
        if state_dict.get("trial_id") != self.trial_id:
            return  # a checkpoint of another trial: its curve is not this trial's
        self.curve = {int(s): float(v) for s, v in state_dict["curve"]}
        self.pruned = bool(state_dict["pruned"])
        self.final = state_dict.get("final")
        known = self.optimizer.trial(self.trial_id)
        if known.state == "pending":  # e.g. an optimizer restored from an earlier state
            for step, value in self.curve.items():
                if step not in known.intermediate:
                    self.optimizer.report(self.trial_id, step, value)

    def _pending(self) -> bool:
        return self.optimizer.trial(self.trial_id).state == "pending"


# ---------------------------------------------------------------------------------- Tune mode
def _session() -> str | None:
    """"tune" in a Tune function trial, "train" in a Ray Train worker, else None."""
    try:
        from ray import train, tune
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # outside a session Tune warns and returns None
        if tune.get_context().get_trial_id() is not None:
            return "tune"
        try:
            train.get_context().get_world_size()
        except Exception:
            return None
    return "train"


class TuneReportCallback(TPECallback):
    """Reports each epoch's metrics (and a checkpoint) to Ray Tune (module docstring)."""

    def __init__(self, *, monitor: str | None = None,
                 metrics: str | list[str] | Mapping[str, str] | None = None,
                 on: str = "validation_end", save_checkpoints: bool = True,
                 filename: str = "checkpoint.ckpt"):
        super().__init__(on)
        if monitor is not None and not isinstance(monitor, str):
            raise TypeError(f"monitor must be a metric name, got {monitor!r}")
        if isinstance(metrics, str):
            metrics = [metrics]
        if metrics is None:
            self.metrics = None if monitor is None else {monitor: monitor}
        else:
            self.metrics = (dict(metrics) if isinstance(metrics, Mapping)
                            else {m: m for m in metrics})
            if monitor is not None:
                self.metrics.setdefault(monitor, monitor)
        self.save_checkpoints = save_checkpoints
        self.filename = filename
        self.reported: list[int] = []  # epochs reported, kept in Lightning checkpoints
        self._built_in = _session()  # where it was made; setup finds where it trains
        self._where = self._built_in

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Fail before training when there is nowhere to report to."""
        if stage != "fit":
            return
        self._where = _session()
        if self._where is None and self._built_in is not None:
            raise RuntimeError(
                "TPECallback: this rank runs in a process the Trainer started, which has no "
                "Ray Tune session (Lightning's ddp/ddp_spawn launchers inside a trial). To "
                "train one trial on several processes, launch Ray Train's TorchTrainer from the "
                "trial with ray.tune.integration.ray_train.TuneReportCallback, and use "
                "ray.train.lightning.RayDDPStrategy in the Trainer.")
        if self._where is None:
            raise RuntimeError("TPECallback without an optimizer reports to Ray Tune, but this "
                               "Trainer is not running in a Tune trial. Outside Tune, pass a "
                               "core optimizer and trial: TPECallback(opt, trial, "
                               "monitor='val_loss'), or use tune_trainer().")

    def _epoch_end(self, trainer: Any) -> None:
        epoch = trainer.current_epoch + 1
        report = {"epoch": epoch, **_values(trainer, self.metrics)}
        self.reported.append(epoch)
        if self._where == "train":
            from ray import train as session
        else:
            from ray import tune as session
        every_rank = self._where == "train"  # Ray Train's report is collective
        if not self.save_checkpoints:
            if every_rank or trainer.is_global_zero:
                session.report(report)
            return
        with tempfile.TemporaryDirectory(prefix="tpe-ckpt-") as folder:
            trainer.save_checkpoint(os.path.join(folder, self.filename))  # on every rank
            checkpoint = (session.Checkpoint.from_directory(folder) if trainer.is_global_zero
                          else None)
            if every_rank or trainer.is_global_zero:
                # Tune copies the folder to the trial's storage before report returns
                session.report(report, checkpoint=checkpoint)

    def state_dict(self) -> dict:
        return {"reported": list(self.reported)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.reported = [int(e) for e in state_dict.get("reported", [])]


@contextlib.contextmanager
def tune_checkpoint(filename: str = "checkpoint.ckpt") -> Iterator[str | None]:
    """Inside a Tune trial: the path of the Lightning checkpoint to resume from, or None.

    Tune hands a restarted trial (max_failures, Tuner.restore, PBT) its last checkpoint;
    pass the path to `trainer.fit(..., ckpt_path=path)` to continue from that epoch::

        with tune_checkpoint() as path:
            trainer.fit(model, datamodule=dm, ckpt_path=path)
    """
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as folder:
        path = os.path.join(folder, filename)
        if not os.path.exists(path):
            raise FileNotFoundError(f"the Tune checkpoint has no {filename!r} (it holds "
                                    f"{sorted(os.listdir(folder))}); pass the filename "
                                    "TPECallback saved")
        yield path
