"""Per-dimension (univariate) Parzen densities of many points at once, read off a grid.

Why: the exact per-dimension form costs one pass over (points x components) per dimension; for
a batch (ask(64): 1,536 candidates against 1,000 observations in 10-d) that was 94 ms against
13 ms for the joint form. Here each continuous dimension's kernels that share its bandwidth
are binned linearly onto `GRID` points and convolved with the Gaussian by one FFT for all
dimensions together; the prior and the narrow kernels of running trials are summed exactly; a
table dimension (choices, small grids) is summed once per cell. Log densities differ from the
exact `ParzenEstimator.log_pdf` by at most a few 1e-4 (tests/test_parzen.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import fft

if TYPE_CHECKING:
    from tpe_plugins.parzen import ParzenEstimator

GRID = 2049  # points of the grid on which each dimension's mixture is summed
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def log_pdf_gridded(pe: ParzenEstimator, X: np.ndarray) -> np.ndarray:
    """`pe.log_pdf(X)` of a per-dimension estimator, each continuous dimension's mixture
    summed on a grid."""
    if not pe.univariate:
        raise ValueError("log_pdf_gridded needs a per-dimension (univariate) estimator")
    out = pe._log_cell_width(X)
    if len(pe.cont):
        k = pe.cont  # positions within pe.num
        x = X[:, pe.num[k]]
        on = ~np.isnan(x)
        x = np.where(on, x, 0.0)
        act = np.asarray(pe.num_active)[:, k]
        shared = act & (pe.sigma[:, k] == pe.bandwidth[k])
        exact = act & ~shared  # the prior, and the narrow kernels of running trials
        dens = np.broadcast_to(pe.w @ ~act, x.shape).copy()  # components without the dim: 1
        dens += _smoothed(pe, k, shared, x)
        dens += _exact_sum(pe, exact, x)
        out += np.where(on, np.log(np.where(on, dens, 1.0)), 0.0).sum(axis=1)
    for rows, d in zip(pe.dim_rows[len(pe.cont):], pe.table_dims, strict=True):
        mix = _log_sum_exp_rows(pe.weights[rows] + pe.log_w)  # one value per cell or choice
        idx = pe._cell_index(d, X[:, d])
        on = idx >= 0
        out[on] += mix[idx[on]]
    return out


def _smoothed(pe: ParzenEstimator, k: np.ndarray, shared: np.ndarray,
              x: np.ndarray) -> np.ndarray:
    """(N, C) densities at x of each dimension's shared-bandwidth kernels: binned onto the
    grid, convolved with the dimension's Gaussian (one batched FFT), read by linear
    interpolation."""
    n_dims = len(k)
    bw = pe.bandwidth[k]
    mass = np.where(shared, pe.w[:, None] * np.exp(-pe.log_truncation_mass_cont), 0.0)
    pos = pe.mu[:, k] * (GRID - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, GRID - 2)
    frac = pos - lo
    base = np.arange(n_dims) * GRID  # dimension c's cells start at c * GRID
    binned = (np.bincount((lo + base).ravel(), (mass * (1 - frac)).ravel(), n_dims * GRID)
              + np.bincount((lo + 1 + base).ravel(), (mass * frac).ravel(), n_dims * GRID))
    t = np.linspace(-1.0, 1.0, 2 * GRID - 1)[None, :] / bw[:, None]
    kernel = np.exp(-0.5 * t * t - _LOG_SQRT_2PI) / bw[:, None]
    # A circular convolution of 2 GRID - 1 points is the linear one at the outputs read
    # (GRID - 1 to 2 GRID - 2): no offset between a cell and an output wraps around.
    size = fft.next_fast_len(2 * GRID - 1, real=True)
    full = fft.irfft(fft.rfft(binned.reshape(n_dims, GRID), size)
                     * fft.rfft(kernel, size), size)
    grid = np.maximum(full[:, GRID - 1:2 * GRID - 1], 0.0)
    at = x * (GRID - 1)
    i = np.clip(np.floor(at).astype(int), 0, GRID - 2)
    f = at - i
    c = np.arange(n_dims)[None, :]
    return grid[c, i] * (1 - f) + grid[c, i + 1] * f


def _exact_sum(pe: ParzenEstimator, exact: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(N, C) densities at x of the kernels that do not share their dimension's bandwidth,
    from the same log-kernel weights as `log_pdf` (features x*x, x, 1)."""
    comps = np.flatnonzero(exact.any(axis=1))
    n_cont = x.shape[1]
    if len(comps) == 0:
        return np.zeros_like(x)
    W = pe.weights[:3 * n_cont, comps]  # rows: -prec/2, mu*prec, the rest; per dimension
    log_k = (x[:, :, None] ** 2 * W[None, :n_cont] + x[:, :, None] * W[None, n_cont:2 * n_cont]
             + W[None, 2 * n_cont:] + pe.log_w[comps])
    return (np.exp(log_k) * exact[comps].T[None]).sum(axis=2)


def _log_sum_exp_rows(a: np.ndarray) -> np.ndarray:
    peak = a.max(axis=1, keepdims=True)
    return np.log(np.exp(a - peak).sum(axis=1)) + peak[:, 0]
