"""`TPE`: the ask/tell optimiser. It owns the trial history, the random state and the start-up.

Observations live in arrays that `tell` fills in place; the model step in `sampler.py` reads
them without building per-trial objects. `Trial` objects are made only for the caller.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np
from scipy.stats import qmc

from tpe_plugins import local_step, pareto, sampler
from tpe_plugins.budgets import FULL, rank_by_rungs
from tpe_plugins.pruners import Pruner
from tpe_plugins.space import Space, space_from_dict


class TrialState(str, Enum):
    """Where a trial stands. A str, so `trial.state == "complete"` and JSON keep working."""

    PENDING = "pending"
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"

    def __str__(self) -> str:
        return self.value


PENDING, COMPLETE, FAILED, PRUNED = TrialState
_STATES = tuple(TrialState)
_CODE = {s: i for i, s in enumerate(_STATES)}
STATE_FORMAT = "tpe-plugins/state/1"


class SpaceMismatch(ValueError):
    """`from_state_dict` was given a space that encodes differently from the saved one."""


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


class TPE:
    """Tree-structured Parzen Estimator with ask/tell.

    mode: "min" or "max". n_startup_trials: trials drawn before the model starts (Sobol points
    with startup="sobol", else uniform); pending trials count toward it. constant_liar: pending
    trials enter the bad group, so concurrent asks spread out. The other keywords are TPE
    settings (see `sampler.Settings`). pruner: a rule for `should_prune`, or None for never.
    """

    def __init__(self, space: Any, *, mode: str = "min", seed: int | None = None,
                 n_startup_trials: int = 10, startup: str = "sobol", constant_liar: bool = True,
                 pruner: Pruner | None = None, **settings: Any):
        self.settings = self.check_settings(mode=mode, seed=seed,
                                            n_startup_trials=n_startup_trials, startup=startup,
                                            constant_liar=constant_liar, pruner=pruner,
                                            **settings)
        self.space = Space(space)
        modes = list(mode) if isinstance(mode, (list, tuple)) else [mode]
        self.mode = modes[0] if len(modes) == 1 else modes  # "min", or ["min", "max", ...]
        self.n_objectives = len(modes)
        self._signs = np.array([1.0 if m == "min" else -1.0 for m in modes])
        self.seed = seed
        self.n_startup_trials = int(n_startup_trials)
        self.startup = startup
        self.constant_liar = constant_liar
        self.pruner = pruner

        self._rng = np.random.default_rng(seed)
        self._sobol_seed = int(self._rng.integers(2**31))
        self._sobol_used = 0
        self._sobol_points: np.ndarray | None = None
        D = len(self.space)
        self._X = np.full((16, D), np.nan)  # encoded params, grown by doubling
        self._y = np.full(16, np.nan)  # values in minimisation sign
        self._Y = np.full((16, self.n_objectives), np.nan)  # several objectives: one column each
        self._violation = np.zeros(16)  # sum of the positive constraint values (0: feasible)
        self._constraints: dict[int, list[float]] = {}
        self._state = np.zeros(16, dtype=np.int8)
        self._budget = np.full(16, -1, dtype=np.int64)  # last reported step, -1 for none
        self._reports = np.zeros((16, 3))  # (trial, step, value) of every report, in order
        self._n_reports = 0
        self._n = 0
        self._params: list[dict] = []
        self._intermediate: dict[int, dict[int, float]] = {}
        self._queue: list[dict] = []
        self._split_cache: tuple = (None, None)  # (finished ids, their (ranked, stopped))
        # how finished trials with curves of different lengths are ranked (see budgets.py);
        # benchmarks/lcbench.py swaps in the variants it compares
        self._rank_rule = rank_by_rungs

    @staticmethod
    def check_settings(*, mode: str = "min", seed: int | None = None, n_startup_trials: int = 10,
                       startup: str = "sobol", constant_liar: bool = True,
                       pruner: Pruner | None = None, **settings: Any) -> sampler.Settings:
        """Validate TPE settings without a space (adapters check them before the space is
        known); returns the model settings. Errors name the setting and what it accepts."""
        modes = list(mode) if isinstance(mode, (list, tuple)) else [mode]
        if not modes or any(m not in ("min", "max") for m in modes):
            raise ValueError(f"mode must be 'min' or 'max', or a list of them with one entry per "
                             f"objective (e.g. ['min', 'max']), got {mode!r}")
        if startup not in ("sobol", "random"):
            raise ValueError(f"startup must be 'sobol' or 'random', got {startup!r}")
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials,
                                                                (int, np.integer)):
            raise TypeError(f"n_startup_trials must be an int, got {n_startup_trials!r}")
        if n_startup_trials < 0:
            raise ValueError(f"n_startup_trials must be non-negative, got {n_startup_trials}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"seed must be an int or None, got {seed!r}")
        if not isinstance(constant_liar, (bool, np.bool_)):
            raise TypeError(f"constant_liar must be True or False, got {constant_liar!r}")
        if pruner is not None and not isinstance(pruner, Pruner):
            raise TypeError(f"pruner must be a tpe_plugins Pruner or None, got {pruner!r}")
        unknown = set(settings) - set(sampler.Settings.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown TPE setting(s) {sorted(unknown)}; "
                            f"known: {sorted(sampler.Settings.__dataclass_fields__)}")
        model = sampler.Settings(**settings)
        model.validate()
        return model

    # ------------------------------------------------------------------ ask
    def ask(self, n: int | None = None) -> Trial | list[Trial]:
        """The next trial to run, or a batch of n. Pending trials steer later asks away."""
        if n is None:
            return self._ask_one()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        batch: list[Trial] = []
        while len(batch) < n:
            split = None if self._queue else self._split()
            if split is None:  # a queued point or a start-up point, one at a time
                batch.append(self._ask_one())
            else:  # the rest from one fit of the model
                rows = self._suggest_rows(n - len(batch), split)
                batch += [self._append(row, self.space.decode(row)) for row in rows]
        return batch

    def _ask_one(self) -> Trial:
        if self._queue:
            params = self._queue.pop(0)
            return self._append(self.space.encode(params), params)
        split = self._split()
        row = self._startup_row() if split is None else self._suggest_rows(1, split)[0]
        return self._append(row, self.space.decode(row))

    def _split(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The good, the bad and the repelling (stopped where their budget says little)
        trials' indices, or None while the start-up phase lasts."""
        codes = self._state[: self._n]
        n_live = int(np.sum(codes != _CODE[FAILED]))
        if self.n_objectives > 1:  # fronts, then hypervolume contribution (see pareto.py)
            finished = np.flatnonzero(codes == _CODE[COMPLETE])
            if n_live < self.n_startup_trials or len(finished) < 2:
                return None
            k = sampler.n_good(len(finished), self.settings.gamma)
            feasible = finished[self._violation[finished] <= 0]
            if len(feasible) >= k:
                good = feasible[pareto.good_mask(self._Y[feasible], k)]
            else:  # every feasible trial, then the least violating
                rest = np.setdiff1d(finished, feasible)
                rest = rest[np.argsort(self._violation[rest], kind="stable")]
                good = np.concatenate([feasible, rest[: k - len(feasible)]])
            return good, np.setdiff1d(finished, good), finished[:0]
        # A pruned trial is judged at the step it reached (budgets.py); one without a curve, or
        # without a value, has no such step and stays in the bad group.
        pruned = codes == _CODE[PRUNED]
        judged = pruned & (self._budget[: self._n] >= 0) & ~np.isnan(self._y[: self._n])
        finished = np.flatnonzero((codes == _CODE[COMPLETE]) | judged)
        if n_live < self.n_startup_trials or len(finished) < 2:
            return None
        ranked, stopped = self._finished_order(finished)
        if len(ranked) == 0:
            return None
        if self._constraints and self.settings.constraint_rule == "feasible_first":
            # feasibility first: infeasible trials after, least violation first
            v = self._violation[ranked]
            ranked = ranked[np.lexsort((np.arange(len(ranked)), v, v > 0))]
        k = sampler.n_good(len(ranked), self.settings.gamma)
        ranked = self._break_ties(ranked, k)
        return ranked[:k], np.concatenate([ranked[k:], np.flatnonzero(pruned & ~judged)]), stopped

    def _break_ties(self, ranked: np.ndarray, k: int) -> np.ndarray:
        """`ranked` with the trials tied with the k-th best shuffled among their places.

        Why: on a plateau of equal values (CV errors on small data, rounded metrics) a stable
        sort keeps the oldest tied trials in the good group for good, so l(x) stays on the same
        few early points and the search stalls there. A seeded shuffle of the tied trials lets
        each ask see a different part of the plateau. Splitting each tied trial's weight
        between the groups was measured too, and lost (README, "Plateaus and local optima").
        """
        last = ranked[k - 1]
        tied = np.flatnonzero(
            (self._y[ranked] == self._y[last]) & (self._budget[ranked] == self._budget[last])
            & (self._violation[ranked] == self._violation[last]))
        if tied[-1] < k or self.settings.ties == "first":  # no tie across the boundary
            return ranked
        ranked = ranked.copy()
        ranked[tied] = ranked[self._rng.permutation(tied)]
        return ranked

    def _suggest_rows(self, n: int, split: tuple[np.ndarray, np.ndarray, np.ndarray]
                      ) -> np.ndarray:
        """n rows from the model fitted on `split` (good, bad, repelling), as `_split` made it.

        A batch carries at most one local step, as n single asks from the same finished trials
        would (the others would repeat it): with the chance that one of n asks takes it. The
        batch's other points then treat the step as a running trial.
        """
        step = self._local_row(n)
        if step is not None and n == 1:
            return step[None, :]
        good, bad, repel = split
        X = self._X[: self._n]
        codes = self._state[: self._n]
        pending = X[codes == _CODE[PENDING]] if self.constant_liar else X[:0]
        if step is not None:
            X = np.vstack([X, step])
            pending = np.vstack([pending, step]) if self.constant_liar else pending
            n -= 1
        weights = (pareto.contribution_weights(self._Y[good]) if self.n_objectives > 1
                   else None)
        splits = None
        if self._constraints and self.settings.constraint_rule == "ctpe":
            told = np.array(sorted(self._constraints))
            c = np.array([self._constraints[i] for i in told])
            splits = [(X[told[c[:, j] <= 0]], X[told[c[:, j] > 0]]) for j in range(c.shape[1])]
        rows = sampler.suggest(self.space, X[good], X[bad], good, bad, pending, X,
                               self.settings, self._rng, n, liar=self.constant_liar,
                               good_weights=weights, constraint_splits=splits,
                               X_repel=X[repel])
        return rows if step is None else np.vstack([step, rows])

    def _local_row(self, n: int = 1) -> np.ndarray | None:
        """On a `local_fraction` share of the single asks (for a batch of n, with the chance
        that one of n asks draws it), a quadratic step from the best finished trial (see
        local_step.py); None for a TPE suggestion.

        Only where the step is well defined: one objective, no constraints, enough complete
        trials at the longest curve on the best one's branch to fit its numeric coordinates,
        and a step to a point not tried and not running (so concurrent asks take one step
        per state of the finished history, and TPE suggestions beside it). The random draw is
        made only then, so that elsewhere (spaces without numeric parameters, say) the
        suggestions are exactly those without the step.
        """
        fraction = self.settings.local_fraction
        if fraction == 0 or self.n_objectives > 1 or self._constraints:
            return None
        done = np.flatnonzero(self._state[: self._n] == _CODE[COMPLETE])
        if len(done) == 0:
            return None
        done = done[self._budget[done] == self._budget[done].max()]  # values on one scale
        X, y = self._X[: self._n], self._y[: self._n]
        best = X[done[np.argmin(y[done])]]
        done = done[np.all(np.isnan(X[done]) == np.isnan(best), axis=1)]  # the best's branch
        dims = np.flatnonzero((self.space.kinds != "categorical") & ~np.isnan(best))
        m = local_step.n_points(len(dims))
        if len(dims) == 0 or len(done) < m:
            return None
        # the m best, the oldest first among equal values; no sort of the whole history
        top = done[y[done] <= np.partition(y[done], m - 1)[m - 1]]
        top = top[np.argsort(y[top], kind="stable")[:m]]
        coords = local_step.quadratic_step(X[np.ix_(top, dims)], y[top],
                                           self.settings.min_bandwidth)
        row = best.copy()
        for d, u in zip(dims, coords, strict=True):  # a loop over dimensions: grids snap
            row[d] = self.space.snap_dim(d, np.array([u]))[0]
        share = 1.0 - (1.0 - fraction) ** n
        if sampler.rows_in(row[None, :], X)[0] or self._rng.random() >= share:
            return None
        return row

    def _finished_order(self, finished: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ranked, stopped): the finished trials judged at the budgets they reached, best
        first, and those that stopped where their budget says little (see budgets.py); they
        repel like pending trials.

        Cached until a trial finishes, so a batch of asks ranks the history once.
        """
        key, order = self._split_cache
        if key is not None and np.array_equal(key, finished):
            return order
        budgets = self._budget[finished]
        log = self._reports[: self._n_reports]
        mine = np.isin(log[:, 0], finished)
        reports = (np.searchsorted(finished, log[mine, 0]), log[mine, 1], log[mine, 2])
        budgets = np.where(budgets < 0, FULL, budgets)
        ranked, stopped = self._rank_rule(self._y[finished], budgets, reports, self._sign)
        order = (finished[ranked], finished[stopped])
        self._split_cache = (finished, order)
        return order

    def _startup_row(self) -> np.ndarray:
        D = len(self.space)
        if self.startup == "sobol":
            # Every start-up row continues one scrambled Sobol sequence: also the rows drawn
            # beyond n_startup_trials while many trials run and fewer than 2 have finished,
            # so that 32 or 64 concurrent first trials still fill the space evenly.
            need = max(self.n_startup_trials, self._sobol_used + 1, 2)
            if self._sobol_points is None or len(self._sobol_points) < need:
                engine = qmc.Sobol(d=D, scramble=True, seed=self._sobol_seed)
                self._sobol_points = engine.random_base2(math.ceil(math.log2(need)))
            u = self._sobol_points[self._sobol_used]
            self._sobol_used += 1
        else:
            u = self._rng.random(D)
        row = self.space.snap(u[None, :])
        X = self._X[: self._n]
        for _ in range(32):  # in a small finite space, do not start with repeats
            if not sampler.rows_in(row, X).any():
                break
            row = self.space.snap(self._rng.random((1, D)))
        return row[0]

    def _append(self, row: np.ndarray, params: dict) -> Trial:
        if self._n == len(self._y):
            grow = len(self._y)
            self._X = np.vstack([self._X, np.full_like(self._X, np.nan)])
            self._y = np.concatenate([self._y, np.full(grow, np.nan)])
            self._Y = np.vstack([self._Y, np.full_like(self._Y, np.nan)])
            self._violation = np.concatenate([self._violation, np.zeros(grow)])
            self._state = np.concatenate([self._state, np.zeros(grow, dtype=np.int8)])
            self._budget = np.concatenate([self._budget, np.full(grow, -1, dtype=np.int64)])
        i = self._n
        self._X[i] = row
        self._state[i] = _CODE[PENDING]
        self._n += 1
        self._params.append(params)
        self._intermediate[i] = {}
        return self.trial(i)

    # ------------------------------------------------------------------ tell and friends
    def tell(self, trial: Trial | int, value: float | list[float] | None,
             constraints: list[float] | None = None) -> Trial:
        """Record a pending trial's result (one value per objective, in the order of `mode`,
        when there are several). None, NaN or inf records it as failed. constraints: values
        that must all be <= 0 for the trial to be feasible; infeasible trials steer the search
        away (they never enter the good group while enough feasible ones exist) and are never
        `best` or on the `pareto` front."""
        i = self._pending_id(trial, "tell")
        if constraints is not None:
            self._record_constraints(i, constraints)
        if value is None:
            self._state[i] = _CODE[FAILED]
            return self.trial(i)
        if self.n_objectives > 1:
            return self._tell_several(i, value)
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        v = _as_float(value, f"value of trial {i}")
        if not math.isfinite(v):
            warnings.warn(f"trial {i} returned {v}; recorded as failed", RuntimeWarning,
                          stacklevel=2)
            self._state[i] = _CODE[FAILED]
            return self.trial(i)
        self._y[i] = self._sign * v
        self._state[i] = _CODE[COMPLETE]
        return self.trial(i)

    def _tell_several(self, i: int, value: Any) -> Trial:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            raise TypeError(f"trial {i}: give {self.n_objectives} values, one per objective in "
                            f"the order of mode={self.mode}, got {value!r}")
        if len(value) != self.n_objectives:
            raise ValueError(f"trial {i}: expected {self.n_objectives} values (one per "
                             f"objective, mode={self.mode}), got {len(value)}")
        v = np.array([_as_float(x, f"objective {j} of trial {i}") for j, x in enumerate(value)])
        bad = np.flatnonzero(~np.isfinite(v))
        if len(bad):
            warnings.warn(f"trial {i}: objective {int(bad[0])} is {v[bad[0]]}; recorded as "
                          "failed", RuntimeWarning, stacklevel=3)
            self._state[i] = _CODE[FAILED]
            return self.trial(i)
        self._Y[i] = self._signs * v
        self._state[i] = _CODE[COMPLETE]
        return self.trial(i)

    def _record_constraints(self, i: int, constraints: Any) -> None:
        if isinstance(constraints, (str, bytes)) or not hasattr(constraints, "__len__"):
            raise TypeError(f"trial {i}: constraints must be a list of numbers (feasible when "
                            f"every one is <= 0), got {constraints!r}")
        c = [_as_float(x, f"constraint {j} of trial {i}") for j, x in enumerate(constraints)]
        bad = [j for j, x in enumerate(c) if not math.isfinite(x)]
        if bad:
            raise ValueError(f"trial {i}: constraint {bad[0]} is {c[bad[0]]}; give a finite "
                             "number (<= 0 when satisfied)")
        self._constraints[i] = c
        self._violation[i] = float(sum(max(x, 0.0) for x in c))

    def _single_objective(self, what: str) -> None:
        if self.n_objectives > 1:
            raise ValueError(f"{what} needs a single objective; this optimiser has "
                             f"{self.n_objectives} (mode={self.mode})")

    def report(self, trial: Trial | int, step: int, value: float) -> None:
        """Record an intermediate value (a point of the learning curve) of a pending trial."""
        self._single_objective("learning curves (report)")
        i = self._pending_id(trial, "report to")
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise TypeError(f"step must be an int, got {step!r}")
        self._record_report(i, int(step), _as_float(value, f"intermediate value of trial {i}"))

    def _record_report(self, i: int, step: int, value: float) -> None:
        self._intermediate[i][step] = value
        self._budget[i] = max(self._budget[i], step)
        if self._n_reports == len(self._reports):
            self._reports = np.vstack([self._reports, np.zeros_like(self._reports)])
        self._reports[self._n_reports] = (i, step, value)
        self._n_reports += 1

    def should_prune(self, trial: Trial | int) -> bool:
        """Whether the pruner says this pending trial cannot beat the good ones."""
        i = self._pending_id(trial, "prune")
        if self.pruner is None:
            return False
        flip = self._sign
        curve = {s: flip * v for s, v in self._intermediate[i].items()}
        codes = self._state[: self._n]
        others = [{s: flip * v for s, v in self._intermediate[j].items()}
                  for j in np.flatnonzero((codes == _CODE[COMPLETE]) | (codes == _CODE[PRUNED]))]
        return bool(self.pruner.should_prune(curve, others))

    def prune(self, trial: Trial | int, value: float | None = None) -> Trial:
        """Record a trial stopped early. Its value (default: the last reported) counts as bad."""
        self._single_objective("pruning")
        i = self._pending_id(trial, "prune")
        if value is None:
            curve = {s: v for s, v in self._intermediate[i].items() if math.isfinite(v)}
            value = curve[max(curve)] if curve else None
        if value is not None:
            v = _as_float(value, f"value of trial {i}")
            self._y[i] = self._sign * v if math.isfinite(v) else np.nan
        self._state[i] = _CODE[PRUNED]
        return self.trial(i)

    def enqueue(self, params: dict) -> None:
        """Make a later ask() return exactly these params (they are validated now)."""
        self.space.encode(params)
        self._queue.append(copy.deepcopy(params))

    def add_trial(self, params: dict, value: float | list[float] | None, *,
                  state: str = COMPLETE, intermediate: dict[int, float] | None = None,
                  constraints: list[float] | None = None) -> Trial:
        """Add a trial evaluated elsewhere: complete (the default), pruned or failed."""
        if state not in (COMPLETE, PRUNED, FAILED):
            raise ValueError(f"state must be 'complete', 'pruned' or 'failed', got {state!r}")
        trial = self._append(self.space.encode(params), copy.deepcopy(params))
        for step, v in (intermediate or {}).items():
            self.report(trial, step, v)
        if state == PRUNED:
            return self.prune(trial, value)
        return self.tell(trial, None if state == FAILED else value, constraints=constraints)

    # ------------------------------------------------------------------ views
    @property
    def _sign(self) -> float:
        return 1.0 if self.mode == "min" else -1.0

    def trial(self, trial_id: int) -> Trial:
        i = self._check_id(trial_id)
        state = _STATES[self._state[i]]
        if self.n_objectives > 1:
            value = (None if state != COMPLETE else
                     [float(v) for v in self._signs * self._Y[i]])
            return Trial(i, copy.deepcopy(self._params[i]), state, value, {},
                         self._constraints.get(i))
        y = self._y[i]
        value = None if np.isnan(y) or state in (PENDING, FAILED) else float(self._sign * y)
        return Trial(i, copy.deepcopy(self._params[i]), state, value,
                     dict(self._intermediate[i]), self._constraints.get(i))

    @property
    def trials(self) -> list[Trial]:
        return [self.trial(i) for i in range(self._n)]

    @property
    def best(self) -> Trial | None:
        """The best complete trial, or None before any trial has completed."""
        if self.n_objectives > 1:
            raise ValueError(f"best is defined for one objective; with {self.n_objectives} "
                             f"(mode={self.mode}) use pareto, the non-dominated trials")
        done = self._done_feasible()
        if len(done) == 0:
            return None
        return self.trial(int(done[np.argmin(self._y[done])]))

    def _done_feasible(self) -> np.ndarray:
        """Complete trials that satisfied their constraints (all of them without constraints)."""
        done = np.flatnonzero(self._state[: self._n] == _CODE[COMPLETE])
        return done[self._violation[done] <= 0]

    @property
    def pareto(self) -> list[Trial]:
        """The feasible complete trials no other one dominates (for one objective: the best
        value, ties included)."""
        done = self._done_feasible()
        Y = self._Y[done] if self.n_objectives > 1 else self._y[done][:, None]
        return [self.trial(int(i)) for i in done[pareto.front_ranks(Y) == 0]]

    def __len__(self) -> int:
        return self._n

    def _check_id(self, trial: Trial | int) -> int:
        i = trial.id if isinstance(trial, Trial) else trial
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < self._n:
            raise ValueError(f"unknown trial id {i!r}; ids run from 0 to {self._n - 1}")
        return int(i)

    def _pending_id(self, trial: Trial | int, verb: str) -> int:
        i = self._check_id(trial)
        if self._state[i] != _CODE[PENDING]:
            raise ValueError(f"cannot {verb} trial {i}: it is already {_STATES[self._state[i]]}")
        return i

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to continue exactly, as plain JSON types."""
        if callable(self.settings.gamma):
            raise TypeError("gamma: a function cannot be saved; use 'sqrt', 'linear' or a float")
        X = self._X[: self._n]
        return {
            "format": STATE_FORMAT,
            "space": self.space.to_dict(),
            "mode": self.mode,
            "seed": self.seed,
            "n_startup_trials": self.n_startup_trials,
            "startup": self.startup,
            "constant_liar": self.constant_liar,
            "settings": asdict(self.settings),
            "pruner": self.pruner.to_dict() if self.pruner is not None else None,
            "rng": _jsonable(self._rng.bit_generator.state),
            "sobol_seed": self._sobol_seed,
            "sobol_used": self._sobol_used,
            "X": [[None if np.isnan(v) else float(v) for v in row] for row in X],
            "y": ([None if np.isnan(v) else float(v) for v in self._y[: self._n]]
                  if self.n_objectives == 1 else
                  [None if np.isnan(row).any() else [float(v) for v in row]
                   for row in self._Y[: self._n]]),
            "state": [_STATES[c] for c in self._state[: self._n]],
            "params": copy.deepcopy(self._params),
            "intermediate": [[[s, v] for s, v in self._intermediate[i].items()]
                             for i in range(self._n)],
            "queue": copy.deepcopy(self._queue),
            "constraints": [self._constraints.get(i) for i in range(self._n)],
        }

    @classmethod
    def from_state_dict(cls, state: dict, space: Any = None) -> TPE:
        """Rebuild an optimiser from `state_dict()`; `space` overrides the saved space."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"not a tpe-plugins optimiser state (format {found!r}, "
                             f"expected {STATE_FORMAT!r})")
        try:
            if space is not None and Space(space) != Space.from_dict(state["space"]):
                raise SpaceMismatch("the given space differs from the one in the saved state "
                                 "(parameters, bounds, steps or choices); restore with the "
                                 "original space")
            opt = cls(space if space is not None else space_from_dict(state["space"]),
                      mode=state["mode"], seed=state["seed"],
                      n_startup_trials=state["n_startup_trials"], startup=state["startup"],
                      constant_liar=state["constant_liar"],
                      pruner=Pruner.from_dict(state["pruner"]),
                      **_current_settings(state["settings"]))
            opt._rng.bit_generator.state = state["rng"]
            opt._sobol_seed = int(state["sobol_seed"])
            opt._sobol_used = int(state["sobol_used"])
            n = len(state["params"])
            if not (len(state["X"]) == len(state["y"]) == len(state["state"]) == n
                    == len(state["intermediate"])):
                raise ValueError("trial arrays differ in length")
            for i in range(n):
                row = np.array([np.nan if v is None else v for v in state["X"][i]], dtype=float)
                if row.shape != (len(opt.space),):
                    raise ValueError(f"trial {i} has {row.size} encoded values, the space "
                                     f"{len(opt.space)}")
                opt._append(row, state["params"][i])
                opt._state[i] = _CODE[state["state"][i]]
                y = state["y"][i]
                if opt.n_objectives > 1:
                    opt._Y[i] = np.nan if y is None else np.asarray(y, dtype=float)
                else:
                    opt._y[i] = np.nan if y is None else float(y)
                for s, v in state["intermediate"][i]:
                    opt._record_report(i, int(s), float(v))
            for i, c in enumerate(state.get("constraints") or []):
                if c is not None:
                    opt._record_constraints(i, c)
            opt._queue = copy.deepcopy(state["queue"])
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"corrupt tpe-plugins optimiser state: {exc!r}") from exc
        return opt


def _current_settings(saved: dict) -> dict:
    """Saved settings without those that left the public API: `fidelity` (its rules became
    private variants of budgets.py; a saved state continues with today's rule)."""
    return {k: v for k, v in saved.items() if k != "fidelity"}


def _as_float(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number, got {value!r}") from None


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
