"""Several objectives: Pareto fronts, hypervolume, and the good group of a multi-objective TPE.

Values are in minimisation sign, one column per objective. The good group is filled front by
front (non-domination rank); the front that does not fit whole is cut by hypervolume
contribution, as in MOTPE (Ozaki et al., 2020): the point that adds least to the volume the
front dominates is dropped, one at a time, so the kept points stay spread along the front.
With 3 or more objectives the contributions are exact for small sets (a grid of the points'
coordinates) and the front is cut in one pass; for large sets the crowding distance of
NSGA-II stands in (exact contributions by recursive slicing took 100 ms per ask).
"""

from __future__ import annotations

import numpy as np


def dominates(Y: np.ndarray) -> np.ndarray:
    """(n, n) matrix: [i, j] when row i is no worse than row j everywhere and better somewhere."""
    le = np.all(Y[:, None, :] <= Y[None, :, :], axis=2)
    lt = np.any(Y[:, None, :] < Y[None, :, :], axis=2)
    return le & lt


def front_ranks(Y: np.ndarray) -> np.ndarray:
    """Non-domination rank of each row: 0 for the Pareto front, 1 for the next, ..."""
    dom = dominates(Y)
    rank = np.full(len(Y), -1)
    left = np.ones(len(Y), dtype=bool)
    r = 0
    while left.any():  # one pass per front, vectorised over points
        front = left & ~dom[left].any(axis=0)  # not dominated by any point still left
        rank[front] = r
        left &= ~front
        r += 1
    return rank


def hypervolume(P: np.ndarray, ref: np.ndarray) -> float:
    """Volume dominated by the rows of P and bounded by ref (minimisation; rows below ref)."""
    P = P[np.all(P < ref, axis=1)]
    if len(P) == 0:
        return 0.0
    if P.shape[1] == 1:
        return float(ref[0] - P[:, 0].min())
    if P.shape[1] == 2:
        P = P[np.argsort(P[:, 0], kind="stable")]
        best_y = np.minimum.accumulate(P[:, 1])
        widths = np.diff(np.append(P[:, 0], ref[0]))
        return float(np.sum(widths * (ref[1] - best_y)))
    P = P[np.argsort(P[:, -1], kind="stable")]  # slice along the last objective
    z = np.append(P[:, -1], ref[-1])
    return float(sum(hypervolume(P[: i + 1, :-1], ref[:-1]) * (z[i + 1] - z[i])
                     for i in range(len(P)) if z[i + 1] > z[i]))


_GRID_LIMIT = 400_000  # cells x points above which 3+ objectives use crowding distance


def spread_scores(F: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """How much each point of a set adds to the front's spread: its exact hypervolume
    contribution (the volume only it dominates; 0 for a dominated point), or for many points
    in 3+ objectives, where that costs too much per ask, the crowding distance of NSGA-II."""
    n, m = F.shape
    if n <= 1:
        return np.ones(n)
    if m > 2 and (n + 1) ** m * n <= _GRID_LIMIT:
        return _grid_contributions(F, ref)
    on_front = front_ranks(F) == 0
    score = np.zeros(n)
    idx = np.flatnonzero(on_front)
    if m == 2:
        order = idx[np.lexsort((F[idx, 1], F[idx, 0]))]
        x, y = F[order, 0], F[order, 1]
        right = np.append(x[1:], ref[0]) - x
        above = np.insert(y[:-1], 0, ref[1]) - y
        score[order] = np.maximum(right, 0) * np.maximum(above, 0)
        return score
    for j in range(m):  # crowding distance on the front
        order = idx[np.argsort(F[idx, j], kind="stable")]
        gap = np.diff(F[order, j])
        span = F[order[-1], j] - F[order[0], j]
        d = np.full(len(order), np.inf)
        if len(order) > 2:
            d[1:-1] = (gap[:-1] + gap[1:]) / (span if span > 0 else 1.0)
        score[order] += d
    finite = np.isfinite(score)
    score[~finite] = 2 * score[finite].max() if finite.any() and score[finite].max() > 0 else 1.0
    return score


def _grid_contributions(F: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Exact exclusive contributions: split the box under ref into the cells that the points'
    coordinates make, and give each cell dominated by exactly one point to that point."""
    n, m = F.shape
    axes = [np.unique(np.append(np.minimum(F[:, j], ref[j]), ref[j])) for j in range(m)]
    lower = np.stack(np.meshgrid(*[a[:-1] for a in axes], indexing="ij"), -1).reshape(-1, m)
    size = np.prod(np.stack(np.meshgrid(*[np.diff(a) for a in axes], indexing="ij"), -1)
                   .reshape(-1, m), axis=1)
    covers = np.all(F[None, :, :] <= lower[:, None, :], axis=2)  # (cells, points)
    alone = covers.sum(axis=1) == 1
    owner = np.argmax(covers[alone], axis=1)
    return np.bincount(owner, weights=size[alone], minlength=n)


def good_mask(Y: np.ndarray, k: int) -> np.ndarray:
    """The k rows of the good group: whole fronts first, the last one cut by `spread_scores`
    (with 2 objectives the point that adds least is dropped, one at a time; with more, the
    points that add most are kept in one pass)."""
    n = len(Y)
    mask = np.zeros(n, dtype=bool)
    if k >= n:
        mask[:] = True
        return mask
    rank = front_ranks(Y)
    counts = np.bincount(rank)
    full = int(np.searchsorted(np.cumsum(counts), k, side="right"))  # fronts that fit whole
    mask[rank < full] = True
    need = k - int(mask.sum())
    if need == 0:
        return mask
    cut = np.flatnonzero(rank == full)
    F, ref = _unit(Y, Y[cut])
    keep = np.arange(len(cut))
    if Y.shape[1] > 2:  # one pass: a score costs milliseconds here, not microseconds
        keep = np.argsort(-spread_scores(F, ref), kind="stable")[:need]
    while len(keep) > need:
        keep = np.delete(keep, int(np.argmin(spread_scores(F[keep], ref))))
    mask[cut[keep]] = True
    return mask


def contribution_weights(Y: np.ndarray, floor: float = 0.1) -> np.ndarray:
    """Kernel weights for the good group: each point's `spread_scores`, relative to the
    largest, at least `floor`.

    A point alone in its part of the front adds much, one among close neighbours little, so
    l(x) does not crowd where the front already has many points (as in MOTPE).
    """
    if len(Y) <= 1:
        return np.ones(len(Y))
    F, ref = _unit(Y, Y)
    score = spread_scores(F, ref)
    if score.max() <= 0:
        return np.ones(len(Y))
    return np.maximum(score / score.max(), floor)


def _unit(Y: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P with every objective scaled to [0, 1] by the range of Y, and the reference 1.1."""
    lo, hi = Y.min(axis=0), Y.max(axis=0)
    return (P - lo) / np.where(hi > lo, hi - lo, 1.0), np.full(Y.shape[1], 1.1)
