"""Translation between Tune search spaces and the core's spaces (pure functions, no state).

A converted space is a tree of the nodes below. The core sees only `_Param` and `_Choice`
(through `core_space`); `_Const` values stay here and are put back into every suggestion.
Every bounded Tune domain becomes a core parameter with exactly the values Tune's own sampler
draws (randint/lograndint exclude `upper`; qrandint/qlograndint give the multiples of q up to
and including `upper`, except for q=1; quantised floats stay on their grid). A `tune.choice` of
dicts that hold domains is a conditional sub-space.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from ray.tune.search import sample as tune_sample
from ray.tune.utils.util import unflatten_dict

import tpe_plugins as tp

CHOICE_KEY = "__choice__"  # marks the branch of a choice that is not a plain scalar
_PLACEHOLDER_TOKENS = ("__fn_ph", "__ref_ph")  # Tune's stand-ins for sample_from and objects


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


def name_of(path: tuple) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def _is_placeholder(value: Any) -> bool:
    return (isinstance(value, tuple) and len(value) == 2
            and value[0] in _PLACEHOLDER_TOKENS and isinstance(value[1], str))


def hidden_objects(node: _Node, path: tuple = ()) -> list[str]:
    """Paths where Tune hid an object from the searcher (it resolves them in each trial)."""
    if isinstance(node, _Const):
        return [name_of(path)] if _is_placeholder(node.value) and node.value[0] == "__ref_ph" \
            else []
    if isinstance(node, _Dict):
        return [p for k, c in node.children.items() for p in hidden_objects(c, path + (k,))]
    if isinstance(node, _List):
        return [p for i, c in enumerate(node.children) for p in hidden_objects(c, path + (i,))]
    if isinstance(node, _Choice):
        return [p for o in node.options for p in hidden_objects(o, path)]
    return []


def plain(value: Any) -> Any:
    """NumPy scalars, 0-d arrays and bools as Python values, inside dicts, lists and tuples too,
    so that they match choices and save as JSON."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple) and not _is_placeholder(value):
        return tuple(plain(v) for v in value)
    return value


def to_tune(space: Any) -> Any:
    """The same space in Tune's own domains, for a `param_space` or `config`.

    Why: Tune hides every object that is not one of its domains (a `tp.Float` included) from
    searchers and hands it to the trainable as it is. Each domain made here holds exactly the
    values of the tpe_plugins type; a grid Tune cannot express is refused.
    """
    from ray import tune

    if isinstance(space, dict):
        return {k: to_tune(v) for k, v in space.items()}
    if isinstance(space, list):
        return [to_tune(v) for v in space]
    if isinstance(space, tp.Categorical):
        return tune.choice([to_tune(c) for c in space.choices])
    if isinstance(space, tp.Float):
        if space.step is None:
            return (tune.loguniform if space.log else tune.uniform)(space.low, space.high)
        _check_on_multiples(space)
        return (tune.qloguniform if space.log else tune.quniform)(space.low, space.high,
                                                                  space.step)
    if isinstance(space, tp.Int):
        if space.step == 1:
            return (tune.lograndint if space.log else tune.randint)(space.low, space.high + 1)
        _check_on_multiples(space)
        return (tune.qlograndint if space.log else tune.qrandint)(space.low, space.high,
                                                                  space.step)
    return space


def _check_on_multiples(p: tp.Float | tp.Int) -> None:
    k = p.low / p.step
    if not math.isclose(k, round(k)):
        raise ValueError(f"{p}: Tune's quantised domains hold multiples of q, and low={p.low} "
                         f"is not a multiple of step={p.step}; pass this space to "
                         "TPESearch(space=...) instead")


def _is_scalar(value: Any) -> bool:
    """Values the core can hold as a categorical choice and save as JSON unchanged."""
    if type(value) is float:
        return math.isfinite(value)
    return type(value) in (str, int, bool) or value is None


def tunable(node: _Node) -> bool:
    return not isinstance(node, _Const)


