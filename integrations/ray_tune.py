"""Ray Tune integration: `TPESearch`, a `search_alg` driven by the tpe_plugins core.

Swap it in where `HyperOptSearch` or `OptunaSearch` stood::

    from ray import tune
    from tpe_plugins.integrations.ray_tune import TPESearch

    tune.run(train_fn, config={"lr": tune.loguniform(1e-5, 1e-1)},
             search_alg=TPESearch(seed=0), metric="val_loss", mode="min", num_samples=64)

Spaces. Every bounded Tune domain becomes a core parameter with exactly the values Tune's own
sampler draws (randint/lograndint exclude `upper`; qrandint/qlograndint give the multiples of q
up to and including `upper`, except for q=1; quantised floats stay on their grid). A
`tune.choice` of dicts that hold domains is a conditional sub-space; tpe_plugins types
(`tp.Float`, ...) work too, in `space` or in `param_space`. Constants, `sample_from` and other
objects are not modelled: every suggestion hands them back so that Tune resolves them as usual.
`grid_search` and `randn`/`qrandn` are refused with a message saying what to use instead.

How trial endings are recorded (the core keeps pruned trials in the bad group):

- normal end: `tell` with the metric of the final result;
- error (exception, dead worker), NaN/inf, or a final result without the metric: failed, with a
  warning; failed trials do not enter the model;
- stopped early by a scheduler (ASHA, HyperBand, median stopping): pruned, valued at its last
  metric. Tune does not say who ended a trial, so `TPESearch` infers it: a trainable that ends
  by itself has its final result passed to `on_trial_result` first, a scheduler's STOP does not
  pass it; such a trial counts as stopped early when it is also shorter (`training_iteration`)
  than the longest trial seen and does not meet the run's `stop` dict. Known miss: with
  concurrent trials, one stopped at a rung before any trial has gone further is recorded as
  complete;
- removed while pending or paused: pruned at its last reported metric if it reported one,
  otherwise failed (it carries no information).

Other behaviour: `set_max_concurrency` (and so `ConcurrencyLimiter`/`max_concurrent_trials`) is
handled here, with pending trials counted by the core's constant liar so that concurrent trials
spread out; a finite space returns `Searcher.FINISHED` once every configuration was tried; the
checkpoint is JSON (see `save`), and `Tuner.restore` also catches up with trials that Tune
finished after the searcher's last checkpoint (see `_catch_up`).
"""

from __future__ import annotations

import base64
import glob
import json
import logging
import math
import numbers
import os
import pickle
import sys
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

try:
    from ray import cloudpickle
    from ray.tune.search import (
        UNDEFINED_SEARCH_SPACE,
        Searcher,
    )
    from ray.tune.search import sample as tune_sample
    from ray.tune.utils.util import flatten_dict, unflatten_dict
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        'tpe_plugins.integrations.ray_tune needs Ray Tune: pip install "tpe-plugins[ray]"'
    ) from exc

import tpe_plugins as tp

__all__ = ["TPESearch", "convert_search_space"]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "tpe-plugins/ray-tune-searcher/1"
_CHOICE_KEY = "__choice__"  # marks the branch of a choice that is not a plain scalar
_PLACEHOLDER_TOKENS = ("__fn_ph", "__ref_ph")  # Tune's stand-ins for sample_from and objects
_FINITE_LIMIT = 10**6  # spaces with more configurations are treated as infinite
_ITERATION = "training_iteration"


class _SpaceMismatch(Exception):
    """A checkpoint whose optimiser state belongs to another search space."""


# ---------------------------------------------------------------------------------- space
# A converted space is a tree of the nodes below. The core sees only `_Param` and `_Choice`
# (through `_core_space`); `_Const` values stay here and are put back into every suggestion.


@dataclass
class _Const:
    value: Any


@dataclass
class _Param:
    param: tp.Float | tp.Int


@dataclass
class _Choice:
    options: list  # one node per choice
    scalar: bool  # True: the core sees the plain values; False: {"__choice__": i, "value": ...}


@dataclass
class _Dict:
    children: dict


@dataclass
class _List:
    children: list


_Node = _Const | _Param | _Choice | _Dict | _List


def _name(path: tuple) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def _is_placeholder(value: Any) -> bool:
    return (isinstance(value, tuple) and len(value) == 2
            and value[0] in _PLACEHOLDER_TOKENS and isinstance(value[1], str))


def _is_scalar(value: Any) -> bool:
    """Values the core can hold as a categorical choice and save as JSON unchanged."""
    if type(value) is float:
        return math.isfinite(value)
    return type(value) in (str, int, bool) or value is None


def _tunable(node: _Node) -> bool:
    return not isinstance(node, _Const)


