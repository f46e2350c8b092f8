"""What Tune kept of an experiment, read through its public API, as plain `Record`s.

Used to warm-start a search from an earlier experiment run with any searcher, to catch up with
trials that finished after the searcher's last checkpoint, and to rebuild the searcher when its
checkpoint file is unreadable.
"""

from __future__ import annotations

import json
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


# ====================================================================== for the report
# `tpe_plugins.report` asks for a Tune experiment's trials through `report_data` and
# `report_data_from_trials`; they hand back the plain fields of `tpe_plugins.report.Run`.
_STATES = {"TERMINATED": "complete", "ERROR": "failed", "RUNNING": "running",
           "PENDING": "pending", "PAUSED": "paused"}


def report_data(folder: str | os.PathLike, metric: str | list[str] | None = None,
                mode: str | list[str] | None = None) -> dict:
    """The trials of a Tune experiment folder for a report, with the metric(s) and mode(s)
    taken from the TPESearch state or the Tuner's config found there (or given here)."""
    from pathlib import Path

    path = Path(folder).expanduser()
    trial_dirs = sorted(p.parent for p in path.glob("*/result.json"))
    if not trial_dirs:
        raise ValueError(f"{path}: no trial folders with a result.json; give the experiment "
                         "folder that Tune wrote (storage_path/name)")
    found = _saved_objectives(path)
    statuses = _tune_statuses(path)
    trials = []
    for d in trial_dirs:
        params = _read_json(d / "params.json") or {}
        results = []
        for line in (d / "result.json").read_text().splitlines():
            try:
                results.append(json.loads(line))
            except ValueError:
                continue  # a line cut short while Tune wrote it
        trial_id = next((r.get("trial_id") for r in results if r.get("trial_id")), None) \
            or _id_from_dirname(d.name)
        status = statuses.get(trial_id) or ("TERMINATED" if results and results[-1].get("done")
                                            else "RUNNING")
        trials.append({"trial_id": trial_id, "config": params, "results": results,
                       "status": status, "order": _order(d.name)})
    trials.sort(key=lambda t: t["order"])
    return _build(trials, metric, mode, found, source=str(path))


def report_data_from_trials(trials: list, results: dict[str, list[dict]],
                            metric: str | list[str] | None = None,
                            mode: str | list[str] | None = None,
                            searcher: Any = None, folder: str | None = None) -> dict:
    """The same from a running experiment: Tune `Trial`s and the results seen so far by
    trial id (what `ReportCallback` keeps)."""
    from pathlib import Path

    found = _saved_objectives(Path(folder)) if folder else {}
    if searcher is not None:
        found = {**found, **_searcher_objectives(searcher)}
    items = [{"trial_id": t.trial_id, "config": dict(t.config),
              "results": results.get(t.trial_id, []), "status": t.status, "order": i}
             for i, t in enumerate(trials)]
    return _build(items, metric, mode, found, source=folder or "a running Tune experiment")


