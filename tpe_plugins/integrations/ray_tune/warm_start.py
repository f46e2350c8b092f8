"""Warm start: results known before a trial runs, put into the optimiser.

`points_to_evaluate` (run first, or already scored by `evaluated_rewards`), `add_evaluated_point`
and `add_evaluated_trials` all end here. Plain functions of explicit arguments: `TPESearch`
hands over its optimiser and space and records the trials that come back, so these rules can be
read and changed apart from the trial loop.
"""

from __future__ import annotations

import math
from typing import Any

import tpe_plugins as tp

from . import experiment
from . import space as sp


def starting_points(points_to_evaluate: list[dict] | None,
                    evaluated_rewards: list[float] | None) -> tuple[list, list | None]:
    """points_to_evaluate and evaluated_rewards as plain values, checked to pair up when the
    searcher is built (the points themselves are checked once the space is known)."""
    points = sp.plain(list(points_to_evaluate or []))
    rewards = None if evaluated_rewards is None else sp.plain(list(evaluated_rewards))
    if rewards is not None and len(rewards) != len(points):
        raise ValueError(f"evaluated_rewards has {len(rewards)} values but "
                         f"points_to_evaluate {len(points)} points")
    return points, rewards


def start(opt: tp.TPE, space: sp._Node, core: tp.Space, points: list[dict],
          rewards: list | None) -> tuple[list | None, list[tp.Trial]]:
    """points_to_evaluate for a new optimiser, as (queue, trials): without rewards, the queue
    of core params to run first; with them, None and the points added to `opt` as complete
    trials (not rerun). A point outside the space fails, naming it."""
    params = [sp.encode_point(space, core, p, f"points_to_evaluate[{i}]")
              for i, p in enumerate(points)]
    if rewards is None:
        return params, []
    return None, [opt.add_trial(p, reward) for p, reward in zip(params, rewards, strict=True)]


def add_point(opt: tp.TPE, space: sp._Node, core: tp.Space, parameters: dict, value: Any, *,
              error: bool, pruned: bool, intermediate_values: list | None,
              where: str) -> tp.Trial:
    """One configuration evaluated elsewhere, added to `opt`: failed on `error`, else complete
    or pruned with its learning curve (steps 1, 2, ...; missing and non-finite values left out
    rather than letting one bad value spoil the model)."""
    params = sp.encode_point(space, core, parameters, where)
    value = sp.plain(value)
    if error:
        return opt.add_trial(params, None)
    curve = {step: float(v) for step, v in
             enumerate(sp.plain(list(intermediate_values or [])), start=1)
             if v is not None and math.isfinite(v)}
    return opt.add_trial(params, value, state="pruned" if pruned else "complete",
                         intermediate=curve)


def finished(trials_or_analysis: Any) -> list[experiment.Record]:
    """The ended trials of an earlier experiment (see `experiment.records` for what it reads);
    unfinished ones are left out, as they carry no final value."""
    return [r for r in experiment.records(trials_or_analysis)
            if r.status != experiment.UNFINISHED]
