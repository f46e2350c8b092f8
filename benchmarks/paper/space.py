"""The conditional network space, written once in tpe_plugins types and translated for the others.

In the spirit of the DBN space of Bergstra et al. (2011): the number of layers chooses which
per-layer parameters exist; the initialisation scheme chooses whether a scale exists; PCA
brings its number of components and whitening; SGD brings a momentum. Up to 20 parameters are
active at once (3 layers, SGD, PCA, a scaled initialisation), 30 exist in all.

Every optimiser searches this same space:

- tpe-plugins: `SPACE` itself, through `TPESearch(space=SPACE)`;
- random search: `tune_space(SPACE)`, Tune's domains (a `tune.choice` of dicts that hold
  domains), sampled by Tune's own `BasicVariantGenerator`;
- optuna: `optuna_define_by_run(SPACE)`, a define-by-run function for `OptunaSearch`;
- hyperopt: `hyperopt_space(SPACE)`, a native `hp` expression for `HyperOptSearch`.

Integers and log scales have the same values in every library. A log-scaled integer is drawn by
Tune and optuna directly; hyperopt has no log-integer, so it draws `hp.qloguniform(q=1)` over
[low - 0.5, high + 0.5] and the value is rounded and clipped to the bounds.
"""

from __future__ import annotations

import math
from typing import Any

import tpe_plugins as tp

ACTIVATIONS = ["relu", "tanh", "sigmoid"]


def _layer() -> dict:
    return {"width": tp.Int(16, 512, log=True), "activation": tp.Categorical(ACTIVATIONS),
            "dropout": tp.Float(0.0, 0.5)}


SPACE: dict = {
    "layers": tp.Categorical([
        {"n": 1, "l1": _layer()},
        {"n": 2, "l1": _layer(), "l2": _layer()},
        {"n": 3, "l1": _layer(), "l2": _layer(), "l3": _layer()},
    ]),
    "lr": tp.Float(1e-4, 1.0, log=True),
    "weight_decay": tp.Float(1e-7, 1e-1, log=True),
    "batch_size": tp.Categorical([32, 64, 128, 256]),
    "optimizer": tp.Categorical([
        {"name": "sgd", "momentum": tp.Float(0.0, 0.95)},
        {"name": "adam"},
    ]),
    "init": tp.Categorical([
        {"scheme": "uniform", "scale": tp.Float(0.1, 10.0, log=True)},
        {"scheme": "normal", "scale": tp.Float(0.1, 10.0, log=True)},
        {"scheme": "default"},
    ]),
    "preprocessing": tp.Categorical([
        {"kind": "none"},
        {"kind": "standardise"},
        {"kind": "pca", "components": tp.Int(8, 256, log=True),
         "whiten": tp.Categorical([False, True])},
    ]),
}


def count_params(space: Any = SPACE) -> int:
    """Every parameter of the space, in all branches."""
    if isinstance(space, dict):
        return sum(count_params(v) for v in space.values())
    if isinstance(space, tp.Categorical):
        return 1 + sum(count_params(c) for c in space.choices)
    return int(isinstance(space, (tp.Float, tp.Int)))


# ------------------------------------------------------------------------------------ Ray Tune
def tune_space(space: Any) -> Any:
    """The same space in Tune's domains (Tune's randint/lograndint exclude the upper bound)."""
    from ray import tune

    if isinstance(space, dict):
        return {k: tune_space(v) for k, v in space.items()}
    if isinstance(space, tp.Categorical):
        return tune.choice([tune_space(c) for c in space.choices])
    if isinstance(space, tp.Float):
        assert space.step is None, "no quantised floats in this space"
        return (tune.loguniform if space.log else tune.uniform)(space.low, space.high)
    if isinstance(space, tp.Int):
        assert space.step == 1, "no stepped integers in this space"
        return (tune.lograndint if space.log else tune.randint)(space.low, space.high + 1)
    return space


# -------------------------------------------------------------------------------------- optuna
class OptunaDefineByRun:
    """A define-by-run function for `OptunaSearch` (a class, so that Tune can pickle it with the
    searcher): it asks optuna for the parameters of the branches actually taken and returns the
    nested configuration. Optuna's own parameter names ("optuna:layers",
    "optuna:layers.l1.width", ...) never collide with the configuration's keys."""

    def __init__(self, space: Any):
        self.space = space

    def __call__(self, trial: Any) -> dict:
        return _suggest(trial, self.space, "")


def optuna_define_by_run(space: Any) -> OptunaDefineByRun:
    return OptunaDefineByRun(space)


def _suggest(trial: Any, space: Any, path: str) -> Any:
    name = "optuna:" + (path or "<root>")
    if isinstance(space, dict):
        return {k: _suggest(trial, v, f"{path}.{k}" if path else k) for k, v in space.items()}
    if isinstance(space, tp.Categorical):
        if all(isinstance(c, (str, int, float, bool)) for c in space.choices):
            return trial.suggest_categorical(name, list(space.choices))
        i = trial.suggest_categorical(name, list(range(len(space.choices))))
        return _suggest(trial, space.choices[i], path)
    if isinstance(space, tp.Float):
        return trial.suggest_float(name, space.low, space.high, log=space.log)
    if isinstance(space, tp.Int):
        return trial.suggest_int(name, space.low, space.high, log=space.log)
    return space


# ------------------------------------------------------------------------------------ hyperopt
def hyperopt_space(space: Any, path: str = "") -> Any:
    """The same space as a hyperopt expression (an `hp.choice` of dicts is conditional)."""
    from hyperopt import hp
    from hyperopt.pyll import scope

    label = path or "<root>"
    if isinstance(space, dict):
        return {k: hyperopt_space(v, f"{path}.{k}" if path else k) for k, v in space.items()}
    if isinstance(space, tp.Categorical):
        return hp.choice(label, [hyperopt_space(c, f"{path}[{i}]")
                                 for i, c in enumerate(space.choices)])
    if isinstance(space, tp.Float):
        if space.log:
            return hp.loguniform(label, math.log(space.low), math.log(space.high))
        return hp.uniform(label, space.low, space.high)
    if isinstance(space, tp.Int):
        if space.log:
            value = hp.qloguniform(label, math.log(space.low - 0.5),
                                   math.log(space.high + 0.5), 1)
        else:
            value = hp.quniform(label, space.low - 0.5, space.high + 0.5, 1)
        return scope.int(scope.minimum(scope.maximum(value, space.low), space.high))
    return space