def convert_search_space(space: Any) -> dict:
    """Convert a Tune space (or one mixing Tune domains and tpe_plugins types) to a core space.

    Useful to inspect what `TPESearch` will model: constants are left out, a choice of dicts
    appears as a `tp.Categorical` of branch dicts.
    """
    return core_space(convert(space))


def convert(value: Any, path: tuple = ()) -> _Node:
    """The node tree of a Tune space (or one mixing Tune domains and tpe_plugins types)."""
    if isinstance(value, dict):
        if set(value) == {"grid_search"}:
            raise ValueError(
                f"{name_of(path)}: tune.grid_search cannot be searched by TPE, which samples "
                f"rather than enumerates. Use tune.choice({value['grid_search']!r}) instead; "
                "TPE then learns which values are good.")
        children = {k: convert(v, path + (k,)) for k, v in value.items()}
        if not any(tunable(c) for c in children.values()):
            return _Const(value)
        return _Dict(children)
    if isinstance(value, list):
        children = [convert(v, path + (i,)) for i, v in enumerate(value)]
        if not any(tunable(c) for c in children):
            return _Const(value)
        return _List(children)
    if isinstance(value, tuple):
        if any(isinstance(v, (tune_sample.Domain, tp.Float, tp.Int, tp.Categorical))
               for v in value):
            raise TypeError(f"{name_of(path)}: search domains inside a tuple are not searched "
                            "by Tune; use a list instead")
        return _Const(value)
    if isinstance(value, (tp.Float, tp.Int)):
        return _Param(value)
    if isinstance(value, tp.Categorical):
        return _convert_choice(list(value.choices), path)
    if isinstance(value, tune_sample.Domain):
        return _convert_domain(value, path)
    return _Const(value)


def _convert_choice(options: list, path: tuple) -> _Node:
    if not options:
        raise ValueError(f"{name_of(path)}: a choice needs at least one option, got none")
    # Tune's categories share the choice's path (no index), so that placeholders resolve.
    nodes = [convert(o, path) for o in options]
    if len(nodes) == 1:
        return nodes[0]
    scalar = all(isinstance(n, _Const) and _is_scalar(n.value) for n in nodes)
    return _Choice(nodes, scalar)


def refuse_functions(value: Any, path: tuple) -> None:
    """sample_from in TPESearch(space=...) would reach the trainable unresolved: refuse it."""
    if isinstance(value, tune_sample.Function):
        raise TypeError(
            f"{name_of(path)}: tune.sample_from is resolved by Tune only when it sits in the run's "
            "config / param_space; move it there (TPESearch passes it through to Tune)")
    if isinstance(value, dict):
        for key, child in value.items():
            refuse_functions(child, path + (key,))
    elif isinstance(value, (list, tuple)):
        for i, child in enumerate(value):
            refuse_functions(child, path + (i,))
    elif isinstance(value, tune_sample.Categorical):
        refuse_functions(list(value.categories), path)
    elif isinstance(value, tp.Categorical):
        refuse_functions(list(value.choices), path)


def _grid_index(bound: float, q: float, round_fn: Any) -> int:
    """`bound`'s index on the multiples of q, rounded inwards (as Tune's Quantized does)."""
    scaled = bound / q
    nearest = round(scaled)
    return int(nearest if math.isclose(scaled, nearest) else round_fn(scaled))


def _convert_domain(domain: Any, path: tuple) -> _Node:
    name = name_of(path)
    sampler = domain.get_sampler()
    if isinstance(domain, tune_sample.Function):
        return _Const(domain)  # Tune resolves it (in a run's config it is a placeholder)
    if isinstance(domain, tune_sample.Categorical):
        if isinstance(sampler, tune_sample.Grid):
            raise ValueError(f"{name}: grid search cannot be searched by TPE; use tune.choice")
        return _convert_choice(list(domain.categories), path)
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


def core_space(node: _Node) -> Any:
    """The part of the tree the core models (constants left out, list slots kept as None)."""
    if isinstance(node, _Param):
        return node.param
    if isinstance(node, _Choice):
        if node.scalar:
            return tp.Categorical([o.value for o in node.options])
        return tp.Categorical([{CHOICE_KEY: i, "value": core_space(o)} if tunable(o)
                               else {CHOICE_KEY: i} for i, o in enumerate(node.options)])
    if isinstance(node, _Dict):
        return {k: core_space(c) for k, c in node.children.items() if tunable(c)}
    if isinstance(node, _List):
        return [core_space(c) if tunable(c) else None for c in node.children]
    raise TypeError("a constant has no core space")  # pragma: no cover


