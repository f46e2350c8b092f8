"""What Tune kept of an experiment, read through its public API, as plain `Record`s.

Used to warm-start a search from an earlier experiment run with any searcher, to catch up with
trials that finished after the searcher's last checkpoint, and to rebuild the searcher when its
checkpoint file is unreadable.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from typing import Any

from ray.tune.utils.util import flatten_dict, unflatten_dict

from .space import plain

FINISHED, FAILED, UNFINISHED = "finished", "failed", "unfinished"


@dataclass
class Record:
    trial_id: str | None
    config: dict
    result: dict | None  # the last result, flattened ("a/b" keys); None if there was none
    status: str  # FINISHED, FAILED or UNFINISHED (still running, pending or paused)


def records(source: Any) -> list[Record]:
    """Trials from a ResultGrid, an ExperimentAnalysis, Tune `Trial`s, an experiment folder or
    a pandas DataFrame (such as `ResultGrid.get_dataframe()`, with "config/..." columns)."""
    from ray.tune import ExperimentAnalysis, ResultGrid
    from ray.tune.experiment import Trial

    if isinstance(source, (str, os.PathLike)):
        source = ExperimentAnalysis(os.fspath(source))
    if isinstance(source, ExperimentAnalysis):
        source = source.trials
    if isinstance(source, Trial):
        source = [source]
    if isinstance(source, ResultGrid):
        return [_from_result(r) for r in source]
    if _is_dataframe(source):
        return _from_dataframe(source)
    if isinstance(source, (list, tuple)) and all(isinstance(t, Trial) for t in source):
        return [_from_trial(t) for t in source]
    raise TypeError("expected a ResultGrid, an ExperimentAnalysis, a Trial or list of Trials, "
                    f"an experiment folder or a pandas DataFrame, got {type(source).__name__}")


def _from_trial(trial: Any) -> Record:
    status = {"TERMINATED": FINISHED, "ERROR": FAILED}.get(trial.status, UNFINISHED)
    result = flatten_dict(trial.last_result) if trial.last_result else None
    return Record(trial.trial_id, dict(trial.config), result, status)


def _from_result(result: Any) -> Record:
    metrics = dict(result.metrics or {})
    status = FAILED if result.error is not None else FINISHED
    return Record(metrics.get("trial_id"), dict(result.config or {}),
                  flatten_dict({k: v for k, v in metrics.items() if k != "config"}) or None,
                  status)


def _is_dataframe(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "to_dict")


def _from_dataframe(frame: Any) -> list[Record]:
    columns = [str(c) for c in frame.columns]
    if not any(c.startswith("config/") for c in columns):
        raise ValueError("the DataFrame has no 'config/...' columns (as ResultGrid.get_dataframe"
                         f"() makes); its columns are {columns[:20]}")
    out = []
    for row in frame.to_dict("records"):
        config = unflatten_dict({k[len("config/"):]: v for k, v in row.items()
                                 if k.startswith("config/")})
        result = {k: v for k, v in row.items() if not k.startswith("config/")}
        failed = bool(result.get("error")) if isinstance(result.get("error"), (bool, str)) \
            else False
        trial_id = result.get("trial_id")
        out.append(Record(None if trial_id is None else str(trial_id), config, result,
                          FAILED if failed else FINISHED))
    return out


def metric_value(result: dict | None, metric: str | list[str]
                 ) -> tuple[float | list[float] | None, str]:
    """The finite metric of a result (a list of them for a list of metrics), or None and the
    reason it is unusable."""
    if isinstance(metric, (list, tuple)):
        values = []
        for name in metric:
            value, why = metric_value(result, name)
            if value is None:
                return None, why
            values.append(value)
        return values, ""
    if not result or metric not in result:
        return None, f"the result has no metric {metric!r}"
    value = plain(result[metric])
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None, f"metric {metric!r} is {value!r}, not a number"
    value = float(value)
    if not math.isfinite(value):
        return None, f"metric {metric!r} is {value}"
    return value, ""