def _build(items: list[dict], metric: Any, mode: Any, found: dict, source: str) -> dict:
    notes = []
    if isinstance(metric, str) and "," in metric:
        metric = metric.split(",")
    if isinstance(mode, str) and "," in mode:
        mode = mode.split(",")
    if metric is None:
        metric, mode = found.get("metric"), mode or found.get("mode")
        if metric is not None:
            notes.append(f"metric and mode: from the {found.get('from', 'saved state')}")
    elif mode is None and found.get("metric") == metric:
        mode = found.get("mode")
    numeric = _numeric_fields(items)
    if metric is None:
        raise ValueError(f"{source}: no metric named in the folder (no TPESearch state, no "
                         "Tuner config with one); pass --metric NAME and --mode min|max. "
                         f"Numbers the trials reported: {', '.join(numeric) or 'none'}")
    metrics = list(metric) if isinstance(metric, (list, tuple)) else [metric]
    if mode is None:
        mode = ["min"] * len(metrics)
        notes.append("mode: min assumed (none saved; pass --mode max otherwise)")
    modes = list(mode) if isinstance(mode, (list, tuple)) else [mode] * len(metrics)
    if len(modes) != len(metrics) or any(m not in ("min", "max") for m in modes):
        raise ValueError(f"mode must be 'min' or 'max', one per metric {metrics}; got {mode!r}")
    missing = [m for m in metrics if m not in numeric]
    if missing:
        raise ValueError(f"{source}: no trial reported the metric {missing[0]!r}; the trials "
                         f"reported: {', '.join(numeric) or 'no numbers'}")
    time_attr = found.get("time_attr") or "training_iteration"
    core = found.get("core")  # a TPESearch's core trials, by Tune trial id
    out, steps_reached = [], []
    for n, item in enumerate(items):
        curve: dict[int, float] = {}
        last: dict | None = None
        for k, r in enumerate(item["results"]):
            v, _ = metric_value(r, metrics[0])
            if v is not None:
                step = r.get(time_attr, k + 1)
                curve[int(step) if isinstance(step, numbers.Real) else k + 1] = v
            last = r
        value, _ = metric_value(flatten_dict(last) if last else None,
                                metrics if len(metrics) > 1 else metrics[0])
        state = _STATES.get(item["status"], "running")
        if state == "complete" and value is None:
            state = "failed"
        constraints, tid = None, item["trial_id"]
        ident = n
        if core and tid in core:
            ident, constraints = core[tid]
        elif found.get("constraint_names") and last:
            c = [metric_value(flatten_dict(last), name)[0] for name in found["constraint_names"]]
            constraints = None if None in c else c
        out.append({"id": ident, "label": str(tid or ""), "params": _flat(item["config"]),
                    "value": value, "state": state, "curve": curve,
                    "constraints": constraints})
        steps_reached.append(max(curve) if curve else None)
    rungs = _rungs(found, out, steps_reached)
    result = {"trials": out, "metric": metrics if len(metrics) > 1 else metrics[0],
              "mode": modes if len(modes) > 1 else modes[0], "source": source,
              "rungs": rungs, "notes": notes}
    if found.get("space"):
        from tpe_plugins.report.run import space_info

        result.update(space_info(found["space"]))
    return result


def _rungs(found: dict, trials: list[dict], reached: list) -> list[int]:
    """Scheduler milestones (ASHA, Hyperband): from the saved scheduler where there is one,
    else the steps where finished trials stopped short of the longest; marks those trials
    "stopped"."""
    done = [s for t, s in zip(trials, reached, strict=True)
            if s is not None and t["state"] == "complete"]
    if not done:
        return []
    top = max(done)
    stopped = sorted({s for s in done if s < top})
    milestones = [m for m in found.get("milestones", []) if m <= top]
    if not stopped and not milestones:
        return []
    for t, s in zip(trials, reached, strict=True):
        if t["state"] == "complete" and s is not None and s < top:
            t["state"] = "stopped"
    return sorted(set(milestones) | set(stopped)) if not milestones else sorted(milestones)


def _flat(config: dict) -> dict:
    from tpe_plugins.report.run import flatten

    return flatten(plain(config))


def _numeric_fields(items: list[dict]) -> list[str]:
    skip = {"timestamp", "training_iteration", "time_this_iter_s", "time_total_s", "pid",
            "time_since_restore", "iterations_since_restore", "done"}
    names: dict[str, None] = {}
    for item in items:
        for r in item["results"][-1:]:
            for k, v in flatten_dict(r).items():
                if (k not in skip and not k.startswith("config/") and isinstance(v, numbers.Real)
                        and not isinstance(v, bool)):
                    names[k] = None
    return list(names)


