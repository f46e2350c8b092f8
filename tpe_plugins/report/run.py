"""The trials a report shows, in plain form, from a core optimiser or a saved state.

A framework's own files are read by its integration (for Ray Tune,
`tpe_plugins.integrations.ray_tune.experiment.report_data`), which hands back the plain dict
that `Run.from_dict` takes; this module never parses them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Run:
    """Trials in plain form: flat params ("a/b" for nested), value (a list with several
    objectives), state, curve {step: value}, constraints (feasible when all <= 0)."""

    trials: list[dict]
    mode: str | list[str] = "min"  # a list, and list values, with several objectives
    metric: str | list[str] = "value"
    source: str = ""
    params: list[str] = field(default_factory=list)
    constants: dict = field(default_factory=dict)  # name -> the one value it always had
    log_params: list[str] = field(default_factory=list)  # searched on a log scale
    bounds: dict = field(default_factory=dict)  # name -> [low, high] from the space
    rungs: list[int] = field(default_factory=list)  # ASHA/Hyperband milestones, if any
    notes: list[str] = field(default_factory=list)  # where metric and mode came from, ...

    def __post_init__(self) -> None:
        for t in self.trials:
            t.setdefault("label", "")
            t.setdefault("curve", {})
            t.setdefault("constraints", None)
            t.setdefault("state", "complete" if t.get("value") is not None else "failed")
        names: dict[str, None] = {}
        for t in self.trials:
            names.update(dict.fromkeys(t["params"]))
        if not self.params:
            self.params = list(names)
        # constants (a fixed config entry) are not parameters: one value in every trial
        for name in list(self.params):
            values = {json.dumps(t["params"].get(name), sort_keys=True, default=str)
                      for t in self.trials}
            if name in self.constants or (len(values) == 1 and len(self.trials) > 1):
                self.constants.setdefault(name, self.trials[0]["params"].get(name)
                                          if self.trials else None)
                self.params.remove(name)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_optimizer(cls, opt: Any, metric: str | list[str] | None = None,
                       source: str = "") -> Run:
        """From a `tp.TPE`: its trials (values in the user's sign) and its space."""
        trials = [{"id": t.id, "params": flatten(t.params), "value": t.value,
                   "state": str(getattr(t.state, "value", t.state)),
                   "curve": dict(t.intermediate), "constraints": t.constraints}
                  for t in opt.trials]
        info = space_info(opt.space.to_dict())
        if metric is None:
            metric = ([f"objective {j}" for j in range(len(opt.mode))]
                      if isinstance(opt.mode, list) else "value")
        return cls(trials, mode=opt.mode, metric=metric, source=source, **info)

    @classmethod
    def from_dict(cls, data: dict) -> Run:
        """From the plain dict an integration builds (the fields of this class)."""
        return cls(**data)

    # ------------------------------------------------------------------ views
    @property
    def n_objectives(self) -> int:
        return len(self.mode) if isinstance(self.mode, list) else 1

    @property
    def metrics(self) -> list[str]:
        return list(self.metric) if isinstance(self.metric, list) else [self.metric]

    @property
    def modes(self) -> list[str]:
        return list(self.mode) if isinstance(self.mode, list) else [self.mode]

    def objective(self, j: int) -> Run:
        """The same trials seen through objective j alone."""
        if self.n_objectives == 1:
            return self
        trials = [{**t, "value": None if t["value"] is None else t["value"][j],
                   "curve": t["curve"] if j == 0 else {}} for t in self.trials]
        return Run(trials, mode=self.mode[j], metric=self.metrics[j], source=self.source,
                   params=list(self.params), constants=dict(self.constants),
                   log_params=list(self.log_params), bounds=dict(self.bounds),
                   rungs=list(self.rungs))

    def finished(self) -> list[dict]:
        """Trials with a finite value (complete, pruned or stopped), in creation order."""
        return [t for t in self.trials if finite_value(t["value"])]

    def feasible(self, t: dict) -> bool:
        c = t.get("constraints")
        return c is None or all(x <= 0 for x in c)

    def on_front(self, n_objectives: int | None = None) -> list[bool]:
        """Per `finished()` trial: True when no other feasible trial dominates it (on the
        first n_objectives, default all). Infeasible trials are never on the front."""
        import numpy as np

        from tpe_plugins.pareto import front_ranks

        done = self.finished()
        m = n_objectives or self.n_objectives
        ok = np.array([self.feasible(t) for t in done], dtype=bool)
        out = np.zeros(len(done), dtype=bool)
        if not ok.any():
            return out.tolist()
        values = [t["value"] if isinstance(t["value"], list) else [t["value"]] for t in done]
        V = np.array([v[:m] for v in values], dtype=float)[ok]
        signs = np.array([1.0 if mode == "min" else -1.0 for mode in self.modes[:m]])
        out[np.flatnonzero(ok)] = front_ranks(V * signs) == 0
        return out.tolist()

    def best(self, k: int = 10) -> list[dict]:
        """The k best feasible finished trials (one objective)."""
        sign = 1.0 if self.modes[0] == "min" else -1.0
        done = [t for t in self.finished() if self.feasible(t)]
        first = [t["value"][0] if isinstance(t["value"], list) else t["value"] for t in done]
        order = sorted(range(len(done)), key=lambda i: sign * first[i])
        return [done[i] for i in order[:k]]


def finite_value(value: Any) -> bool:
    """A usable value: a finite number, or a list of them (several objectives)."""
    if value is None:
        return False
    values = value if isinstance(value, list) else [value]
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in values)


