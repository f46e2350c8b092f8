"""Every TPE setting in one frozen dataclass, with its meaning, why its default won, and its checks.

`TPE(space, mode=..., seed=..., pruner=..., **settings)` takes these fields as keywords;
`check` validates all of them (and mode, seed and pruner) in one place, so an adapter can refuse
bad settings before it knows the space. The table of settings in the docs is generated from
the `doc` metadata below (docs/hooks/settings_table.py).

Variants that lost their benchmarks are not settings: `_Variants` keeps them for the ablation
scripts, which switch them on through a private hook (benchmarks/benchmark_variants.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from tpe_plugins.pruners import Pruner

Gamma = str | float | Callable[[int], int]


def _doc(default: Any, text: str) -> Any:
    return field(default=default, metadata={"doc": " ".join(text.split())})


@dataclass(frozen=True)
class Settings:
    """The TPE settings. Each field's `doc` says what it does and which run chose its default."""

    n_startup_trials: int = _doc(10, """
        Trials drawn before the model is used; pending trials count toward them. 10, as in
        optuna's TPE: not tuned on its own here; the Sobol start-up spreads even a few evenly
        (benchmarks/ablation.py chose Sobol over random with it).""")
    startup: str = _doc("sobol", """
        `"sobol"`: the start-up points continue one scrambled Sobol sequence (`"random"`:
        uniform draws). Sobol beat random in benchmarks/ablation.py.""")
    constant_liar: bool = _doc(True, """
        Pending trials enter g(x) as narrow kernels, so concurrent asks spread out. Switched
        off, batches of 8 ranked 8.32 against the defaults' 7.49 (benchmarks/ablation.py
        --batch 8).""")
    gamma: Gamma = _doc("sqrt", """
        Size of the good group of n finished trials: `"sqrt"` = `min(ceil(0.25 sqrt(n)), 25)`,
        `"linear"` = `min(ceil(0.1 n), 25)`, a fraction in (0, 1), or a function
        n -> n_good. On 20 YAHPO tune instances (10 seeds) the square root rule cut the regret
        at 1, 8 and 32 workers (0.30/0.31/0.44 against 0.34/0.32/0.47) and was level at 64; on
        the synthetic suite it was level or better at every W (benchmarks/yahpo_corpus.py,
        benchmarks/parallel.py; docs/benchmarks/yahpo.md).""")
    n_candidates: int = _doc(24, """
        Candidates drawn per ask and scored by l(x)/g(x). 256 made the argmax greedy (Branin
        regret 0.1 against 0.0015) and 64 was level on 40 fresh seeds
        (benchmarks/ablation.py).""")
    prior_weight: float = _doc(1.0, """
        Weight of the broad prior component in both densities. 1 beat 2 and 0.5 in
        benchmarks/ablation.py.""")
    min_bandwidth: float = _doc(0.02, """
        Bandwidth floor, as a fraction of a parameter's range (never below half a grid cell).
        0.02 against 0.05 mattered little in benchmarks/ablation.py; the smaller floor keeps
        late refinement precise.""")
    bandwidth_factor: float = _doc(0.5, """
        Multiplies the Scott-rule bandwidth of the numeric kernels. 0.5 beat Scott's rule
        itself (1) in benchmarks/ablation.py.""")
    categorical_mass: float = _doc(0.8, """
        Aitchison-Aitken kernel mass on a trial's own choice of a categorical. 0.8 beat 0.6
        overall in benchmarks/ablation.py.""")
    explore_fraction: float = _doc(0.1, """
        Share of the candidates drawn from a 3x widened l(x) and uniformly. 0 was level on 40
        fresh seeds (benchmarks/ablation.py), so the safer default stays.""")
    liar_width: float = _doc(0.25, """
        Width of a pending trial's kernel in g(x), as a fraction of l's bandwidth. Widths 0.1
        to 1.0 were level within noise on benchmarks/parallel.py; a lie as wide as g's kernels
        did worse than no liar in batches of 10.""")
    pending_widening: float = _doc(2.0, """
        With trials running, the bandwidth factor moves toward 1 (Scott's rule) in proportion
        to the running share, times this rate; 0 = off. It won among five forms and cut the
        regret at 8 workers from 0.237 to 0.191 (benchmarks/parallel.py).""")
    multivariate: bool | str = _doc("auto", """
        `True`: joint product kernels; `False`: one mixture per dimension; `"auto"`: joint for
        a sequential ask, per dimension beside running trials or in a batch. Per dimension won
        at 4 to 64 workers and joint sequentially (benchmarks/parallel.py,
        benchmarks/batch_ask.py).""")
    local_fraction: float = _doc(0.2, """
        Share of single asks that take a local quadratic step from the best trial instead of a
        TPE draw; 0 = off. Mean rank 1.22 against 1.78 without on 40 fresh seeds
        (benchmarks/ablation.py) and half the sequential regret on benchmarks/parallel.py.""")

    def __post_init__(self) -> None:
        _validate(self)
        if isinstance(self.n_startup_trials, np.integer):
            object.__setattr__(self, "n_startup_trials", int(self.n_startup_trials))

    def model(self) -> dict[str, Any]:
        """The fields that shape the model (all but the start-up and the liar), as saved in a
        state's "settings" entry."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _TOP}


_TOP = ("n_startup_trials", "startup", "constant_liar")  # saved beside "settings" in a state
NAMES = tuple(f.name for f in fields(Settings))
# settings that left the public API; a saved state that holds them continues with the default
REMOVED = ("fidelity", "weights", "ties", "jump_fraction", "constraint_rule")


def check(*, mode: str | list[str] = "min", seed: int | None = None,
          pruner: Pruner | None = None, **settings: Any) -> Settings:
    """Validate TPE's keyword arguments; returns the settings. Errors name the setting and what
    it accepts."""
    modes = list(mode) if isinstance(mode, (list, tuple)) else [mode]
    if not modes or any(m not in ("min", "max") for m in modes):
        raise ValueError(f"mode must be 'min' or 'max', or a list of them with one entry per "
                         f"objective (e.g. ['min', 'max']), got {mode!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"seed must be an int or None, got {seed!r}")
    if pruner is not None and not isinstance(pruner, Pruner):
        raise TypeError(f"pruner must be a tpe_plugins Pruner or None, got {pruner!r}")
    unknown = set(settings) - set(NAMES)
    if unknown:
        raise TypeError(f"unknown TPE setting(s) {sorted(unknown)}; known: {sorted(NAMES)}")
    return Settings(**settings)


def from_saved(state: dict) -> dict[str, Any]:
    """The settings of a saved optimiser state, without those that left the public API."""
    saved = {k: v for k, v in state["settings"].items() if k not in REMOVED}
    return {**saved, **{k: state[k] for k in _TOP}}


def _validate(s: Settings) -> None:
    """Refuse settings that would fail later or silently mean something else."""
    if s.startup not in ("sobol", "random"):
        raise ValueError(f"startup must be 'sobol' or 'random', got {s.startup!r}")
    n = s.n_startup_trials
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n_startup_trials must be an int, got {n!r}")
    if n < 0:
        raise ValueError(f"n_startup_trials must be non-negative, got {n}")
    if not isinstance(s.constant_liar, (bool, np.bool_)):
        raise TypeError(f"constant_liar must be True or False, got {s.constant_liar!r}")
    g = s.gamma
    if isinstance(g, str):
        if g not in ("sqrt", "linear"):
            raise ValueError(f"gamma: unknown rule {g!r}; use 'sqrt', 'linear', "
                             "a fraction in (0, 1) or a function n -> n_good")
    elif isinstance(g, float):
        if not 0 < g < 1:
            raise ValueError(f"gamma: a fraction must lie in (0, 1), got {g}")
    elif not callable(g):
        raise TypeError(f"gamma must be 'sqrt', 'linear', a float fraction in (0, 1) or a "
                        f"function n -> n_good, got {g!r} (for 10%, write gamma=0.1)")
    check_number("n_candidates", s.n_candidates, integer=True, low=1)
    check_number("prior_weight", s.prior_weight, low=0, open_low=True)
    check_number("min_bandwidth", s.min_bandwidth, low=0, open_low=True, high=1)
    check_number("bandwidth_factor", s.bandwidth_factor, low=0, open_low=True)
    check_number("categorical_mass", s.categorical_mass, low=0, open_low=True, high=1,
                 open_high=True)
    check_number("explore_fraction", s.explore_fraction, low=0, high=1, open_high=True)
    check_number("liar_width", s.liar_width, low=0, open_low=True)
    check_number("pending_widening", s.pending_widening, low=0)
    check_number("local_fraction", s.local_fraction, low=0, high=1)
    if not isinstance(s.multivariate, bool) and s.multivariate != "auto":
        raise ValueError(f"multivariate: use True, False or 'auto', got {s.multivariate!r}")


def check_number(name: str, value: object, *, integer: bool = False, low: float | None = None,
                 high: float | None = None, open_low: bool = False,
                 open_high: bool = False) -> None:
    """Refuse a non-number or one outside [low, high] (open ends where asked), naming it."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite {'int' if integer else 'number'}, "
                        f"got {value!r}")
    too_low = low is not None and (value <= low if open_low else value < low)
    too_high = high is not None and (value >= high if open_high else value > high)
    if too_low or too_high:
        lo = "-inf" if low is None else f"{'(' if open_low else '['}{low}"
        hi = "inf" if high is None else f"{high}{')' if open_high else ']'}"
        raise ValueError(f"{name} must lie in {lo}, {hi}, got {value}")


