"""Truncation masses of g(x)'s kernels, kept from one ask to the next.

A numeric kernel is a Gaussian truncated to [0, 1]; its normalising mass needs two normal CDFs
per dimension and observation. With thousands of observations in g(x) that was half the time
of an ask (10,000 trials in 10-d), and from one ask to the next almost none of it changes: one
trial joins, and the shared bandwidth moves by about 1/n. Bandwidths are therefore rounded to
steps of 2^(1/128) (`parzen.round_bandwidth`; at most 0.3% off Scott's rule), so that a
dimension keeps its bandwidth over many asks and each observation's mass is computed once per
bandwidth. Entries are exactly what a fresh computation gives: the cache changes speed, never a
suggestion. It is derived data: a restored optimiser starts with an empty one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class MassCache:
    """log truncation mass per (trial id, dimension), valid for the bandwidth stored with it;
    NaN where not known (a mass is at least 0.5 in [0, 1], so its log is never NaN).

    Stored one row per trial id, so that reading a group is a gather of whole rows."""

    def __init__(self, n_dims: int):
        self._bandwidth = np.full(n_dims, np.nan)  # the bandwidth each column was computed at
        self._mass = np.empty((0, n_dims))

    def log_masses(self, dims: np.ndarray, ids: np.ndarray, mu: np.ndarray,
                   bandwidth: np.ndarray,
                   compute: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """(len(dims), len(ids)) log masses of kernels centred at mu (same shape), all with
        their dimension's `bandwidth`; `compute(mu, s)` (elementwise) fills what is missing."""
        if len(ids) and ids.max() >= len(self._mass):
            self._grow(int(ids.max()) + 1)
        moved = self._bandwidth[dims] != bandwidth
        if moved.any():
            self._mass[:, dims[moved]] = np.nan
            self._bandwidth[dims[moved]] = bandwidth[moved]
        every = len(dims) == self._mass.shape[1] and np.array_equal(dims, np.arange(len(dims)))
        # np.take: a third of the time of fancy indexing for a gather of whole rows
        out = np.take(self._mass, ids, axis=0)
        if not every:
            out = out[:, dims]
        missing = np.isnan(out)
        if missing.any():
            # flatnonzero and divmod: a seventh of the time of a 2-d nonzero
            rows, cols = np.divmod(np.flatnonzero(missing), missing.shape[1])
            fresh = compute(mu[cols, rows], bandwidth[cols])
            out[rows, cols] = fresh
            self._mass[ids[rows], dims[cols]] = fresh
        return out.T

    def _grow(self, size: int) -> None:
        size = max(size, 2 * len(self._mass), 64)
        old, n_dims = self._mass.shape
        mass = np.full((size, n_dims), np.nan)
        mass[:old] = self._mass
        self._mass = mass
