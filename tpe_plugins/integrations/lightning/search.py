"""`tune_trainer`: a whole TPE search over a Lightning training loop, without Ray.

Each trial builds its module, data and Trainer, trains with a `TrialCallback` (report, prune,
tell), and the search goes on past crashed trials. Under `strategy="ddp_spawn"` the callback
runs in spawned copies of the optimiser; rank zero leaves the trial's outcome in a file as fit
ends, and it is replayed here on the caller's optimiser. A file, because a spawned process can
still crash while it exits (gloo teardown, seen as SIGABRT after a finished fit), and Lightning
then returns nothing at all.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tpe_plugins as tp
from tpe_plugins.integrations.lightning.callbacks import (
    DEFAULT_PRUNER,
    TrialCallback,
    lightning_modules,
)


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
                 on: str = "validation_end", **tpe_settings: Any) -> TuneTrainerResult:
    """Tune a Lightning training loop with TPE and pruning, without Ray, one trial at a time.

    build(params) returns (module, data, trainer_kwargs): a LightningModule, its data (a
    LightningDataModule, or a (train_loader, val_loader) pair), and the keyword arguments of
    the Trainer (made from the module's own Lightning package, with a TPECallback added).
    pruner: the optimiser's pruning rule; None means DEFAULT_PRUNER, tp.NopPruner() never prunes.
    optimizer: continue an existing search (e.g. `tp.TPE.from_state_dict(saved)`) instead of
    starting one; space, mode, seed, pruner and tpe_settings are then ignored.
    Works with strategy="ddp" (give a seed: every rank runs the search) and "ddp_spawn".
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
        with tempfile.TemporaryDirectory(prefix="tpe-trial-") as folder:
            handoff = os.path.join(folder, "outcome.json")
            try:
                _fit(build, trial, TrialCallback(optimizer, trial, monitor=monitor, on=on,
                                                 handoff=handoff))
                error = None
            except Exception as exc:  # a crashed trial must not end the search
                error = exc
            pending = optimizer.trial(trial.id).state == "pending"
            if pending and os.path.exists(handoff):  # rank zero ran in a spawned process
                with open(handoff) as f:
                    _replay(optimizer, trial, json.load(f))
                if error is not None:
                    warnings.warn(f"tune_trainer: trial {trial.id} finished, then its processes "
                                  f"raised {error!r}; its result is kept", RuntimeWarning,
                                  stacklevel=2)
            elif pending and error is not None:
                warnings.warn(f"tune_trainer: trial {trial.id} raised {error!r}; recorded as "
                              "failed", RuntimeWarning, stacklevel=2)
                optimizer.tell(trial, None)
    best = optimizer.best
    return TuneTrainerResult(best.params if best else None, best.value if best else None,
                             optimizer.trials, optimizer)


def _fit(build: Callable[[dict], tuple[Any, Any, dict]], trial: tp.Trial,
         callback: TrialCallback) -> None:
    """Build the trial's module, data and Trainer (with `callback` added) and fit."""
    module, data, trainer_kwargs = build(trial.params)
    package = _package_of(module)
    kwargs = dict(trainer_kwargs)
    callbacks = kwargs.get("callbacks") or []
    callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
    trainer = package.Trainer(**{**kwargs, "callbacks": [*callbacks, callback]})
    if isinstance(data, package.LightningDataModule):
        trainer.fit(module, datamodule=data)
    else:
        train_loader, val_loader = data
        trainer.fit(module, train_loader, val_loader)


def _package_of(module: Any) -> Any:
    """The Lightning package (lightning.pytorch or pytorch_lightning) `module` belongs to."""
    for package in lightning_modules():
        if isinstance(module, package.LightningModule):
            return package
    raise TypeError(f"build must return a LightningModule first, got {type(module).__name__}")


def _replay(optimizer: tp.TPE, trial: tp.Trial, data: dict) -> None:
    """Apply a spawned rank zero's outcome (see `TrialCallback.on_fit_end`) to the caller's
    optimizer."""
    for step, value in data["curve"]:
        optimizer.report(trial, int(step), value)
    if data["state"] == "pruned":
        optimizer.prune(trial, data["value"])
    else:
        optimizer.tell(trial, data["value"] if data["state"] == "complete" else None)
