"""Several objectives: Pareto fronts, hypervolume, and the good group of a multi-objective TPE.

Values are in minimisation sign, one column per objective. The good group is filled front by
front (non-domination rank); the front that does not fit whole is cut by hypervolume
contribution, as in MOTPE (Ozaki et al., 2020): the point that adds least to the volume the
front dominates is dropped, one at a time, so the kept points stay spread along the front.
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


def good_mask(Y: np.ndarray, k: int) -> np.ndarray:
    """The k rows of the good group: whole fronts first, the last one cut by hypervolume."""
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
    lo, hi = Y.min(axis=0), Y.max(axis=0)
    scale = np.where(hi > lo, hi - lo, 1.0)
    F = (Y[cut] - lo) / scale  # every objective on [0, 1]; the reference point at 1.1
    ref = np.full(Y.shape[1], 1.1)
    keep = list(range(len(cut)))
    while len(keep) > need:  # drop the point whose loss costs the least volume
        total = hypervolume(F[keep], ref)
        loss = [total - hypervolume(F[keep[:j] + keep[j + 1:]], ref) for j in range(len(keep))]
        keep.pop(int(np.argmin(loss)))
    mask[cut[keep]] = True
    return mask


def contribution_weights(Y: np.ndarray, floor: float = 0.1) -> np.ndarray:
    """Kernel weights for the good group: each point's hypervolume contribution (the volume
    only it dominates, objectives scaled to [0, 1]), relative to the largest, at least `floor`.

    A point alone in its part of the front contributes much, one among close neighbours
    little, so l(x) does not crowd where the front already has many points (as in MOTPE).
    """
    if len(Y) <= 1:
        return np.ones(len(Y))
    lo, hi = Y.min(axis=0), Y.max(axis=0)
    F = (Y - lo) / np.where(hi > lo, hi - lo, 1.0)
    ref = np.full(Y.shape[1], 1.1)
    total = hypervolume(F, ref)
    rest = np.arange(len(F))
    contrib = np.array([total - hypervolume(F[rest != j], ref) for j in range(len(F))])
    if contrib.max() <= 0:
        return np.ones(len(Y))
    return np.maximum(contrib / contrib.max(), floor)