@dataclass(frozen=True)
class _Variants:
    """Alternatives that lost their benchmarks, kept only so the ablations can rerun them
    (set as `opt._variants` by benchmarks/benchmark_variants.py; never saved in a state).

    weights="recent": hyperopt's age ramp (uniform weights won, benchmarks/ablation.py).
    ties="first": the oldest tied trials stay good (stalls on plateaus: 0.102 against 0.069 on
    the stepped problems of benchmarks/parallel.py). jump_fraction: share of candidates run
    with one coordinate redrawn (raised the sequential regret by a third,
    benchmarks/parallel.py).
    constraint_rule="ctpe": one density ratio per constraint (lost to feasible-first,
    benchmarks/multiobjective.py).
    branch_power: a conditional space's branch is drawn in proportion to its marginal l/g to
    this power (inf: the argmax); 3 and inf lost on XGBoost at 8 workers and on the synthetic
    conditional problem (docs/benchmarks/yahpo.md).
    """

    weights: str = "uniform"
    ties: str = "random"
    jump_fraction: float = 0.0
    constraint_rule: str = "feasible_first"
    branch_power: float = 1.0

    def __post_init__(self) -> None:
        if self.weights not in ("uniform", "recent"):
            raise ValueError(f"weights: use 'uniform' or 'recent', got {self.weights!r}")
        if self.ties not in ("random", "first"):
            raise ValueError(f"ties: use 'random' or 'first', got {self.ties!r}")
        check_number("jump_fraction", self.jump_fraction, low=0, high=1)
        if not self.branch_power > 0:
            raise ValueError(f"branch_power: use a positive number, got {self.branch_power!r}")
        if self.constraint_rule not in ("feasible_first", "ctpe"):
            raise ValueError(f"constraint_rule: use 'feasible_first' or 'ctpe', got "
                             f"{self.constraint_rule!r}")