def decode(node: _Node, core: Any) -> Any:
    """Core params -> a Tune config with every key, constants and placeholders included."""
    if isinstance(node, _Const):
        return node.value
    if isinstance(node, _Param):
        return core
    if isinstance(node, _Choice):
        if node.scalar:
            return core
        option = node.options[core[CHOICE_KEY]]
        return decode(option, core.get("value"))
    if isinstance(node, _Dict):
        return {k: decode(c, core[k] if tunable(c) else None) for k, c in node.children.items()}
    return [decode(c, core[i] if tunable(c) else None) for i, c in enumerate(node.children)]


def encode(node: _Node, value: Any, path: tuple) -> Any:
    """A Tune config (such as a point to evaluate) -> core params; errors name the path."""
    name = name_of(path)
    if isinstance(node, _Param):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name}: expected a number, got {value!r}")
        return value
    if isinstance(node, _Choice):
        if node.scalar:
            return value
        for i, option in enumerate(node.options):
            if matches(option, value):
                if not tunable(option):
                    return {CHOICE_KEY: i}
                return {CHOICE_KEY: i, "value": encode(option, value, path)}
        for option in node.options:  # a branch picked by its constants: say what is wrong
            if isinstance(option, _Dict) and isinstance(value, dict) and all(
                    matches(c, value[k]) for k, c in option.children.items()
                    if not tunable(c) and k in value):
                encode(option, value, path)
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
            if tunable(child):
                if k not in value:
                    raise ValueError(f"{name_of(path + (k,))}: missing; give a value for every "
                                     "searched parameter")
                out[k] = encode(child, value[k], path + (k,))
        return out
    if isinstance(node, _List):
        if not isinstance(value, (list, tuple)) or len(value) != len(node.children):
            raise TypeError(f"{name}: expected a list of {len(node.children)}, got {value!r}")
        return [encode(c, v, path + (i,)) if tunable(c) else None
                for i, (c, v) in enumerate(zip(node.children, value, strict=True))]
    return None  # constants come from the space


def encode_point(node: _Node, core: tp.Space, point: Any, where: str) -> Any:
    """A whole config given from outside (nested dicts, or OptunaSearch-style flat "a/b" keys)
    -> validated core params; errors start with `where` so the user finds the bad point."""
    point = plain(point)
    if not isinstance(point, dict):
        raise TypeError(f"{where}: expected a dict, got {point!r}")
    if any("/" in str(k) for k in point) and not all(
            k in getattr(node, "children", {}) for k in point):
        point = unflatten_dict(point)
    try:
        params = encode(node, point, ())
        core.validate(params)  # ranges and choices
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    return params


def matches(node: _Node, value: Any) -> bool:
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
        return any(matches(o, value) for o in node.options)
    if isinstance(node, _Dict):
        if not isinstance(value, dict) or set(value) - set(node.children):
            return False
        return all((k in value and matches(c, value[k])) if tunable(c)
                   else (k not in value or matches(c, value[k]))
                   for k, c in node.children.items())
    return (isinstance(value, (list, tuple)) and len(value) == len(node.children)
            and all(matches(c, v) for c, v in zip(node.children, value, strict=True)))


def n_configs(node: _Node) -> float:
    """How many distinct configurations the space holds (inf when a float is continuous)."""
    if isinstance(node, _Const):
        return 1
    if isinstance(node, _Param):
        p = node.param
        if p.step is None:
            return math.inf
        return round((p.high - p.low) / p.step) + 1
    if isinstance(node, _Choice):
        return sum(n_configs(o) for o in node.options)
    children = node.children.values() if isinstance(node, _Dict) else node.children
    return math.prod(n_configs(c) for c in children)


def config_key(core_params: Any) -> str:
    return json.dumps(core_params, sort_keys=True)


