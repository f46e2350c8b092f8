"""What a `TPESearch` is set up with (objectives, options, search space), checked up front.

Why a module of its own: these checks decide whether a run can start at all, and their messages
(which argument is wrong, what to pass instead) are what a user reads when it cannot. Each is a
plain function of its arguments; the searcher keeps what comes back.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from ray.tune.search import UNDEFINED_SEARCH_SPACE

import tpe_plugins as tp

from . import space as sp

logger = logging.getLogger(__name__)

_FINITE_LIMIT = 10**6  # spaces with more configurations are treated as infinite


def objectives(metric: Any, mode: Any) -> tuple[Any, Any]:
    """metric and mode checked: a name and "min"/"max", or equally long lists of them."""
    if isinstance(metric, (list, tuple)):
        if not metric or not all(isinstance(m, str) for m in metric):
            raise TypeError(f"metric must be a name or a list of names, got {metric!r}")
        if mode is not None and (not isinstance(mode, (list, tuple))
                                 or len(mode) != len(metric)):
            raise ValueError(f"metric={list(metric)} needs one mode per metric, e.g. "
                             f"mode={['min'] * len(metric)}; got mode={mode!r}")
        metric = list(metric)
    elif metric is not None and not isinstance(metric, str):
        raise TypeError(f"metric must be a name or a list of names, got {metric!r}")
    modes = mode if isinstance(mode, (list, tuple)) else [mode]
    if mode is not None and any(m not in ("min", "max") for m in modes):
        raise ValueError(f"mode must be 'min' or 'max' (one per metric), got {mode!r}")
    return metric, list(mode) if isinstance(mode, (list, tuple)) else mode


def options(time_attr: Any, limit_running: Any,
            constraints: Any) -> tuple[str, bool, list[str] | None]:
    """time_attr, limit_running and constraints checked, so that a wrong one fails when the
    searcher is built rather than in the middle of a run."""
    if not isinstance(time_attr, str) or not time_attr:
        raise TypeError(f"time_attr must be the name of a result field, such as "
                        f"'training_iteration', got {time_attr!r}")
    if not isinstance(limit_running, bool):
        raise TypeError(f"limit_running must be True or False, got {limit_running!r}")
    if constraints is not None and (isinstance(constraints, str) or not all(
            isinstance(c, str) for c in constraints)):
        raise TypeError(f"constraints must be a list of result field names, e.g. "
                        f"['memory_gb_over'], got {constraints!r}")
    return time_attr, limit_running, list(constraints) if constraints is not None else None


def adopt(ours: tuple[Any, Any], given: tuple[Any, Any]) -> tuple[Any, Any]:
    """The searcher's (metric, mode) once the run gives its own: the searcher's win where it
    has them, and a conflict fails, so that no run optimises another objective than asked."""
    if isinstance(ours[0], list) and not isinstance(given[0], list):
        return ours  # several objectives of our own; the run's single metric is the scheduler's
    given = objectives(*given)
    for key, mine, theirs in zip(("metric", "mode"), ours, given, strict=True):
        if theirs is not None and mine is not None and theirs != mine:
            raise ValueError(f"TPESearch was built with {key}={mine!r} but the run asks "
                             f"for {key}={theirs!r}; give it in one place only")
    return ours[0] or given[0], ours[1] or given[1]


def not_ready(space: Any, metric: Any, mode: Any, restore_error: str | None,
              cls_name: str) -> RuntimeError:
    """The error for a searcher asked to work before its space, metric and mode are known,
    saying which is missing and where to give it."""
    if space is None and restore_error:
        return RuntimeError("TPESearch has no search space because restoring its "
                            f"checkpoint failed: {restore_error}")
    if space is None:
        return RuntimeError(UNDEFINED_SEARCH_SPACE.format(cls=cls_name, space="space"))
    return RuntimeError(
        f"TPESearch has no metric ({metric}) or mode ({mode}): pass "
        "them to TPESearch(metric=..., mode=...) or to tune.run / TuneConfig. Tune "
        "hands the run's metric and mode to a searcher only along with a non-empty "
        "config / param_space, so with a space given to TPESearch, give them there.")


def own_space(space: dict) -> sp._Node:
    """`TPESearch(space=...)` converted; refused when there is nothing in it to search."""
    sp.refuse_functions(space, ())
    node = sp.convert(space)
    if not sp.tunable(node):
        raise ValueError("TPESearch found nothing to search in `space`: give at least "
                         "one domain such as tune.uniform(0, 1) or tp.Float(0, 1)")
    return node


def config_space(config: dict, restored: tp.Space | None) -> sp._Node:
    """Tune's config / param_space converted. Objects Tune hides from searchers get a warning;
    a searcher restored with a space (`restored`, its core space) takes only that space."""
    node = sp.convert(config)
    hidden = sp.hidden_objects(node)
    if hidden:
        logger.warning(
            "TPESearch: Tune hides the objects at %s from searchers and passes them to the "
            "trainable as they are. A tpe_plugins type there is not searched: write the "
            "space with tune domains, wrap it in tpe_plugins.integrations.ray_tune.to_tune("
            "...), or pass it as TPESearch(space=...).", ", ".join(hidden))
    if not sp.tunable(node):
        raise ValueError("TPESearch found nothing to search in the config: give at least "
                         "one domain such as tune.uniform(0, 1); tpe_plugins types go in "
                         "TPESearch(space=...) or through to_tune(...)")
    if restored is not None and tp.Space(sp.core_space(node)) != restored:
        raise ValueError("the config is not the search space TPESearch was restored "
                         "with; pass the same param_space")
    return node


def n_configs(node: sp._Node) -> float:
    """How many configurations the space holds, so that `suggest` can stop once a finite one
    has been tried; inf for an infinite or very large one."""
    n = sp.n_configs(node)
    return math.inf if n > _FINITE_LIMIT else n