def convert_search_space(space: Any) -> dict:
    """Convert a Tune space (or one mixing Tune domains and tpe_plugins types) to a core space.

    Useful to inspect what `TPESearch` will model: constants are left out, a choice of dicts
    appears as a `tp.Categorical` of branch dicts.
    """
    return _core_space(_convert(space, (), None))


def _convert(value: Any, path: tuple, claim: Any) -> _Node:
    """One level of the space tree. `claim(path, hash)` recovers objects Tune hid (see below)."""
    if isinstance(value, dict):
        if set(value) == {"grid_search"}:
            raise ValueError(
                f"{_name(path)}: tune.grid_search cannot be searched by TPE, which samples "
                f"rather than enumerates. Use tune.choice({value['grid_search']!r}) instead; "
                "TPE then learns which values are good.")
        children = {k: _convert(v, path + (k,), claim) for k, v in value.items()}
        if not any(_tunable(c) for c in children.values()):
            return _Const(value)
        return _Dict(children)
    if isinstance(value, list):
        children = [_convert(v, path + (i,), claim) for i, v in enumerate(value)]
        if not any(_tunable(c) for c in children):
            return _Const(value)
        return _List(children)
    if isinstance(value, tuple):
        if _is_placeholder(value) and value[0] == "__ref_ph" and claim is not None:
            obj = claim(path, value[1])
            if obj is not None:
                return _convert(obj, path, claim)
        if any(isinstance(v, (tune_sample.Domain, tp.Float, tp.Int, tp.Categorical))
               for v in value):
            raise TypeError(f"{_name(path)}: search domains inside a tuple are not searched "
                            "by Tune; use a list instead")
        return _Const(value)
    if isinstance(value, (tp.Float, tp.Int)):
        return _Param(value)
    if isinstance(value, tp.Categorical):
        return _convert_choice(list(value.choices), path, claim)
    if isinstance(value, tune_sample.Domain):
        return _convert_domain(value, path, claim)
    return _Const(value)


def _convert_choice(options: list, path: tuple, claim: Any) -> _Node:
    if not options:
        raise ValueError(f"{_name(path)}: a choice needs at least one option, got none")
    # Tune's categories share the choice's path (no index), so that placeholders resolve.
    nodes = [_convert(o, path, claim) for o in options]
    if len(nodes) == 1:
        return nodes[0]
    scalar = all(isinstance(n, _Const) and _is_scalar(n.value) for n in nodes)
    return _Choice(nodes, scalar)


def _refuse_functions(value: Any, path: tuple) -> None:
    """sample_from in TPESearch(space=...) would reach the trainable unresolved: refuse it."""
    if isinstance(value, tune_sample.Function):
        raise TypeError(
            f"{_name(path)}: tune.sample_from is resolved by Tune only when it sits in the run's "
            "config / param_space; move it there (TPESearch passes it through to Tune)")
    if isinstance(value, dict):
        for key, child in value.items():
            _refuse_functions(child, path + (key,))
    elif isinstance(value, (list, tuple)):
        for i, child in enumerate(value):
            _refuse_functions(child, path + (i,))
    elif isinstance(value, tune_sample.Categorical):
        _refuse_functions(list(value.categories), path)
    elif isinstance(value, tp.Categorical):
        _refuse_functions(list(value.choices), path)


def _grid_index(bound: float, q: float, round_fn: Any) -> int:
    """`bound`'s index on the multiples of q, rounded inwards (as Tune's Quantized does)."""
    scaled = bound / q
    nearest = round(scaled)
    return int(nearest if math.isclose(scaled, nearest) else round_fn(scaled))