def flatten(params: Any, prefix: str = "") -> dict:
    """Nested params as one level, "model/kernel" for params["model"]["kernel"]."""
    if not isinstance(params, dict):
        return {prefix: params}
    out: dict = {}
    for key, value in params.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        out.update(flatten(value, name) if isinstance(value, dict) else {name: value})
    return out


def space_info(spec: Any) -> dict:
    """Constants, log-scale parameters and bounds of a space in `tp.Space.to_dict()` form,
    by flat name; what a report needs to exclude constants and scale axes as searched."""
    info: dict = {"constants": {}, "log_params": [], "bounds": {}}

    def walk(node: Any, name: str, in_choice: bool) -> None:
        if not isinstance(node, dict) or "__tpe__" not in node:
            return
        kind = node["__tpe__"]
        if kind == "dict":
            for key, child in node["items"].items():
                walk(child, f"{name}/{key}" if name else str(key), in_choice)
        elif kind == "const" and not in_choice:
            info["constants"][name] = node.get("value")
        elif kind in ("float", "int"):
            info["bounds"][name] = [node["low"], node["high"]]
            if node.get("log"):
                info["log_params"].append(name)
        elif kind == "categorical":
            for choice in node.get("choices", []):
                walk(choice, name, True)

    walk(spec, "", False)
    return info


def load_run(source: str | Path, metric: str | list[str] | None = None,
             mode: str | list[str] | None = None) -> Run:
    """The trials of a saved state (`TPE.state_dict()` as JSON), a TPESearch checkpoint, or
    a Ray Tune experiment folder (read by the Ray integration)."""
    path = Path(source).expanduser()
    if path.is_dir():
        try:
            from tpe_plugins.integrations.ray_tune.experiment import report_data
        except ImportError as err:
            raise ImportError(f"{path} is a folder: reading a Ray Tune experiment needs Ray "
                              f'({err}); pip install "tpe-plugins[ray]"') from None
        return Run.from_dict(report_data(path, metric=metric, mode=mode))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or folder; give a saved state (.json) "
                                "or a Ray Tune experiment folder")
    try:
        state = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not JSON ({err}); give a saved state or a Tune folder") \
            from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a saved optimiser state (a JSON object from "
                         "TPE.state_dict())")
    note = "objectives: from the saved state"
    if isinstance(state.get("optimizer"), dict):  # a TPESearch checkpoint names its metric(s)
        metric = metric or state.get("metric")
        state = state["optimizer"]
        note = "metric and mode: from the TPESearch checkpoint"
    from tpe_plugins.optimizer import TPE

    try:
        opt = TPE.from_state_dict(state)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: not a saved optimiser state ({err!r}); give the JSON of "
                         "TPE.state_dict() or a Ray Tune experiment folder") from None
    if isinstance(metric, str) and "," in metric:
        metric = metric.split(",")
    if isinstance(metric, list) and len(metric) != len(opt.mode if isinstance(opt.mode, list)
                                                    else [opt.mode]):
        raise ValueError(f"{path}: {len(metric)} metric names for a state with "
                         f"{opt.mode!r} objectives")
    run = Run.from_optimizer(opt, metric=metric, source=str(path))
    run.notes.append(note)
    return run
