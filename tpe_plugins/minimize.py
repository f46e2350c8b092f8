"""`minimize`: the one-call entry point around ask/tell."""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tpe_plugins.optimizer import TPE, Trial


@dataclass
class MinimizeResult:
    """The outcome of `minimize`; `optimizer` can be asked for more trials. With several
    objectives there is no single best: best_params and best_value are None, see pareto."""

    best_params: dict | None
    best_value: float | None
    trials: list[Trial]
    optimizer: TPE
    pareto: list[Trial] = field(default_factory=list)


def minimize(fn: Callable[[dict], Any], space: Any, n_trials: int = 100,
             seed: int | None = None, mode: str | list[str] = "min",
             **tpe_settings: Any) -> MinimizeResult:
    """Run `fn(params)` n_trials times under TPE and return the best (the Pareto front when
    `mode` lists several objectives and fn returns one value per objective).

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
    if opt.n_objectives > 1:
        return MinimizeResult(None, None, opt.trials, opt, opt.pareto)
    best = opt.best
    return MinimizeResult(best.params if best else None, best.value if best else None,
                          opt.trials, opt, opt.pareto)
