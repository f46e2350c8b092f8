"""`TPE`: the ask/tell optimiser. It keeps the lifecycle of trials and the random state.

Its parts each do one job: `history.py` stores the trials, `startup.py` places the first ones,
`split.py` decides which finished trials are good, `sampler.py` (and `local_step.py`) turn
that split into suggestions, and `settings.py` holds and checks the settings.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from tpe_plugins import history, local_step, pareto, sampler, settings, split
from tpe_plugins.budgets import rank_final
from tpe_plugins.history import COMPLETE, FAILED, PENDING, PRUNED, History, Trial, TrialState
from tpe_plugins.mass_cache import MassCache
from tpe_plugins.pruners import Pruner
from tpe_plugins.settings import Settings
from tpe_plugins.space import Space, space_from_dict
from tpe_plugins.startup import Startup

__all__ = ["TPE", "Trial", "TrialState", "SpaceMismatch", "STATE_FORMAT"]
STATE_FORMAT = "tpe-plugins/state/1"


class SpaceMismatch(ValueError):
    """`from_state_dict` was given a space that encodes differently from the saved one."""


class TPE:
    """Tree-structured Parzen Estimator with ask/tell.

    mode: "min" or "max" (a list of them for several objectives). seed: makes the suggestions
    repeatable. pruner: a rule for `should_prune`, or None for never. The other keywords are
    the settings of `tpe_plugins.settings.Settings` (n_startup_trials, gamma, ...).
    """

    def __init__(self, space: Any, *, mode: str | list[str] = "min", seed: int | None = None,
                 pruner: Pruner | None = None, **kw: Any):
        self.settings: Settings = self.check_settings(mode=mode, seed=seed, pruner=pruner, **kw)
        self.space = Space(space)
        modes = list(mode) if isinstance(mode, (list, tuple)) else [mode]
        self.mode = modes[0] if len(modes) == 1 else modes  # "min", or ["min", "max", ...]
        self.n_objectives = len(modes)
        self.seed = seed
        self.pruner = pruner
        self._rng = np.random.default_rng(seed)
        self._startup = Startup(self.space, self.settings.n_startup_trials,
                                self.settings.startup, self._rng)
        self.history = History(len(self.space),
                               np.array([1.0 if m == "min" else -1.0 for m in modes]))
        self._queue: list[dict] = []
        self._order = split.FinishedOrder()
        self._g_masses = MassCache(len(self.space))  # g(x)'s kernel masses, reused across asks
        # private hooks for benchmarks: how finished trials with curves of different lengths
        # are ranked (budgets.py; benchmarks/lcbench.py swaps in variants) and the losing
        # variants of settings._Variants (benchmarks/benchmark_variants.py)
        self._rank_rule = rank_final
        self._variants = settings._Variants()

    @staticmethod
    def check_settings(*, mode: str | list[str] = "min", seed: int | None = None,
                       pruner: Pruner | None = None, **kw: Any) -> Settings:
        """Validate TPE settings without a space (adapters check them before the space is
        known); returns them. Errors name the setting and what it accepts."""
        return settings.check(mode=mode, seed=seed, pruner=pruner, **kw)

    # ------------------------------------------------------------------ ask
    def ask(self, n: int | None = None) -> Trial | list[Trial]:
        """The next trial to run, or a batch of n. Pending trials steer later asks away."""
        if n is None:
            return self._ask_one()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        batch: list[Trial] = []
        while len(batch) < n:
            good_bad = None if self._queue else self._split()
            if good_bad is None:  # a queued point or a start-up point, one at a time
                batch.append(self._ask_one())
            else:  # the rest from one fit of the model
                rows = self._suggest_rows(n - len(batch), good_bad)
                batch += [self._append(row, self.space.decode(row)) for row in rows]
        return batch

    def _ask_one(self) -> Trial:
        if self._queue:
            params = self._queue.pop(0)
            return self._append(self.space.encode(params), params)
        good_bad = self._split()
        h = self.history
        row = (self._startup.row(h.X[: h.n], self._rng) if good_bad is None
               else self._suggest_rows(1, good_bad)[0])
        return self._append(row, self.space.decode(row))

    def _split(self) -> split.Split | None:
        return split.good_and_bad(
            self.history, n_startup=self.settings.n_startup_trials, gamma=self.settings.gamma,
            rng=self._rng, rank=lambda f: self._order(self.history, f, self._rank_rule),
            ties=self._variants.ties, constraint_rule=self._variants.constraint_rule)

    def _suggest_rows(self, n: int, good_bad: split.Split) -> np.ndarray:
        """n rows from the model fitted on (good, bad, repelling), as `_split` made it.

        A batch carries at most one local step, as n single asks from the same finished trials
        would (the others would repeat it): with the chance that one of n asks takes it. The
        batch's other points then treat the step as a running trial.
        """
        h, s, liar = self.history, self.settings, self.settings.constant_liar
        step = local_step.propose(h, self.space, s.local_fraction, s.min_bandwidth, self._rng, n)
        if step is not None and n == 1:
            return step[None, :]
        good, bad, repel = good_bad
        X = h.X[: h.n]
        pending = X[h.where(PENDING)] if liar else X[:0]
        if step is not None:
            X = np.vstack([X, step])
            pending = np.vstack([pending, step]) if liar else pending
            n -= 1
        weights = pareto.contribution_weights(h.Y[good]) if h.several else None
        ctpe = h.constraints and self._variants.constraint_rule == "ctpe"
        rows = sampler.suggest(self.space, X[good], X[bad], good, bad, pending, X, s, self._rng,
                               n, liar=liar, good_weights=weights, X_repel=X[repel],
                               constraint_splits=split.constraint_splits(h, X) if ctpe else None,
                               age_ramp=self._variants.weights == "recent",
                               jump_fraction=self._variants.jump_fraction,
                               branch_power=self._variants.branch_power,
                               g_cache=self._g_masses)
        return rows if step is None else np.vstack([step, rows])

    def _append(self, row: np.ndarray, params: dict) -> Trial:
        return self.history.trial(self.history.append(row, params))

    # ------------------------------------------------------------------ tell and friends
    def tell(self, trial: Trial | int, value: float | list[float] | None,
             constraints: list[float] | None = None) -> Trial:
        """Record a pending trial's result (one value per objective, in the order of `mode`,
        when there are several). None, NaN or inf records it as failed. constraints: values
        that must all be <= 0 for the trial to be feasible; infeasible trials steer the search
        away (they never enter the good group while enough feasible ones exist) and are never
        `best` or on the `pareto` front."""
        i = self.history.pending_id(trial, "tell")
        if constraints is not None:
            self.history.record_constraints(i, constraints)
        self.history.finish(i, value, self.mode)
        return self.trial(i)

    def _single_objective(self, what: str) -> None:
        if self.n_objectives > 1:
            raise ValueError(f"{what} needs a single objective; this optimiser has "
                             f"{self.n_objectives} (mode={self.mode})")

    def report(self, trial: Trial | int, step: int, value: float) -> None:
        """Record an intermediate value (a point of the learning curve) of a pending trial."""
        self._single_objective("learning curves (report)")
        i = self.history.pending_id(trial, "report to")
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise TypeError(f"step must be an int, got {step!r}")
        self.history.record_report(i, int(step),
                                   history.as_float(value, f"intermediate value of trial {i}"))

    def should_prune(self, trial: Trial | int) -> bool:
        """Whether the pruner says this pending trial cannot beat the good ones."""
        i = self.history.pending_id(trial, "prune")
        if self.pruner is None:
            return False
        h = self.history
        curve, others = h.curves([i])[0], h.curves(h.where(COMPLETE, PRUNED))
        return bool(self.pruner.should_prune(curve, others))

    def prune(self, trial: Trial | int, value: float | None = None) -> Trial:
        """Record a trial stopped early. Its value (default: the last reported) counts as bad."""
        self._single_objective("pruning")
        i = self.history.pending_id(trial, "prune")
        self.history.stop(i, value)
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
    def trial(self, trial_id: int) -> Trial:
        return self.history.trial(self.history.check_id(trial_id))

    @property
    def trials(self) -> list[Trial]:
        return [self.history.trial(i) for i in range(len(self.history))]

    @property
    def best(self) -> Trial | None:
        """The best complete trial, or None before any trial has completed."""
        if self.n_objectives > 1:
            raise ValueError(f"best is defined for one objective; with {self.n_objectives} "
                             f"(mode={self.mode}) use pareto, the non-dominated trials")
        done = self.history.done_feasible()
        return self.trial(int(done[np.argmin(self.history.y[done])])) if len(done) else None

    @property
    def pareto(self) -> list[Trial]:
        """The feasible complete trials no other one dominates (for one objective: the best
        value, ties included)."""
        h = self.history
        done = h.done_feasible()
        Y = h.Y[done] if h.several else h.y[done][:, None]
        return [self.trial(int(i)) for i in done[pareto.front_ranks(Y) == 0]]

    def __len__(self) -> int:
        return len(self.history)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to continue exactly, as plain JSON types."""
        if callable(self.settings.gamma):
            raise TypeError("gamma: a function cannot be saved; use 'sqrt', 'linear' or a float")
        s, trials = self.settings, self.history.state_dict()
        constraints = trials.pop("constraints")  # the keys in the order they always had
        return {
            "format": STATE_FORMAT, "space": self.space.to_dict(), "mode": self.mode,
            "seed": self.seed, "n_startup_trials": s.n_startup_trials, "startup": s.startup,
            "constant_liar": s.constant_liar, "settings": s.model(),
            "pruner": self.pruner.to_dict() if self.pruner is not None else None,
            "rng": _jsonable(self._rng.bit_generator.state), **self._startup.state_dict(),
            **trials, "queue": copy.deepcopy(self._queue), "constraints": constraints,
        }

    @classmethod
    def from_state_dict(cls, state: dict, space: Any = None) -> TPE:
        """Rebuild an optimiser from `state_dict()`; `space` overrides the saved space. States
        that hold settings which have since left the public API continue with the default."""
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
                      pruner=Pruner.from_dict(state["pruner"]), **settings.from_saved(state))
            opt._rng.bit_generator.state = state["rng"]
            opt._startup.load_state(state)
            opt.history.load_state(state)
            opt._queue = copy.deepcopy(state["queue"])
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"corrupt tpe-plugins optimiser state: {exc!r}") from exc
        return opt


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
