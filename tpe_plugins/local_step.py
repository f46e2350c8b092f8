"""A local quadratic step from the best trial: the move that the Parzen kernels cannot make.

l(x) draws its candidates near good trials, one kernel width away at most. On a long slope
whose other coordinates must stay exact (Hartmann3: the value falls evenly along x1 while x2
and x3 sit in a narrow ridge) the search then crawls one kernel width per improvement, and
near a smooth optimum it refines by chance draws. A separable quadratic fitted to the best
trials points along the slope and into the bowl; a step to its minimum inside a trust region
around the best trial (twice the spread of the trials it was fitted on) goes far along a slope
and straight to the bottom of a bowl. The optimiser takes such a step on a share of its
single asks (`local_fraction`; a batch carries at most one); the rest stay TPE's.

`propose` decides whether an ask takes the step and where it lands; `quadratic_step` is the fit.
Stateless, like `sampler.py`: it reads encoded trials and returns encoded coordinates.
"""

from __future__ import annotations

import numpy as np

from tpe_plugins.history import COMPLETE, History
from tpe_plugins.sampler import rows_in
from tpe_plugins.space import Space

EXPAND = 2.0  # trust region: this many times the fitted trials' largest offset from the best
POINTS_PER_TERM = 2  # trials fitted per coefficient of the separable quadratic (1 + 2 D)


def n_points(n_dims: int) -> int:
    """How many of the best trials the quadratic over n_dims coordinates is fitted on."""
    return POINTS_PER_TERM * (2 * n_dims + 1)


def quadratic_step(A: np.ndarray, y: np.ndarray, min_width: float) -> np.ndarray:
    """The step's coordinates in [0, 1], one per column of A.

    A: (m, d) encoded coordinates of the best trials, the best first; y: their values (lower is
    better). Fits y ~ a + sum_j (b_j z_j + c_j z_j^2), z the offset from the best trial, and
    moves each coordinate to its parabola's minimum where it curves upwards, else to the trust
    region's edge downhill; the region spans EXPAND times the largest offset in each coordinate,
    at least min_width.
    """
    z = A - A[0]
    spread = np.abs(z).max(axis=0)
    scale = np.where(spread > 0, spread, 1.0)  # fit on offsets scaled to [-1, 1]
    s = z / scale
    y = (y - y.mean()) / (y.std() + 1e-12)
    design = np.hstack([np.ones((len(s), 1)), s, s * s])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    d = A.shape[1]
    slope, curve = coef[1:d + 1], coef[d + 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(curve > 0, -slope / (2 * curve), -np.sign(slope) * np.inf)
    radius = np.maximum(EXPAND * spread, min_width)
    step = np.clip(np.nan_to_num(step * scale, nan=0.0), -radius, radius)
    return np.clip(A[0] + step, 0.0, 1.0)


def propose(h: History, space: Space, fraction: float, min_width: float,
            rng: np.random.Generator, n: int = 1) -> np.ndarray | None:
    """On a `fraction` share of the single asks (for a batch of n, with the chance that one of
    n asks draws it), the encoded row of a quadratic step from the best finished trial; None
    for a TPE suggestion.

    Only where the step is well defined: one objective, no constraints, enough complete
    trials at the longest curve on the best one's branch to fit its numeric coordinates,
    and a step to a point not tried and not running (so concurrent asks take one step
    per state of the finished history, and TPE suggestions beside it). The random draw is
    made only where the step can be fitted, so that elsewhere (spaces without numeric
    parameters, say) the suggestions are exactly those without the step; it comes before
    the fit, which most asks then skip.
    """
    if fraction == 0 or h.several or h.constraints:
        return None
    done = h.where(COMPLETE)
    if len(done) == 0:
        return None
    if h.n_reports:  # values on one scale (without curves every trial has the same budget)
        done = done[h.budget[done] == h.budget[done].max()]
    X, y = h.X[: h.n], h.y[: h.n]
    best = X[done[np.argmin(y[done])]]
    if len(space.selectors):  # the best's branch (without conditions every trial is on it)
        done = done[np.all(np.isnan(X[done]) == np.isnan(best), axis=1)]
    dims = space.numeric[~np.isnan(best[space.numeric])]  # the best's numeric coordinates
    m = n_points(len(dims))
    if len(dims) == 0 or len(done) < m:
        return None
    if rng.random() >= 1.0 - (1.0 - fraction) ** n:  # drawn before the fit: most asks skip it
        return None
    # the m best, the oldest first among equal values; no sort of the whole history
    top = done[y[done] <= np.partition(y[done], m - 1)[m - 1]]
    top = top[np.argsort(y[top], kind="stable")[:m]]
    coords = quadratic_step(X[np.ix_(top, dims)], y[top], min_width)
    row = best.copy()
    row[dims] = coords
    for d in dims[space.kinds[dims] == "discrete"]:  # a loop over grid dimensions: they snap
        row[d] = space.snap_dim(d, row[d:d + 1])[0]
    if rows_in(row[None, :], X)[0]:
        return None
    return row
