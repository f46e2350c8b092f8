"""Pruning rules: stop a running trial whose learning curve cannot beat the good ones.

A rule sees intermediate values in minimisation sign: `curve` is this trial's {step: value},
`others` the curves of the finished (complete or pruned) trials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

Curve = Mapping[int, float]


class Pruner:
    """Base class; `to_dict`/`from_dict` let an optimiser's state carry its rule."""

    def should_prune(self, curve: Curve, others: Sequence[Curve]) -> bool:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"type": type(self).__name__, **vars(self)}

    @staticmethod
    def from_dict(data: dict | None) -> Pruner | None:
        if data is None:
            return None
        kinds = {"MedianPruner": MedianPruner, "SuccessiveHalvingPruner": SuccessiveHalvingPruner,
                 "NopPruner": NopPruner}
        kwargs = {k: v for k, v in data.items() if k != "type"}
        if data.get("type") not in kinds:
            raise ValueError(f"unknown pruner {data.get('type')!r} in saved state")
        return kinds[data["type"]](**kwargs)


class NopPruner(Pruner):
    """Never prunes."""

    def should_prune(self, curve: Curve, others: Sequence[Curve]) -> bool:
        return False


class MedianPruner(Pruner):
    """Prune when the best value so far is worse than the median of other trials at that step.

    The default rule: it needs no resource schedule and is robust on noisy curves.
    """

    def __init__(self, n_startup_trials: int = 5, n_warmup_steps: int = 0):
        if n_startup_trials < 0 or n_warmup_steps < 0:
            raise ValueError("n_startup_trials and n_warmup_steps must be non-negative")
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps

    def should_prune(self, curve: Curve, others: Sequence[Curve]) -> bool:
        finite = _finite(curve)
        if not finite:
            return False
        step = max(finite)
        if step < self.n_warmup_steps:
            return False
        # each other trial's best value up to this step, as the trial would have stood then
        early = [[v for s, v in _finite(c).items() if s <= step] for c in others]
        peers = [min(values) for values in early if values]
        if len(peers) < max(self.n_startup_trials, 1):
            return False
        return min(finite.values()) > float(np.median(peers))


class SuccessiveHalvingPruner(Pruner):
    """Asynchronous successive halving: at rungs min_resource * eta^k keep the top 1/eta."""

    def __init__(self, min_resource: int = 1, reduction_factor: int = 3,
                 min_early_stopping_rate: int = 0):
        if min_resource < 1 or reduction_factor < 2 or min_early_stopping_rate < 0:
            raise ValueError("need min_resource >= 1, reduction_factor >= 2, "
                             "min_early_stopping_rate >= 0")
        self.min_resource = min_resource
        self.reduction_factor = reduction_factor
        self.min_early_stopping_rate = min_early_stopping_rate

    def should_prune(self, curve: Curve, others: Sequence[Curve]) -> bool:
        finite = _finite(curve)
        if not finite:
            return False
        step = max(finite)
        rung = self.min_resource * self.reduction_factor ** self.min_early_stopping_rate
        if step < rung:
            return False
        # the highest rung this trial has reached
        while rung * self.reduction_factor <= step:
            rung *= self.reduction_factor
        value = _value_at(finite, rung)
        peers = [v for c in others if (v := _value_at(c, rung)) is not None]
        peers.append(value)
        k = max(len(peers) // self.reduction_factor, 1)
        return value > sorted(peers)[k - 1]


def _value_at(curve: Curve, rung: int) -> float | None:
    """The last finite value reported at or before `rung`, if the curve reached it."""
    finite = _finite(curve)
    if not finite or max(finite) < rung:
        return None
    return finite[max(s for s in finite if s <= rung)]


def _finite(curve: Curve) -> dict[int, float]:
    """The curve without NaN or inf points, which say nothing about a trial's progress."""
    return {s: v for s, v in curve.items() if math.isfinite(v)}
