"""PyTorch Lightning integration: `TPECallback` and `tune_trainer`.

The LightningModule and the training loop stay as they are; one callback joins the Trainer.

Under Ray Tune (no optimiser given), the callback reports the mapped metrics after each
validation epoch of `trainer.fit` and saves a checkpoint that Tune keeps, so that Tune's
searcher (such as `TPESearch`) and schedulers (such as ASHA) see every epoch::

    trainer = pl.Trainer(max_epochs=20, callbacks=[TPECallback(metrics={"loss": "val_loss"})])

Without Ray, the callback drives one trial of a core optimiser: it reports the monitored value
after each validation epoch (`opt.report`), stops the Trainer when the optimiser's pruner says
the trial cannot beat the good ones (`opt.prune`), and records the outcome when fit ends::

    opt = tp.TPE(space, seed=0, pruner=tp.MedianPruner())
    trial = opt.ask()
    trainer = pl.Trainer(callbacks=[TPECallback(opt, trial, monitor="val_loss")])
    trainer.fit(build(trial.params))   # trial is now complete, pruned or failed

`tune_trainer` runs a whole standalone search that way in one call.

Lightning comes as two packages, `lightning.pytorch` and `pytorch_lightning`, whose classes do
not mix (a callback of one in a Trainer of the other fails with "Expected a parent"). The
callback therefore subclasses the `Callback` of every Lightning package the program has imported
when it is built, so that it fits whichever Trainer it is given. Lightning is imported only then.

Distributed training (DDP): only global rank zero reports to Tune or to the optimiser; the
decision to stop is shared with every rank, so they stop together, and every rank takes part
in saving the checkpoint (Lightning's `save_checkpoint` is collective).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

if importlib.util.find_spec("torch") is None or (
        importlib.util.find_spec("lightning") is None
        and importlib.util.find_spec("pytorch_lightning") is None):
    raise ImportError('tpe_plugins.integrations.lightning needs PyTorch Lightning (and torch): '
                      'pip install "tpe-plugins[lightning]"')

import tpe_plugins as tp

__all__ = ["TPECallback", "MissingMetricError", "tune_trainer", "TuneTrainerResult",
           "tune_checkpoint", "DEFAULT_PRUNER"]

_PACKAGES = ("lightning.pytorch", "pytorch_lightning")
_CLASSES: dict[tuple, type] = {}

#: The pruner `tune_trainer` gives a new optimiser: median pruning needs no resource schedule
#: and copes with noisy curves; the first 5 trials run in full to set the median, and no trial
#: is judged on its first epoch (steps are epochs, counted from 1).
DEFAULT_PRUNER = tp.MedianPruner(n_startup_trials=5, n_warmup_steps=2)


class MissingMetricError(LookupError):
    """The monitored metric is not in `trainer.callback_metrics` (the trial is not lost: in
    core mode it is recorded as failed, under Tune the trial errors and the searcher records it)."""


def _lightning_modules() -> list[Any]:
    """The Lightning packages this program uses: those imported, else the first installed."""
    loaded = [sys.modules[name] for name in _PACKAGES
              if hasattr(sys.modules.get(name), "Callback")]
    if loaded:
        return loaded
    for name in _PACKAGES:
        if importlib.util.find_spec(name.split(".")[0]) is not None:
            return [importlib.import_module(name)]
    raise ImportError('PyTorch Lightning is not installed: pip install "tpe-plugins[lightning]"')


def _concrete_class() -> type:
    bases = tuple(module.Callback for module in _lightning_modules())
    if bases not in _CLASSES:
        _CLASSES[bases] = type("TPECallback", (TPECallback, *bases), {"__module__": __name__})
    return _CLASSES[bases]


def _rebuild(state: dict) -> TPECallback:
    callback = TPECallback.__new__(TPECallback)
    callback.__dict__.update(state)
    return callback


class TPECallback:
    """Reports validation metrics to Ray Tune or to a core optimiser; see the module docstring.

    optimizer, trial: a core `tp.TPE` and one of its pending trials (core mode), or None for
    Ray Tune mode. monitor: the key of `trainer.callback_metrics` to optimise (required in core
    mode; under Tune it is reported under its own name). metrics: under Tune, what to report:
    a key, a list of keys, or {tune_name: lightning_key}; None reports every scalar metric.
    save_checkpoints, filename: under Tune, save `filename` with every report so that Tune's
    CheckpointConfig (num_to_keep, score attribute) decides which to keep.

    Steps are epochs counted from 1 (`trainer.current_epoch + 1`); the sanity check and
    `trainer.validate()` runs are not reported. Only global rank zero reports under DDP.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> TPECallback:
        # Subclass the Callback of the Lightning package(s) in use, once per combination.
        return super().__new__(_concrete_class() if cls is TPECallback else cls)

    def __init__(self, optimizer: tp.TPE | None = None, trial: tp.Trial | int | None = None, *,
                 monitor: str | None = None,
                 metrics: str | list[str] | Mapping[str, str] | None = None,
                 save_checkpoints: bool = True, filename: str = "checkpoint.ckpt"):
        if (optimizer is None) != (trial is None):
            raise TypeError("give both an optimizer and one of its trials (core mode), or "
                            "neither (Ray Tune mode)")
        if monitor is not None and not isinstance(monitor, str):
            raise TypeError(f"monitor must be a metric name, got {monitor!r}")
        self.optimizer = optimizer
        self.trial_id = None if trial is None else (trial.id if isinstance(trial, tp.Trial)
                                                    else int(trial))
        self.monitor = monitor
        self.save_checkpoints = save_checkpoints
        self.filename = filename
        self.last_value: float | None = None  # the monitored value of the last report
        self.pruned = False
        if optimizer is not None:
            if monitor is None:
                raise TypeError("core mode needs monitor=, the key of trainer.callback_metrics "
                                "to optimise, e.g. monitor='val_loss'")
            if metrics is not None:
                raise TypeError("metrics= is for Ray Tune mode; with an optimizer use monitor=")
            if not isinstance(optimizer, tp.TPE):
                raise TypeError(f"optimizer must be a tpe_plugins TPE, got {optimizer!r}")
            optimizer.trial(self.trial_id)  # unknown ids fail now
            self.metrics: dict[str, str] | None = {monitor: monitor}
        else:
            if isinstance(metrics, str):
                metrics = [metrics]
            if metrics is None:
                self.metrics = None if monitor is None else {monitor: monitor}
            else:
                self.metrics = (dict(metrics) if isinstance(metrics, Mapping)
                                else {m: m for m in metrics})
                if monitor is not None:
                    self.metrics.setdefault(monitor, monitor)

    def __reduce__(self) -> tuple:
        # The concrete class is made at run time; rebuild it wherever this is unpickled.
        return _rebuild, (self.__dict__,)

    @property
    def core_mode(self) -> bool:
        return self.optimizer is not None

    # ------------------------------------------------------------------ Lightning hooks
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Fail before training when there is nowhere to report to."""
        if stage != "fit" or not trainer.is_global_zero:
            return
        if self.core_mode:
            state = self.optimizer.trial(self.trial_id).state
            if state != "pending":
                raise ValueError(f"TPECallback: trial {self.trial_id} is already {state}; "
                                 "ask the optimizer for a new trial for each fit")
        elif _tune_trial_id() is None:
            raise RuntimeError("TPECallback without an optimizer reports to Ray Tune, but this "
                               "Trainer is not running in a Tune trial. Outside Tune, pass a "
                               "core optimizer and trial: TPECallback(opt, trial, "
                               "monitor='val_loss'), or use tune_trainer().")

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """Report after each validation epoch of fit (not the sanity check, not validate())."""
        if trainer.sanity_checking or trainer.state.fn != "fit" or self.pruned:
            return
        epoch = trainer.current_epoch + 1
        values = self._values(trainer)
        if self.core_mode:
            self._report_core(trainer, epoch, values[self.monitor])
        else:
            self._report_tune(trainer, epoch, values)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        """Core mode: record the trial's result, the last reported value (unless pruned)."""
        if not self.core_mode or not trainer.is_global_zero or not self._pending():
            return
        if self.last_value is None:
            warnings.warn(f"TPECallback: trial {self.trial_id} ended without reporting "
                          f"{self.monitor!r} (did validation run?); recorded as failed",
                          RuntimeWarning, stacklevel=2)
        self.optimizer.tell(self.trial_id, self.last_value)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """Core mode: a crashed fit is recorded as a failed trial rather than left pending."""
        if self.core_mode and trainer.is_global_zero and self._pending():
            warnings.warn(f"TPECallback: trial {self.trial_id} raised {exception!r}; recorded "
                          "as failed", RuntimeWarning, stacklevel=2)
            self.optimizer.tell(self.trial_id, None)

    # ------------------------------------------------------------------ internals
    def _pending(self) -> bool:
        return self.optimizer.trial(self.trial_id).state == "pending"

    def _values(self, trainer: Any) -> dict[str, float]:
        """The mapped metrics as floats; a missing key raises `MissingMetricError`."""
        found = trainer.callback_metrics
        if self.metrics is None:
            return {k: float(v) for k, v in found.items() if _numel(v) == 1}
        missing = [key for key in self.metrics.values() if key not in found]
        if missing:
            raise MissingMetricError(
                f"TPECallback: metric(s) {missing} not in trainer.callback_metrics (logged: "
                f"{sorted(found)}); log them with self.log(...) in validation_step or "
                "on_validation_epoch_end, or fix the name")
        return {name: float(found[key]) for name, key in self.metrics.items()}

    def _report_core(self, trainer: Any, epoch: int, value: float) -> None:
        stop = False
        if trainer.is_global_zero:
            self.optimizer.report(self.trial_id, epoch, value)
            self.last_value = value  # NaN too: a diverged trial is told NaN, i.e. failed
            stop = self.optimizer.should_prune(self.trial_id)
        # every rank must take the same decision, or DDP hangs at the next collective
        stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            if trainer.is_global_zero:
                self.optimizer.prune(self.trial_id)
            self.pruned = True
            trainer.should_stop = True

    def _report_tune(self, trainer: Any, epoch: int, values: dict[str, float]) -> None:
        from ray import tune

        report = {"epoch": epoch, **values}
        if self.monitor is not None:
            self.last_value = values.get(self.monitor)
        if not self.save_checkpoints:
            if trainer.is_global_zero:
                tune.report(report)
            return
        with tempfile.TemporaryDirectory(prefix="tpe-ckpt-") as folder:
            trainer.save_checkpoint(os.path.join(folder, self.filename))  # on every rank
            if trainer.is_global_zero:
                # Tune copies the folder to the trial's storage before report returns
                tune.report(report, checkpoint=tune.Checkpoint.from_directory(folder))