def _convert_domain(domain: Any, path: tuple, claim: Any) -> _Node:
    name = _name(path)
    sampler = domain.get_sampler()
    if isinstance(domain, tune_sample.Function):
        return _Const(domain)  # Tune resolves it (in a run's config it is a placeholder)
    if isinstance(domain, tune_sample.Categorical):
        if isinstance(sampler, tune_sample.Grid):
            raise ValueError(f"{name}: grid search cannot be searched by TPE; use tune.choice")
        return _convert_choice(list(domain.categories), path, claim)
    q = None
    if isinstance(sampler, tune_sample.Quantized):
        q, sampler = sampler.q, sampler.get_sampler()
    if isinstance(sampler, tune_sample.Normal):
        mean, sd = sampler.mean, sampler.sd
        raise ValueError(
            f"{name}: tune.randn/qrandn is unbounded and TPE needs bounds; use for instance "
            f"tune.uniform({mean - 3 * sd:g}, {mean + 3 * sd:g}) (mean +- 3 sd)"
            + (f" or tune.quniform(..., q={q})" if q else ""))
    log = isinstance(sampler, tune_sample.LogUniform)
    if not log and not isinstance(sampler, tune_sample.Uniform):
        raise TypeError(f"{name}: unsupported Tune sampler {type(sampler).__name__}; TPE models "
                        "uniform, loguniform, quniform, qloguniform, randint, qrandint, "
                        "lograndint, qlograndint and choice")
    lower, upper = domain.lower, domain.upper
    if not (math.isfinite(lower) and math.isfinite(upper)):
        raise ValueError(f"{name}: TPE needs finite bounds, got ({lower}, {upper})")

    if isinstance(domain, tune_sample.Float):
        if q is None:
            return _numeric(tp.Float, lower, upper, log, None, name)
        lo_k, hi_k = _grid_index(lower, q, math.ceil), _grid_index(upper, q, math.floor)
        low = lower if math.isclose(lower, lo_k * q) else lo_k * q
        high = upper if math.isclose(upper, hi_k * q) else hi_k * q
        return _numeric(tp.Float, low, high, log, q, name, empty=hi_k < lo_k)

    if isinstance(domain, tune_sample.Integer):
        # Tune: randint/lograndint exclude `upper`; qrandint/qlograndint include it, except
        # for q == 1, and their values are the multiples of q (see Quantized.sample).
        if q is None:
            return _numeric(tp.Int, int(lower), int(upper) - 1, log, 1, name)
        if float(q) != int(q) or q < 1:
            raise ValueError(f"{name}: an integer domain needs an integer q >= 1, got {q}")
        q = int(q)
        lo_k, hi_k = _grid_index(lower, q, math.ceil), _grid_index(upper, q, math.floor)
        if q == 1:
            hi_k -= 1
        return _numeric(tp.Int, lo_k * q, hi_k * q, log, q, name, empty=hi_k < lo_k)

    raise TypeError(f"{name}: unsupported Tune domain {type(domain).__name__}")


def _numeric(kind: type, low: Any, high: Any, log: bool, step: Any, name: str,
             empty: bool = False) -> _Node:
    if empty or low > high:
        raise ValueError(f"{name}: the domain holds no value (bounds {low}, {high}"
                         + (f", q={step})" if step else ")"))
    if low == high:  # a single value: a constant, which the core refuses as a parameter
        return _Const(int(low) if kind is tp.Int else float(low))
    if kind is tp.Int:
        return _Param(tp.Int(int(low), int(high), log=log, step=int(step)))
    return _Param(tp.Float(float(low), float(high), log=log, step=step))


def _core_space(node: _Node) -> Any:
    """The part of the tree the core models (constants left out, list slots kept as None)."""
    if isinstance(node, _Param):
        return node.param
    if isinstance(node, _Choice):
        if node.scalar:
            return tp.Categorical([o.value for o in node.options])
        return tp.Categorical([{_CHOICE_KEY: i, "value": _core_space(o)} if _tunable(o)
                               else {_CHOICE_KEY: i} for i, o in enumerate(node.options)])
    if isinstance(node, _Dict):
        return {k: _core_space(c) for k, c in node.children.items() if _tunable(c)}
    if isinstance(node, _List):
        return [_core_space(c) if _tunable(c) else None for c in node.children]
    raise TypeError("a constant has no core space")  # pragma: no cover


def _decode(node: _Node, core: Any) -> Any:
    """Core params -> a Tune config with every key, constants and placeholders included."""
    if isinstance(node, _Const):
        return node.value
    if isinstance(node, _Param):
        return core
    if isinstance(node, _Choice):
        if node.scalar:
            return core
        option = node.options[core[_CHOICE_KEY]]
        return _decode(option, core.get("value"))
    if isinstance(node, _Dict):
        return {k: _decode(c, core[k] if _tunable(c) else None) for k, c in node.children.items()}
    return [_decode(c, core[i] if _tunable(c) else None) for i, c in enumerate(node.children)]


