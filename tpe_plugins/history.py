"""The trial history: what every trial was, is and reported, in arrays the model reads in place.

`History` stores the encoded params, values (in minimisation sign), states, learning curves and
constraints of all trials in parallel arrays grown by doubling, so a model step reads them
without building per-trial objects; `Trial` snapshots are made only for the caller. It checks
told values (errors name the trial) and writes and reads its half of an optimiser's state.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np


class TrialState(str, Enum):
    """Where a trial stands. A str, so `trial.state == "complete"` and JSON keep working."""

    PENDING = "pending"
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"

    def __str__(self) -> str:
        return self.value


PENDING, COMPLETE, FAILED, PRUNED = TrialState
STATES = tuple(TrialState)
CODE = {s: i for i, s in enumerate(STATES)}


@dataclass
class Trial:
    """A snapshot of one trial. `value` is in the caller's sign (as told): a float, or a list
    with one float per objective when the optimiser has several."""

    id: int
    params: dict
    state: TrialState = PENDING
    value: float | list[float] | None = None
    intermediate: dict = field(default_factory=dict)
    constraints: list[float] | None = None  # as told; feasible when every one is <= 0

    @property
    def feasible(self) -> bool:
        return self.constraints is None or all(c <= 0 for c in self.constraints)


class History:
    """Every trial's encoded row, value, state, curve and constraints.

    signs: +1 per minimised objective, -1 per maximised one; values are stored multiplied by
    them, so the model always minimises. With one objective `y` holds the values, with several
    `Y` (one column each).
    """

    def __init__(self, n_dims: int, signs: np.ndarray):
        self.signs = signs
        self.n = 0
        self.X = np.full((16, n_dims), np.nan)  # encoded params
        self.y = np.full(16, np.nan)  # one objective, minimisation sign
        self.Y = np.full((16, len(signs)), np.nan)  # several objectives: one column each
        self.violation = np.zeros(16)  # sum of the positive constraint values (0: feasible)
        self.constraints: dict[int, list[float]] = {}
        self.code = np.zeros(16, dtype=np.int8)  # index into STATES
        self.budget = np.full(16, -1, dtype=np.int64)  # last reported step, -1 for none
        self.reports = np.zeros((16, 3))  # (trial, step, value) of every report, in order
        self.n_reports = 0
        self.params: list[dict] = []
        self.intermediate: dict[int, dict[int, float]] = {}

    @property
    def several(self) -> bool:
        return len(self.signs) > 1

    def __len__(self) -> int:
        return self.n

    def codes(self) -> np.ndarray:
        """The state codes of the trials so far (a view)."""
        return self.code[: self.n]

    def where(self, *states: TrialState) -> np.ndarray:
        """Indices of the trials in any of these states, oldest first."""
        codes = self.codes()  # .nonzero()[0]: np.flatnonzero without its wrappers (per ask)
        if len(states) == 1:
            return (codes == CODE[states[0]]).nonzero()[0]
        wanted = np.zeros(len(STATES), dtype=bool)  # a lookup by code, not np.isin's sort
        wanted[[CODE[s] for s in states]] = True
        return wanted[codes].nonzero()[0]

    def state(self, i: int) -> TrialState:
        return STATES[self.code[i]]

    def check_id(self, trial: Trial | int) -> int:
        """The id of a trial (or of a `Trial`); a ValueError for one not in the history."""
        i = trial.id if isinstance(trial, Trial) else trial
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < self.n:
            raise ValueError(f"unknown trial id {i!r}; ids run from 0 to {self.n - 1}")
        return int(i)

    def pending_id(self, trial: Trial | int, verb: str) -> int:
        """As `check_id`, for a trial that must still be pending to `verb` it."""
        i = self.check_id(trial)
        if self.code[i] != CODE[PENDING]:
            raise ValueError(f"cannot {verb} trial {i}: it is already {self.state(i)}")
        return i

    # ------------------------------------------------------------------ recording
    def append(self, row: np.ndarray, params: dict) -> int:
        """Add a pending trial; returns its id."""
        if self.n == len(self.y):
            grow = len(self.y)
            self.X = np.vstack([self.X, np.full_like(self.X, np.nan)])
            self.y = np.concatenate([self.y, np.full(grow, np.nan)])
            self.Y = np.vstack([self.Y, np.full_like(self.Y, np.nan)])
            self.violation = np.concatenate([self.violation, np.zeros(grow)])
            self.code = np.concatenate([self.code, np.zeros(grow, dtype=np.int8)])
            self.budget = np.concatenate([self.budget, np.full(grow, -1, dtype=np.int64)])
        i = self.n
        self.X[i] = row
        self.code[i] = CODE[PENDING]
        self.n += 1
        self.params.append(params)
        self.intermediate[i] = {}
        return i

    def finish(self, i: int, value: Any, mode: str | list[str]) -> None:
        """Record trial i's told value(s); a non-finite one records it as failed, with a
        warning. Errors name the trial and what it takes."""
        if value is None:
            self.code[i] = CODE[FAILED]
            return
        if self.several:
            if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
                raise TypeError(f"trial {i}: give {len(self.signs)} values, one per objective "
                                f"in the order of mode={mode}, got {value!r}")
            if len(value) != len(self.signs):
                raise ValueError(f"trial {i}: expected {len(self.signs)} values (one per "
                                 f"objective, mode={mode}), got {len(value)}")
            v = np.array([as_float(x, f"objective {j} of trial {i}")
                          for j, x in enumerate(value)])
            bad = np.flatnonzero(~np.isfinite(v))
            if len(bad):
                warnings.warn(f"trial {i}: objective {int(bad[0])} is {v[bad[0]]}; recorded as "
                              "failed", RuntimeWarning, stacklevel=3)
                self.code[i] = CODE[FAILED]
                return
            self.Y[i] = self.signs * v
        else:
            if isinstance(value, (list, tuple)) and len(value) == 1:
                value = value[0]
            v = as_float(value, f"value of trial {i}")
            if not math.isfinite(v):
                warnings.warn(f"trial {i} returned {v}; recorded as failed", RuntimeWarning,
                              stacklevel=3)
                self.code[i] = CODE[FAILED]
                return
            self.y[i] = self.signs[0] * v
        self.code[i] = CODE[COMPLETE]

    def stop(self, i: int, value: float | None) -> None:
        """Record trial i as pruned, at `value` (default: its last finite report)."""
        if value is None:
            curve = {s: v for s, v in self.intermediate[i].items() if math.isfinite(v)}
            value = curve[max(curve)] if curve else None
        if value is not None:
            v = as_float(value, f"value of trial {i}")
            self.y[i] = self.signs[0] * v if math.isfinite(v) else np.nan
        self.code[i] = CODE[PRUNED]

    def record_constraints(self, i: int, constraints: Any) -> None:
        if isinstance(constraints, (str, bytes)) or not hasattr(constraints, "__len__"):
            raise TypeError(f"trial {i}: constraints must be a list of numbers (feasible when "
                            f"every one is <= 0), got {constraints!r}")
        c = [as_float(x, f"constraint {j} of trial {i}") for j, x in enumerate(constraints)]
        bad = [j for j, x in enumerate(c) if not math.isfinite(x)]
        if bad:
            raise ValueError(f"trial {i}: constraint {bad[0]} is {c[bad[0]]}; give a finite "
                             "number (<= 0 when satisfied)")
        self.constraints[i] = c
        self.violation[i] = float(sum(max(x, 0.0) for x in c))

    def record_report(self, i: int, step: int, value: float) -> None:
        self.intermediate[i][step] = value
        self.budget[i] = max(self.budget[i], step)
        if self.n_reports == len(self.reports):
            self.reports = np.vstack([self.reports, np.zeros_like(self.reports)])
        self.reports[self.n_reports] = (i, step, value)
        self.n_reports += 1

    # ------------------------------------------------------------------ reading
    def trial(self, i: int) -> Trial:
        """A snapshot of trial i, values in the caller's sign."""
        state = self.state(i)
        if self.several:
            value = (None if state != COMPLETE else
                     [float(v) for v in self.signs * self.Y[i]])
            return Trial(i, copy_params(self.params[i]), state, value, {},
                         self.constraints.get(i))
        y = self.y[i]
        value = (None if np.isnan(y) or state in (PENDING, FAILED)
                 else float(self.signs[0] * y))
        return Trial(i, copy_params(self.params[i]), state, value,
                     dict(self.intermediate[i]), self.constraints.get(i))

    def curves(self, ids: np.ndarray) -> list[dict[int, float]]:
        """The learning curves of these trials, in minimisation sign."""
        flip = self.signs[0]
        return [{s: flip * v for s, v in self.intermediate[int(j)].items()} for j in ids]

    def done_feasible(self) -> np.ndarray:
        """Complete trials that satisfied their constraints (all of them without constraints)."""
        done = self.where(COMPLETE)
        return done[self.violation[done] <= 0]

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """The history's half of an optimiser's state, as plain JSON types."""
        n = self.n
        return {
            "X": [[None if np.isnan(v) else float(v) for v in row] for row in self.X[:n]],
            "y": ([None if np.isnan(v) else float(v) for v in self.y[:n]] if not self.several
                  else [None if np.isnan(row).any() else [float(v) for v in row]
                        for row in self.Y[:n]]),
            "state": [STATES[c] for c in self.code[:n]],
            "params": copy.deepcopy(self.params),
            "intermediate": [[[s, v] for s, v in self.intermediate[i].items()]
                             for i in range(n)],
            "constraints": [self.constraints.get(i) for i in range(n)],
        }

    def load_state(self, state: dict) -> None:
        """Refill an empty history from `state_dict()` (or an optimiser state holding it)."""
        n = len(state["params"])
        if not (len(state["X"]) == len(state["y"]) == len(state["state"]) == n
                == len(state["intermediate"])):
            raise ValueError("trial arrays differ in length")
        for i in range(n):
            row = np.array([np.nan if v is None else v for v in state["X"][i]], dtype=float)
            if row.shape != (self.X.shape[1],):
                raise ValueError(f"trial {i} has {row.size} encoded values, the space "
                                 f"{self.X.shape[1]}")
            self.append(row, state["params"][i])
            self.code[i] = CODE[state["state"][i]]
            y = state["y"][i]
            if self.several:
                self.Y[i] = np.nan if y is None else np.asarray(y, dtype=float)
            else:
                self.y[i] = np.nan if y is None else float(y)
            for s, v in state["intermediate"][i]:
                self.record_report(i, int(s), float(v))
        for i, c in enumerate(state.get("constraints") or []):
            if c is not None:
                self.record_constraints(i, c)


_PLAIN = frozenset({bool, int, float, str, type(None)})  # immutable: shared, not copied


def copy_params(params: Any) -> Any:
    """A deep copy of params as `Space.decode` builds them (dicts and lists of numbers and
    strings); a user's constant of another type is deep-copied. copy.deepcopy's memo made
    it most of the cost of ask(64) and of tell."""
    if isinstance(params, dict):  # a flat dict of plain values, the common case, in one pass
        return {k: v if type(v) in _PLAIN else copy_params(v) for k, v in params.items()}
    if isinstance(params, list):
        return [copy_params(v) for v in params]
    if params is None or isinstance(params, (bool, int, float, str, np.generic)):
        return params
    return copy.deepcopy(params)


def as_float(value: Any, what: str) -> float:
    """value as a float, or a TypeError that says what it was for."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number, got {value!r}") from None
