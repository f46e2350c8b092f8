"""`minimize`: the one-call entry point around ask/tell."""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tpe_plugins.optimizer import TPE, Trial


@dataclass
class MinimizeResult:
    """The outcome of `minimize`; `optimizer` can be asked for more trials."""

    best_params: dict | None
    best_value: float | None
    trials: list[Trial]
    optimizer: TPE


def minimize(fn: Callable[[dict], float], space: Any, n_trials: int = 100,
             seed: int | None = None, mode: str = "min", **tpe_settings: Any) -> MinimizeResult:
    """Run `fn(params)` n_trials times under TPE and return the best.

    An exception in `fn` is recorded as a failed trial, with a warning, and the search goes on.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    opt = TPE(space, mode=mode, seed=seed, **tpe_settings)
    for _ in range(n_trials):
        trial = opt.ask()
        try:
            value = fn(trial.params)
        except Exception as exc:  # a crashed evaluation must not end the search
            warnings.warn(f"trial {trial.id} raised {exc!r}; recorded as failed\n"
                          f"{traceback.format_exc(limit=3)}", RuntimeWarning, stacklevel=2)
            value = None
        opt.tell(trial, value)
    best = opt.best
    return MinimizeResult(best.params if best else None, best.value if best else None,
                          opt.trials, opt)
