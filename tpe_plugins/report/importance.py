"""Parameter importance: fANOVA main effects on a scikit-learn random forest.

Why this measure: it is the one optuna uses by default (Hutter, Hoos and Leyton-Brown, 2014),
so others can check it. A forest is fitted to the finished trials; for each tree, the variance
of its prediction over the whole space is split by the axis-aligned leaves into the part each
parameter explains alone (its main effect). Shares are averaged over trees and normalised to
sum to 1. Constants are not parameters and are left out.

Encoding: numbers scaled to [0, 1] over the space's bounds (or the observed range), on a log
scale where the search used one; a choice by its index; a conditional parameter's "inactive"
as its own region below [0, 1].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SKLEARN_MISSING = ('Parameter importance needs scikit-learn: pip install "tpe-plugins[plot]" '
                   '(or scikit-learn)')


def importance(run: Any, objective: int = 0, n_trees: int = 64, seed: int = 0
               ) -> dict[str, float]:
    """Share of the value's variance each parameter explains alone (sums to 1 when any is
    explained). Raises ImportError without scikit-learn, ValueError with under 4 trials."""
    try:
        from sklearn.ensemble import RandomForestRegressor
    except ImportError:
        raise ImportError(SKLEARN_MISSING) from None
    done = [t for t in run.finished()]
    if len(done) > 2000:  # the newest 2,000 keep the forest quick
        done = done[-2000:]
    names = list(run.params)
    if len(done) < 4 or not names:
        raise ValueError(f"importance needs 4 finished trials and a parameter "
                         f"(has {len(done)} and {len(names)})")
    y = np.array([t["value"][objective] if isinstance(t["value"], list) else t["value"]
                  for t in done], dtype=float)
    cols = [_encode([t["params"].get(n) for t in done], n in run.log_params,
                    run.bounds.get(n)) for n in names]
    X = np.column_stack([c[0] for c in cols])
    lo = np.array([c[1] for c in cols])
    hi = np.array([c[2] for c in cols])
    forest = RandomForestRegressor(n_estimators=n_trees, max_depth=64, min_samples_leaf=1,
                                   random_state=seed, n_jobs=1).fit(X, y)
    shares, used = np.zeros(len(names)), 0
    for est in forest.estimators_:
        part = _tree_main_effects(est.tree_, lo, hi)
        if part is not None:
            shares += part
            used += 1
    if used:
        shares /= used
    total = shares.sum()
    return {n: float(s / total) if total > 0 else 0.0
            for n, s in zip(names, shares, strict=True)}


def _encode(values: list, log: bool, bounds: list | None) -> tuple[np.ndarray, float, float]:
    """One column and its domain (see the module docstring)."""
    present = [v for v in values if v is not None]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    inactive = len(present) < len(values)
    if numeric and present:
        x = np.array([np.nan if v is None else float(v) for v in values])
        a, b = (float(bounds[0]), float(bounds[1])) if bounds else (min(present), max(present))
        if not bounds and min(present) > 0 and max(present) / min(present) > 100:
            log = True
        if log and min(a, min(present)) > 0:
            x, a, b = np.log10(x), math.log10(min(a, min(present))), math.log10(max(b, max(
                present)))
        else:
            a, b = min(a, min(present)), max(b, max(present))
        x = (x - a) / (b - a) if b > a else np.full(len(x), 0.5)
    else:
        levels = sorted({repr(v) for v in present})
        x = np.array([np.nan if v is None else (levels.index(repr(v)) + 0.5) / len(levels)
                      for v in values])
    if inactive:
        return np.where(np.isnan(x), -0.5, x), -1.0, 1.0
    return x, 0.0, 1.0


def _tree_main_effects(tree: Any, lo: np.ndarray, hi: np.ndarray) -> np.ndarray | None:
    """Per feature, the variance of the tree's marginal prediction over that feature alone,
    as a share of the prediction's total variance over the domain; None for a constant tree."""
    left, right = tree.children_left, tree.children_right
    n_nodes = tree.node_count
    box_lo = np.tile(lo, (n_nodes, 1))
    box_hi = np.tile(hi, (n_nodes, 1))
    for node in range(n_nodes):  # children come after their parent
        if left[node] == -1:
            continue
        f, t = tree.feature[node], tree.threshold[node]
        for child in (left[node], right[node]):
            box_lo[child], box_hi[child] = box_lo[node], box_hi[node]
        box_hi[left[node], f] = min(box_hi[node, f], t)
        box_lo[right[node], f] = max(box_lo[node, f], t)
    leaves = np.flatnonzero(left == -1)
    v = tree.value[leaves, 0, 0]
    width = (box_hi[leaves] - box_lo[leaves]) / (hi - lo)
    vol = np.prod(width, axis=1)
    mean = np.sum(vol * v)
    total = np.sum(vol * (v - mean) ** 2)
    if total <= 1e-14 * max(1.0, mean ** 2):
        return None
    out = np.zeros(len(lo))
    for i in np.unique(tree.feature[tree.feature >= 0]):
        cuts = np.unique(np.concatenate([box_lo[leaves, i], box_hi[leaves, i]]))
        seg_lo, seg_hi = cuts[:-1], cuts[1:]
        frac = (seg_hi - seg_lo) / (hi[i] - lo[i])
        covers = (box_lo[leaves, i][None, :] <= seg_lo[:, None] + 1e-12) & \
            (box_hi[leaves, i][None, :] >= seg_hi[:, None] - 1e-12)
        marginal = covers @ (v * vol / width[:, i])
        out[i] = np.sum(frac * (marginal - mean) ** 2) / total
    return out