def _encode(node: _Node, value: Any, path: tuple) -> Any:
    """A Tune config (such as a point to evaluate) -> core params; errors name the path."""
    name = _name(path)
    if isinstance(node, _Param):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name}: expected a number, got {value!r}")
        return value
    if isinstance(node, _Choice):
        if node.scalar:
            return value
        for i, option in enumerate(node.options):
            if _matches(option, value):
                if not _tunable(option):
                    return {_CHOICE_KEY: i}
                return {_CHOICE_KEY: i, "value": _encode(option, value, path)}
        for option in node.options:  # a branch picked by its constants: say what is wrong
            if isinstance(option, _Dict) and isinstance(value, dict) and all(
                    _matches(c, value[k]) for k, c in option.children.items()
                    if not _tunable(c) and k in value):
                _encode(option, value, path)
        raise ValueError(f"{name}: {value!r} matches none of the choices")
    if isinstance(node, _Dict):
        if not isinstance(value, dict):
            raise TypeError(f"{name}: expected a dict, got {value!r}")
        unknown = set(value) - set(node.children)
        if unknown:
            raise ValueError(f"{name}: unknown key(s) {sorted(map(str, unknown))}; "
                             f"the space has {sorted(map(str, node.children))}")
        out = {}
        for k, child in node.children.items():
            if _tunable(child):
                if k not in value:
                    raise ValueError(f"{_name(path + (k,))}: missing; give a value for every "
                                     "searched parameter")
                out[k] = _encode(child, value[k], path + (k,))
        return out
    if isinstance(node, _List):
        if not isinstance(value, (list, tuple)) or len(value) != len(node.children):
            raise TypeError(f"{name}: expected a list of {len(node.children)}, got {value!r}")
        return [_encode(c, v, path + (i,)) if _tunable(c) else None
                for i, (c, v) in enumerate(zip(node.children, value, strict=True))]
    return None  # constants come from the space


def _matches(node: _Node, value: Any) -> bool:
    """Whether `value` could come from this option of a choice (constants must agree)."""
    if isinstance(node, _Const):
        try:
            return bool(node.value == value)
        except Exception:
            return False
    if isinstance(node, _Param):
        p = node.param
        return (isinstance(value, numbers.Real) and not isinstance(value, bool)
                and p.low - 1e-9 * abs(p.low) <= value <= p.high + 1e-9 * abs(p.high))
    if isinstance(node, _Choice):
        return any(_matches(o, value) for o in node.options)
    if isinstance(node, _Dict):
        if not isinstance(value, dict) or set(value) - set(node.children):
            return False
        return all((k in value and _matches(c, value[k])) if _tunable(c)
                   else (k not in value or _matches(c, value[k]))
                   for k, c in node.children.items())
    return (isinstance(value, (list, tuple)) and len(value) == len(node.children)
            and all(_matches(c, v) for c, v in zip(node.children, value, strict=True)))


def _n_configs(node: _Node) -> float:
    """How many distinct configurations the space holds (inf when a float is continuous)."""
    if isinstance(node, _Const):
        return 1
    if isinstance(node, _Param):
        p = node.param
        if p.step is None:
            return math.inf
        return round((p.high - p.low) / p.step) + 1
    if isinstance(node, _Choice):
        return sum(_n_configs(o) for o in node.options)
    children = node.children.values() if isinstance(node, _Dict) else node.children
    return math.prod(_n_configs(c) for c in children)


def _space_dict(node: _Node) -> dict:
    """A comparable description of what the core models."""
    return tp.TPE(_core_space(node), seed=0).state_dict()["space"]


def _config_key(core_params: Any) -> str:
    return json.dumps(core_params, sort_keys=True)


def _run_placeholder_claimer() -> Any:
    """A function that takes tpe_plugins types back from the enclosing `tune.run`, or None.

    Why: before a searcher sees the config, `tune.run` replaces every object that is not a Tune
    domain, `tp.Float` included, by a placeholder and resolves it back into each trial's config.
    To search a `tp.Float` written in `param_space`, we take it from tune.run's placeholder map
    and drop its entry, so that Tune puts our value in the trial's config instead.
    """
    frame = sys._getframe(1)
    while frame is not None:
        if (frame.f_globals.get("__name__") == "ray.tune.tune" and frame.f_code.co_name == "run"
                and "placeholder_resolvers" in frame.f_locals):
            resolvers = frame.f_locals["placeholder_resolvers"]
            break
        frame = frame.f_back
    else:
        return None

    def claim(path: tuple, ph_hash: str) -> Any:
        entries = resolvers.get(path, [])
        for entry in entries:
            if getattr(entry, "hash", None) == ph_hash and hasattr(entry, "resolve"):
                try:
                    obj = entry.resolve()
                except TypeError:  # a sample_from resolver needs a config: not ours
                    return None
                if not isinstance(obj, (tp.Float, tp.Int, tp.Categorical)):
                    return None
                entries.remove(entry)
                if not entries:
                    del resolvers[path]
                return obj
        return None

    return claim


def _metric_value(result: dict | None, metric: str) -> tuple[float | None, str]:
    """The finite metric of a result, or None and the reason it is unusable."""
    if not result or metric not in result:
        return None, f"the result has no metric {metric!r}"
    value = result[metric]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None, f"metric {metric!r} is {value!r}, not a number"
    value = float(value)
    if not math.isfinite(value):
        return None, f"metric {metric!r} is {value}"
    return value, ""