def _numel(value: Any) -> int:
    numel = getattr(value, "numel", None)
    return numel() if callable(numel) else 1


def _tune_trial_id() -> str | None:
    """The id of the Tune trial this code runs in, or None outside Tune."""
    try:
        from ray import tune
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # outside a session Tune warns and returns None
        return tune.get_context().get_trial_id()


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


# ---------------------------------------------------------------------------------- search
@dataclass
class TuneTrainerResult:
    """The outcome of `tune_trainer`; `optimizer` can continue (or be saved with state_dict)."""

    best_params: dict | None
    best_value: float | None
    trials: list[tp.Trial]
    optimizer: tp.TPE


def tune_trainer(build: Callable[[dict], tuple[Any, Any, dict]], space: Any = None, *,
                 monitor: str, n_trials: int = 20, mode: str = "min", seed: int | None = None,
                 pruner: tp.Pruner | None = None, optimizer: tp.TPE | None = None,
                 **tpe_settings: Any) -> TuneTrainerResult:
    """Tune a Lightning training loop with TPE and pruning, without Ray, one trial at a time.

    build(params) returns (module, data, trainer_kwargs): a LightningModule, its data (a
    LightningDataModule, or a (train_loader, val_loader) pair), and the keyword arguments of
    the Trainer (made from the module's own Lightning package, with a TPECallback added).
    pruner: the optimiser's pruning rule; None means DEFAULT_PRUNER, tp.NopPruner() never prunes.
    optimizer: continue an existing search (e.g. `tp.TPE.from_state_dict(saved)`) instead of
    starting one; space, mode, seed, pruner and tpe_settings are then ignored.
    A trial whose build or fit raises is recorded as failed, with a warning, and the search
    goes on. Returns the best complete trial and the optimiser.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if optimizer is None:
        if space is None:
            raise TypeError("tune_trainer needs a space (or an optimizer to continue)")
        optimizer = tp.TPE(space, mode=mode, seed=seed,
                           pruner=DEFAULT_PRUNER if pruner is None else pruner, **tpe_settings)
    for _ in range(n_trials):
        trial = optimizer.ask()
        try:
            module, data, trainer_kwargs = build(trial.params)
            package = _package_of(module)
            kwargs = dict(trainer_kwargs)
            callbacks = kwargs.get("callbacks") or []
            callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
            kwargs["callbacks"] = [*callbacks, TPECallback(optimizer, trial, monitor=monitor)]
            trainer = package.Trainer(**kwargs)
            if isinstance(data, package.LightningDataModule):
                trainer.fit(module, datamodule=data)
            else:
                train_loader, val_loader = data
                trainer.fit(module, train_loader, val_loader)
        except Exception as exc:  # a crashed trial must not end the search
            if optimizer.trial(trial.id).state == "pending":
                warnings.warn(f"tune_trainer: trial {trial.id} raised {exc!r}; recorded as "
                              "failed", RuntimeWarning, stacklevel=2)
                optimizer.tell(trial, None)
    best = optimizer.best
    return TuneTrainerResult(best.params if best else None, best.value if best else None,
                             optimizer.trials, optimizer)


def _package_of(module: Any) -> Any:
    """The Lightning package (lightning.pytorch or pytorch_lightning) `module` belongs to."""
    for package in _lightning_modules():
        if isinstance(module, package.LightningModule):
            return package
    raise TypeError(f"build must return a LightningModule first, got {type(module).__name__}")