def _read_json(path: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _order(dirname: str) -> tuple:
    """Tune names trial folders <trainable>_<id>_<number>_<config>_<date>: creation order."""
    parts = dirname.split("_")
    for p in parts[2:3]:
        if p.isdigit():
            return (int(p), dirname)
    return (10**9, dirname)


def _id_from_dirname(dirname: str) -> str | None:
    parts = dirname.split("_")
    return parts[1] if len(parts) > 1 else None


def _tune_statuses(path: Any) -> dict[str, str]:
    """Trial id -> Tune status from the newest experiment_state file (best effort)."""
    files = sorted(path.glob("experiment_state-*.json"))
    data = _read_json(files[-1]) if files else None
    out: dict[str, str] = {}
    for entry in (data or {}).get("trial_data", []):
        try:
            info = json.loads(entry[0] if isinstance(entry, list) else entry)
            out[str(info["trial_id"])] = str(info["status"])
        except (ValueError, KeyError, TypeError, IndexError):
            continue
    return out


def _saved_objectives(path: Any) -> dict:
    """Metric(s), mode(s), space and per-trial core data saved in an experiment folder: from
    a TPESearch state first, else the Tuner's config (tuner.pkl); {} when neither is there."""
    found: dict = {}
    tuner = path / "tuner.pkl"
    if tuner.is_file():  # written by tune.Tuner; the TuneConfig holds metric, mode, scheduler
        try:
            from ray import cloudpickle

            with open(tuner, "rb") as f:
                config = cloudpickle.load(f).get("_tune_config")
            if getattr(config, "metric", None):
                found.update(metric=config.metric, mode=config.mode, **{"from": "Tuner config"})
            found.update(_scheduler_info(getattr(config, "scheduler", None)))
            searcher = getattr(config, "search_alg", None)
            if searcher is not None and type(searcher).__name__ != "TPESearch" and \
                    getattr(searcher, "metric", None) and "metric" not in found:
                found.update(metric=searcher.metric, mode=searcher.mode,
                             **{"from": f"{type(searcher).__name__} config"})
        except Exception:  # noqa: BLE001 - an unreadable config only loses the defaults
            pass
    for state_file in sorted(path.glob("searcher-state-*.pkl"), reverse=True):
        try:
            from . import checkpoint

            state = checkpoint.read(str(state_file))
        except Exception:  # noqa: BLE001 - another searcher's pickle, or cut short
            continue
        found.update(_state_objectives(state))
        break
    return found


def _state_objectives(state: dict) -> dict:
    found: dict = {"from": "TPESearch state"}
    if state.get("metric") is not None:
        found.update(metric=state["metric"], mode=state["mode"])
    opt = state.get("optimizer")
    if isinstance(opt, dict):
        found["space"] = opt.get("space")
        constraints = opt.get("constraints") or []
        found["core"] = {str(tid): (int(i), constraints[int(i)] if int(i) < len(constraints)
                                    else None) for tid, i in state.get("ids", {}).items()}
    return found


def _searcher_objectives(searcher: Any) -> dict:
    """From a live searcher object (TPESearch: also its space and constraint values)."""
    found: dict = {}
    if getattr(searcher, "metric", None):
        found.update(metric=searcher.metric, mode=searcher.mode,
                     **{"from": type(searcher).__name__})
    if type(searcher).__name__ == "TPESearch":
        found["time_attr"] = searcher.time_attr
        opt = searcher.optimizer
        if opt is not None:
            found["space"] = opt.space.to_dict()
        if searcher.constraints:
            found["constraint_names"] = list(searcher.constraints)
    return found


def _scheduler_info(scheduler: Any) -> dict:
    """ASHA's milestones and time_attr, where a saved scheduler has them."""
    if scheduler is None:
        return {}
    out: dict = {}
    time_attr = getattr(scheduler, "_time_attr", None)
    if isinstance(time_attr, str):
        out["time_attr"] = time_attr
    milestones = set()
    for bracket in getattr(scheduler, "_brackets", None) or []:
        for rung in getattr(bracket, "_rungs", None) or []:
            if isinstance(rung, tuple) and isinstance(rung[0], numbers.Real):
                milestones.add(int(rung[0]))
    if milestones:
        out["milestones"] = sorted(milestones)
    return out