# ---------------------------------------------------------------------------------- searcher
class TPESearch(Searcher):
    """Ray Tune searcher backed by the tpe_plugins TPE (see the module docstring).

    space: Tune domains and/or tpe_plugins types; or None to take Tune's `config`/`param_space`.
    metric, mode: the objective; or None to take them from tune.run / TuneConfig.
    points_to_evaluate: configs (nested dicts, or flat "a/b" keys) to run first.
    evaluated_rewards: metric values already known for points_to_evaluate (then not rerun).
    seed, **tpe_settings: passed to `tp.TPE` (n_startup_trials, gamma, constant_liar, ...).
    """

    def __init__(self, space: dict | None = None, metric: str | None = None,
                 mode: str | None = None, points_to_evaluate: list[dict] | None = None,
                 evaluated_rewards: list[float] | None = None, seed: int | None = None,
                 **tpe_settings: Any):
        if metric is not None and not isinstance(metric, str):
            raise TypeError(f"TPESearch optimises one metric; got metric={metric!r}")
        if mode not in (None, "min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        super().__init__(metric=metric, mode=mode)
        if evaluated_rewards is not None and len(evaluated_rewards) != len(
                points_to_evaluate or []):
            raise ValueError(f"evaluated_rewards has {len(evaluated_rewards)} values but "
                             f"points_to_evaluate {len(points_to_evaluate or [])} points")
        self._seed = seed
        self._tpe_settings = tpe_settings
        self._points = list(points_to_evaluate or [])
        self._rewards = None if evaluated_rewards is None else list(evaluated_rewards)
        self._space: _Node | None = None
        self._opt: tp.TPE | None = None
        self._queue: list = []  # core params of points still to run
        self._live: dict[str, int] = {}  # Tune trial id -> core trial id, while running
        self._ids: dict[str, int] = {}  # every Tune trial id this searcher suggested
        self._last: dict[str, list] = {}  # Tune trial id -> [step, value] last reported
        self._warned: set[str] = set()
        self._max_iter = 0  # longest training_iteration seen in any trial
        self._stop: dict = {}  # the run's `stop` dict, to tell it from a scheduler's STOP
        self._max_concurrent: int | None = None
        self._seen: Counter = Counter()
        self._n_configs = math.inf
        self._space_from_checkpoint = False
        self._restore_error: str | None = None
        if space:
            _refuse_functions(space, ())
            node = _convert(space, (), None)
            if not _tunable(node):
                raise ValueError("TPESearch found nothing to search in `space`: give at least "
                                 "one domain such as tune.uniform(0, 1) or tp.Float(0, 1)")
            self._set_space(node)

    # ------------------------------------------------------------------ properties
    @property
    def optimizer(self) -> tp.TPE | None:
        """The core optimiser (its trials, `best`, `state_dict`), once space and mode are known."""
        self._ensure_optimizer()
        return self._opt

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict,
                              **spec: Any) -> bool:
        """Take metric, mode and the search space from tune.run / Tuner (only for a non-empty
        config); returns False when this searcher already has a space of its own."""
        if isinstance(spec.get("stop"), dict):
            self._stop = dict(spec["stop"])
        if self._space is not None and not self._space_from_checkpoint:
            if _tunable(_convert(config, (), None)):
                return False  # Tune then tells the user to keep one space only
            self._adopt(metric, mode)
            return True
        self._adopt(metric, mode)
        node = _convert(config, (), _run_placeholder_claimer())
        if not _tunable(node):
            raise ValueError("TPESearch found nothing to search in the config: give at least "
                             "one domain such as tune.uniform(0, 1) or tp.Float(0, 1)")
        if self._space is not None:  # restored first: the config must be the same space
            if _space_dict(node) != _space_dict(self._space):
                raise ValueError("the config is not the search space TPESearch was restored "
                                 "with; pass the same param_space")
        self._set_space(node)
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """Hold back suggestions beyond `max_concurrent` running trials (ConcurrencyLimiter
        then leaves the bookkeeping to us, and pending trials still count in the model)."""
        self._max_concurrent = int(max_concurrent)
        return True

    # ------------------------------------------------------------------ the trial loop
    def suggest(self, trial_id: str) -> dict | str | None:
        """A full config for a new trial; None while at the concurrency limit; FINISHED once a
        finite space has been tried completely."""
        self._ensure_optimizer(required=True)
        if trial_id in self._live:  # asked again for the same trial: same answer
            return _decode(self._space, self._opt.trial(self._live[trial_id]).params)
        if self._max_concurrent is not None and len(self._live) >= self._max_concurrent:
            return None
        if not self._queue and len(self._seen) >= self._n_configs:
            if "exhausted" not in self._warned:
                self._warned.add("exhausted")
                logger.warning("TPESearch: all %d configurations of this finite space have "
                               "been tried; no more trials will be started", self._n_configs)
            return Searcher.FINISHED
        if self._queue:
            self._opt.enqueue(self._queue.pop(0))
        trial = self._opt.ask()
        self._live[trial_id] = trial.id
        self._ids[trial_id] = trial.id
        self._seen[_config_key(trial.params)] += 1
        return _decode(self._space, trial.params)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Record an intermediate metric value (the learning curve) of a running trial."""
        if trial_id not in self._live or self._opt is None:
            return
        step = result.get(_ITERATION)
        if isinstance(step, numbers.Integral):
            self._max_iter = max(self._max_iter, int(step))
        value, why = _metric_value(result, self._metric)
        if value is None:
            self._warn_once(trial_id, f"TPESearch: trial {trial_id}: {why}; this result is not "
                                      "recorded")
            return
        if not isinstance(step, numbers.Integral):
            step = len(self._opt.trial(self._live[trial_id]).intermediate) + 1
        self._opt.report(self._live[trial_id], int(step), value)
        self._last[trial_id] = [int(step), value]

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        """Record how a trial ended: complete, failed or pruned (see the module docstring)."""
        if self._opt is not None and trial_id not in self._ids and result:
            config = unflatten_dict({k[len("config/"):]: v for k, v in result.items()
                                     if k.startswith("config/")})
            if config:  # Tune reran a trial that was suggested after our last checkpoint
                self._adopt_unknown_trial(trial_id, config, result, error)
                return
        if trial_id not in self._live or self._opt is None:
            logger.debug("TPESearch: ignoring completion of unknown or finished trial %s",
                         trial_id)
            return
        i = self._live.pop(trial_id)
        last = self._last.pop(trial_id, None)
        self._warned.discard(trial_id)
        if error:
            warnings.warn(f"TPESearch: trial {trial_id} errored (an exception or a dead "
                          "worker); recorded as failed", RuntimeWarning, stacklevel=2)
            self._opt.tell(i, None)
            return
        if result is None:  # removed while pending or paused
            if last is not None:
                self._opt.prune(i)
            else:
                self._opt.tell(i, None)
                key = _config_key(self._opt.trial(i).params)
                self._seen[key] -= 1  # it never ran: it may be suggested again
                if self._seen[key] <= 0:
                    del self._seen[key]
            return
        value, why = _metric_value(result, self._metric)
        early = self._stopped_early(result, last)
        step = result.get(_ITERATION)
        if isinstance(step, numbers.Integral):
            self._max_iter = max(self._max_iter, int(step))
        if value is None:
            warnings.warn(f"TPESearch: trial {trial_id}: {why}; recorded as failed",
                          RuntimeWarning, stacklevel=2)
            self._opt.tell(i, None)
            return
        if isinstance(step, numbers.Integral) and (last is None or last[0] < step):
            self._opt.report(i, int(step), value)  # the final point of the learning curve
        if early:
            self._opt.prune(i, value)
        else:
            self._opt.tell(i, value)

    def _stopped_early(self, result: dict, last: list | None) -> bool:
        step = result.get(_ITERATION)
        if not isinstance(step, numbers.Integral):
            return False
        if last is not None and last[0] >= step:
            return False  # the final result went through on_trial_result: a natural end
        for key, limit in self._stop.items():
            value = result.get(key)
            if isinstance(value, numbers.Real) and value >= limit:
                return False  # the run's own stop criterion, not a scheduler
        return step < self._max_iter

    def _warn_once(self, trial_id: str, message: str) -> None:
        if trial_id not in self._warned:
            self._warned.add(trial_id)
            warnings.warn(message, RuntimeWarning, stacklevel=3)

    # ------------------------------------------------------------------ outside results
    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False,
                            pruned: bool = False,
                            intermediate_values: list[float] | None = None) -> None:
        """Add a configuration evaluated elsewhere (nested dicts or flat "a/b" keys)."""
        self._add_point(parameters, value, error, pruned, intermediate_values,
                        "add_evaluated_point")

    def _add_point(self, parameters: dict, value: float | None, error: bool, pruned: bool,
                   intermediate_values: list[float] | None, where: str) -> tp.Trial:
        self._ensure_optimizer(required=True)
        params = self._encode_point(parameters, where)
        if error:
            trial = self._opt.add_trial(params, None)
        else:
            curve = {step: v for step, v in enumerate(intermediate_values or [], start=1)
                     if v is not None and math.isfinite(v)}
            trial = self._opt.add_trial(params, value, state="pruned" if pruned else "complete",
                                        intermediate=curve)
        self._seen[_config_key(trial.params)] += 1
        return trial

    def _adopt_unknown_trial(self, trial_id: str, config: dict, result: dict | None,
                             error: bool) -> None:
        """Record a trial Tune ran but this searcher has no record of (see `_catch_up`)."""
        value, _ = _metric_value(result, self._metric)
        known = set(getattr(self._space, "children", {}))
        config = {k: v for k, v in config.items() if k in known}
        try:
            trial = self._add_point(config, value, error or value is None, False, None,
                                    f"trial {trial_id}")
        except (TypeError, ValueError) as exc:
            logger.warning("TPESearch: cannot record finished trial %s: %s", trial_id, exc)
            return
        self._ids[trial_id] = trial.id
        logger.info("TPESearch: recorded trial %s, which finished after the last searcher "
                    "checkpoint", trial_id)

    # ------------------------------------------------------------------ save / restore
    def save(self, checkpoint_path: str) -> None:
        """Write the searcher state as JSON: the core state, the trial bookkeeping and the space.

        The space is kept (as a base64 pickle, since it may hold any constant) because
        Tuner.restore hands a searcher its saved state but not the param_space again.
        """
        self._ensure_optimizer()
        state = {
            "format": CHECKPOINT_FORMAT,
            "metric": self._metric,
            "mode": self._mode,
            "optimizer": self._opt.state_dict() if self._opt is not None else None,
            "space": (base64.b64encode(cloudpickle.dumps(self._space)).decode("ascii")
                      if self._space is not None else None),
            "queue": self._queue,
            "live": self._live,
            "ids": self._ids,
            "last": self._last,
            "max_iter": self._max_iter,
            "stop": self._stop,
        }
        with open(checkpoint_path, "w") as f:
            json.dump(state, f)

    def restore(self, checkpoint_path: str) -> None:
        """Continue from `save`. A file that is not a TPESearch checkpoint, or one made for
        another space, metric or mode, raises a ValueError that says so (and changes nothing)."""
        try:
            self._restore(checkpoint_path)
        except ValueError as exc:
            # Tune logs a failed resume and starts afresh; without a space we cannot, so
            # `suggest` repeats this reason instead of a puzzling "no search space".
            self._restore_error = str(exc)
            raise
        self._restore_error = None

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        """Restore from an experiment directory (Tuner.restore), then `_catch_up` with Tune."""
        super().restore_from_dir(checkpoint_dir)
        self._catch_up(checkpoint_dir)

    def _catch_up(self, experiment_dir: str) -> None:
        """Record trials that Tune finished after this searcher's last checkpoint.

        Why: Tune writes its experiment state and the searcher state one after the other and
        uploads them separately. A driver killed in between leaves trials that Tune records as
        finished, so it never reruns them, while the searcher still has them pending or never
        saw them. Their results are in Tune's experiment state; read it with the public
        ExperimentAnalysis.
        """
        if self._opt is None or not glob.glob(os.path.join(experiment_dir,
                                                           "experiment_state-*.json")):
            return
        try:
            from ray.tune import ExperimentAnalysis

            trials = ExperimentAnalysis(experiment_dir).trials
        except Exception as exc:  # best effort: the searcher state itself is intact
            logger.warning("TPESearch: could not read Tune's experiment state in %s to catch "
                           "up with trials finished after the last checkpoint: %r",
                           experiment_dir, exc)
            return
        for trial in trials:
            if trial.status not in ("TERMINATED", "ERROR"):
                continue  # Tune runs it again and reports it as usual
            error = trial.status == "ERROR"
            result = flatten_dict(trial.last_result) if trial.last_result else None
            if trial.trial_id in self._live:
                self.on_trial_complete(trial.trial_id, result, error=error)
            elif trial.trial_id not in self._ids:
                self._adopt_unknown_trial(trial.trial_id, trial.config, result, error)

    def _restore(self, checkpoint_path: str) -> None:
        try:
            with open(checkpoint_path, encoding="utf-8") as f:
                state = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"{checkpoint_path} is not a TPESearch checkpoint (it is not the JSON that "
                f"TPESearch.save writes; perhaps another searcher's pickle): {exc}") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{checkpoint_path} is not a TPESearch checkpoint (format "
                             f"{found!r}, expected {CHECKPOINT_FORMAT!r})")
        try:
            for key, kind in (("queue", list), ("live", dict), ("ids", dict), ("last", dict),
                              ("max_iter", int), ("stop", dict)):
                if not isinstance(state[key], kind):
                    raise TypeError(f"{key} is {type(state[key]).__name__}")
            saved_space = None
            if state["space"] is not None:
                saved_space = pickle.loads(base64.b64decode(state["space"]))
                if not _tunable(saved_space):
                    raise TypeError("the saved space holds no parameter")
            space = self._space if self._space is not None else saved_space
            opt = None
            if state["optimizer"] is not None:
                if space is None:
                    raise TypeError("an optimizer state without a space")
                core_space = _core_space(space)
                if tp.TPE(core_space).state_dict()["space"] != state["optimizer"]["space"]:
                    raise _SpaceMismatch()
                opt = tp.TPE.from_state_dict(state["optimizer"], space=core_space)
        except _SpaceMismatch:
            raise ValueError(f"{checkpoint_path}: the TPESearch checkpoint was made for a "
                             "different search space; restore with the space it was saved "
                             "with") from None
        except Exception as exc:
            raise ValueError(f"{checkpoint_path}: corrupt TPESearch checkpoint: {exc!r}") from None
        for key, ours in (("metric", self._metric), ("mode", self._mode)):
            if ours is not None and state[key] is not None and ours != state[key]:
                raise ValueError(f"{checkpoint_path} was saved with {key}={state[key]!r}, "
                                 f"this searcher has {key}={ours!r}")

        if self._space is None and saved_space is not None:
            self._set_space(saved_space, from_checkpoint=True)
        self._metric = self._metric or state["metric"]
        self._mode = self._mode or state["mode"]
        self._queue = state["queue"]
        self._live = {str(k): int(v) for k, v in state["live"].items()}
        self._ids = {str(k): int(v) for k, v in state["ids"].items()}
        self._last = {str(k): list(v) for k, v in state["last"].items()}
        self._max_iter = state["max_iter"]
        self._stop = self._stop or state["stop"]
        self._opt = opt
        self._seen = Counter(_config_key(t.params) for t in opt.trials) if opt else Counter()

    # ------------------------------------------------------------------ internals
    def _adopt(self, metric: str | None, mode: str | None) -> None:
        for key, given in (("metric", metric), ("mode", mode)):
            ours = getattr(self, "_" + key)
            if given is not None and ours is not None and given != ours:
                raise ValueError(f"TPESearch was built with {key}={ours!r} but the run asks "
                                 f"for {key}={given!r}; give it in one place only")
        if mode not in (None, "min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self._metric = self._metric or metric
        self._mode = self._mode or mode

    def _set_space(self, node: _Node, from_checkpoint: bool = False) -> None:
        tp.TPE(_core_space(node), seed=0, **self._tpe_settings)  # validate now: errors name paths
        self._space = node
        self._space_from_checkpoint = from_checkpoint
        self._n_configs = _n_configs(node)
        if self._n_configs > _FINITE_LIMIT:
            self._n_configs = math.inf

    def _ensure_optimizer(self, required: bool = False) -> None:
        """Build the core once space and mode are known, and queue the starting points."""
        if self._opt is not None:
            return
        if self._space is None or not self._metric or not self._mode:
            if required:
                if self._space is None and self._restore_error:
                    raise RuntimeError("TPESearch has no search space because restoring its "
                                       f"checkpoint failed: {self._restore_error}")
                if self._space is None:
                    raise RuntimeError(UNDEFINED_SEARCH_SPACE.format(
                        cls=type(self).__name__, space="space"))
                raise RuntimeError(
                    f"TPESearch has no metric ({self._metric}) or mode ({self._mode}): pass "
                    "them to TPESearch(metric=..., mode=...) or to tune.run / TuneConfig. Tune "
                    "hands the run's metric and mode to a searcher only along with a non-empty "
                    "config / param_space, so with a space given to TPESearch, give them there.")
            return
        self._opt = tp.TPE(_core_space(self._space), mode=self._mode, seed=self._seed,
                           **self._tpe_settings)
        points = [self._encode_point(p, f"points_to_evaluate[{i}]")
                  for i, p in enumerate(self._points)]
        if self._rewards is not None:
            for params, reward in zip(points, self._rewards, strict=True):
                trial = self._opt.add_trial(params, reward)
                self._seen[_config_key(trial.params)] += 1
        else:
            self._queue = points

    def _encode_point(self, point: dict, where: str) -> Any:
        if not isinstance(point, dict):
            raise TypeError(f"{where}: expected a dict, got {point!r}")
        if any("/" in str(k) for k in point) and not all(
                k in getattr(self._space, "children", {}) for k in point):
            point = unflatten_dict(point)  # OptunaSearch-style flat keys "model/kernel"
        try:
            params = _encode(self._space, point, ())
            tp.TPE(_core_space(self._space), seed=0).enqueue(params)  # range and choice checks
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: {exc}") from None
        return params
