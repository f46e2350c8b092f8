"""What a Tune result, or the end of a trial, means for the model.

How trial endings are recorded. Tune does not tell a searcher who ended a trial (the trainable
itself, the run's stopper, or a scheduler such as ASHA), so TPESearch does not guess:

- any end with a usable final metric: complete, with the whole learning curve reported on the
  way (steps are the result's `time_attr`, by default `training_iteration`: give the
  scheduler's `time_attr` when it counts something else, e.g. epochs). The model judges every
  trial at the step it reached (see `tpe_plugins.budgets`), so a trial ASHA stopped at a rung
  counts by its value there against every other trial's value at that rung, and a trial ended
  early by a Stopper with a good value counts as good;
- error (exception, dead worker), NaN/inf, or a final result without the metric: failed, with a
  warning; failed trials do not enter the model;
- removed while paused (HyperBand ends a paused trial without a result, also one paused at
  max_t): complete at its last reported value, judged at that step like any other; removed
  before it reported anything: failed (it carries no information, and may be suggested again).

`Outcomes` is a part that `TPESearch` owns: it decides, from what the searcher passes in, and
the searcher applies the decision to its optimiser and its record of trials.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from . import experiment
from . import space as sp


@dataclass
class Ending:
    """How to record a trial that ended: `tell` it `value` (None: failed) with the constraint
    values `limits`, after reporting `value` at `step` as the last point of its learning curve
    when `step` is not None; `unsee`: it never ran, so its config may be suggested again."""

    value: Any = None
    limits: Any = None
    step: int | None = None
    unsee: bool = False


class Outcomes:
    """Reads the results of one searcher's trials; each warning is given once (per trial for
    an unusable intermediate result, once in all for a time_attr that is not whole units)."""

    def __init__(self) -> None:
        self._warned: set[str] = set()

    def value(self, trial_id: str, result: dict, metric: str) -> float | None:
        """An intermediate result's metric value, or None (warned once per trial)."""
        value, why = experiment.metric_value(result, metric)
        if value is None and trial_id not in self._warned:
            self._warned.add(trial_id)
            warnings.warn(f"TPESearch: trial {trial_id}: {why}; this result is not recorded",
                          RuntimeWarning, stacklevel=3)
        return value

    def step(self, trial_id: str, result: dict, time_attr: str,
             stacklevel: int = 3) -> int | None:
        """The result's time_attr as a whole number of units, or None (then the caller counts
        results instead: a learning curve still needs ordered steps)."""
        step = sp.plain(result.get(time_attr))
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if isinstance(step, int) and not isinstance(step, bool):
            return step
        if step is not None and "time_attr" not in self._warned:
            self._warned.add("time_attr")
            warnings.warn(f"TPESearch: time_attr {time_attr!r} is {step!r} in trial "
                          f"{trial_id}, not a whole number of units; learning curves count "
                          "results instead", RuntimeWarning, stacklevel=stacklevel)
        return None

    def ending(self, trial_id: str, result: dict | None, error: bool, last: list | None,
               metric: Any, constraints: list[str] | None, time_attr: str) -> Ending:
        """How to record a trial that ended (see the module docstring). `result`: its final
        result, None when it was removed; `last`: [step, value] it last reported, or None."""
        self._warned.discard(trial_id)
        if error:
            return self._failed(f"TPESearch: trial {trial_id} errored (an exception or a dead "
                                "worker); recorded as failed")
        if result is None:  # removed while pending or paused
            return Ending(last[1]) if last is not None else Ending(unsee=True)
        value, why = experiment.metric_value(result, metric)
        if value is None:
            return self._failed(f"TPESearch: trial {trial_id}: {why}; recorded as failed")
        limits = None
        if constraints:
            limits, why = experiment.metric_value(result, constraints)
            if limits is None:
                return self._failed(f"TPESearch: trial {trial_id}: {why} (a constraint); "
                                    "recorded as failed")
        step = self.step(trial_id, result, time_attr, stacklevel=4)
        if step is None or (last is not None and last[0] >= step) or isinstance(value, list):
            step = None  # no new final point of the learning curve
        return Ending(value, limits, step)

    @staticmethod
    def _failed(message: str) -> Ending:
        warnings.warn(message, RuntimeWarning, stacklevel=4)
        return Ending()
