"""A Parzen estimator over an encoded search space.

Each observation is one mixture component: a product of one kernel per dimension, plus a prior
component that is broad in every dimension. With `univariate=True` the density is instead the
product over dimensions of each dimension's own mixture of the same kernels. Numeric kernels
are Gaussians truncated to the unit interval; on a grid (integers, stepped floats) a kernel's
mass is the integral over each grid cell, so all mass lies on valid values. Categorical kernels
are Aitchison-Aitken: a fixed mass on the observed choice and the rest spread evenly. A
dimension inactive in the evaluated point contributes a factor of 1 (its marginal); one
inactive in a component but active in the point contributes the uniform prior (density 1, a
grid cell's width, 1/k for a choice), so that every branch of a conditional space is measured
on the same scale.

Log densities of many points under many components are matrix products, so evaluating hundreds
of candidates against thousands of observations stays cheap.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import ndtr, ndtri

from tpe_plugins import gridded
from tpe_plugins.mass_cache import MassCache
from tpe_plugins.space import Space

_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)
_TABLE_BUDGET = 200_000  # grid cells x components above which a grid uses the density at points
_UNIFORM_STD = np.sqrt(1 / 12)
_EXP32_SIZE = 4096  # arrays of at least this many log terms sum their exponentials in float32
_FAR = 8.5  # in standard deviations: Phi(8.5) == 1.0 and Phi(-8.5) < 2^-56 in float64


class ParzenEstimator:
    """Fit on encoded observations; evaluate `log_pdf` and `sample` in the same encoding.

    All observations share one bandwidth per dimension (Scott's rule, or `bandwidth` when given),
    except `narrow_rows`, whose kernels are no wider than `narrow_bandwidth`.
    """

    def __init__(self, space: Space, X: np.ndarray, weights: np.ndarray, *,
                 prior_weight: float = 1.0, min_bandwidth: float = 0.02,
                 bandwidth_factor: float = 1.0, categorical_mass: float = 0.8,
                 narrow_rows: np.ndarray | None = None, narrow_bandwidth: np.ndarray | None = None,
                 bandwidth: np.ndarray | None = None, univariate: bool = False,
                 mass_cache: MassCache | None = None, ids: np.ndarray | None = None):
        self.space = space
        self._cache, self._ids = mass_cache, ids  # ids: the rows' trial ids, for the cache
        self.univariate = univariate
        m = len(X)
        self.num, self.cat = space.numeric, space.categorical
        self.categorical_mass = categorical_mass

        w_obs = np.asarray(weights, dtype=float)
        w = np.append(w_obs, prior_weight)
        self.log_w = np.log(w / w.sum())
        self.w = np.exp(self.log_w)
        self._cdf: np.ndarray | None = None  # cumulative weights, for sampling
        M = self.n_components = m + 1

        # Numeric kernels, stored one row per dimension (the prior component last in each row):
        # the weight rows of `_build_tables` are then written without transposing. `mu`,
        # `sigma` and `num_active` are (M, numeric dims) views of them.
        Xn = X if len(self.num) == X.shape[1] else X[:, self.num]  # read only
        act = ~np.isnan(Xn)
        self._all_active = bool(act.all())
        muT = np.empty((len(self.num), M))
        muT[:, :m] = Xn.T
        muT[:, m] = 0.5
        if self._all_active:
            self.num_active = np.ones((M, len(self.num)), dtype=bool)  # broadcast_to: slower
        else:
            actT = np.ones((len(self.num), M), dtype=bool)
            actT[:, :m] = act.T
            muT[~actT] = 0.0
            self.num_active = actT.T
        self._muT = muT
        self.mu = muT.T
        if bandwidth is None:
            floor = _floors(space, min_bandwidth)
            bw = _bandwidths(Xn, act, w_obs, prior_weight, bandwidth_factor, self._all_active)
            self.bandwidth = np.minimum(np.maximum(round_bandwidth(bw), floor), 1.0)  # np.clip
        else:
            self.bandwidth = np.asarray(bandwidth, dtype=float)
        # Every kernel has its dimension's shared width except those listed in `_own`: the
        # pending trials' (no wider than the caller's narrow width) and the prior's (1). The
        # prior alone is a slice: the columns are then written without a gather.
        sT = np.empty((len(self.num), M))
        sT[:, :m] = self.bandwidth[:, None]
        self._own: slice | np.ndarray = slice(m, M)
        if narrow_rows is not None:
            narrow_rows = np.arange(m)[narrow_rows]  # indices, also from a boolean mask
            if len(narrow_rows):
                sT[:, narrow_rows] = np.minimum(
                    self.bandwidth, np.asarray(narrow_bandwidth, dtype=float))[:, None]
                self._own = np.append(narrow_rows, m)
        sT[:, m] = 1.0
        self._sT = sT
        self.sigma = sT.T

        # categorical kernels: observed choice index per component, -1 where inactive or prior
        self.cat_obs = np.full((M, len(self.cat)), -2)  # -2 marks the prior
        if len(self.cat):
            Xc = X[:, self.cat]
            self.cat_obs[:m] = np.where(np.isnan(Xc), -1, Xc)

        self._build_tables()

    # ------------------------------------------------------------------ evaluation
    def _build_tables(self) -> None:
        """Split dimensions into those evaluated by matrix products and those by lookup tables."""
        M = self.n_components
        table_dims, tables, cont = [], [], []
        self._grids_by_density = []  # grid dimensions read by density (many components)
        for j, d in enumerate(self.num):
            dim = self.space.dims[d]
            if dim.kind == "discrete" and len(dim.grid) * M <= _TABLE_BUDGET:
                table_dims.append(d)
                tables.append(self._grid_log_mass(j, dim))
            else:
                cont.append(j)
                if dim.kind == "discrete":
                    self._grids_by_density.append(d)
        for j, d in enumerate(self.cat):
            table_dims.append(d)
            tables.append(self._categorical_log_prob(j, self.space.dims[d].n_choices))
        self.cont = np.array(cont, dtype=int)  # positions within self.num
        self.table_dims = table_dims
        C = len(cont)
        self._table_sizes = [len(table) for table in tables]
        start = 3 * C + sum(self._table_sizes)  # rows of W: 3 per continuous dim, the tables

        # Every term of the log kernel is linear in the features [x*x, x, active, one-hot, 1],
        # so (N, M) log kernels are one matrix product of the features with these weights:
        # rows -prec/2, mu*prec, log_norm - mu^2*prec/2 (0 where inactive), the tables, log w.
        W = np.empty((start + 1, M))
        if C:
            every = C == len(self.num)
            mu = self._muT if every else self._muT[self.cont]
            s = self._sT if every else self._sT[self.cont]
            own = self._own  # components without the dimension's shared width
            shared = self.bandwidth[self.cont][:, None]
            # Per-dimension values are computed once and copied along each row; the columns in
            # `own` are computed apart. Each entry is the same expression of the same numbers
            # as computing it on the whole (C, M) array.
            prec = np.empty((C, M))  # 1 / s^2
            prec[:] = 1.0 / shared**2
            prec[:, own] = 1.0 / s[:, own] ** 2
            log_norm = np.empty((C, M))  # -log(s) - log(sqrt(2 pi)) - log(truncation mass)
            log_norm[:] = -np.log(shared) - _LOG_SQRT_2PI
            log_norm[:, own] = -np.log(s[:, own]) - _LOG_SQRT_2PI
            masses = self._log_truncation_masses(mu, s)
            self.log_truncation_mass_cont = masses.T  # (M, C), also read by gridded.py
            log_norm -= masses
            if not self._all_active:
                off = ~self.num_active.T[self.cont]
                prec[off] = 0.0
            np.multiply(prec, -0.5, out=W[:C])
            np.multiply(mu, prec, out=W[C:2 * C])
            per_active = W[2 * C:3 * C]  # log_norm - mu^2 * prec / 2, 0 where inactive
            np.multiply(mu, mu, out=per_active)
            np.multiply(0.5, per_active, out=per_active)
            per_active *= prec
            np.subtract(log_norm, per_active, out=per_active)
            if not self._all_active:
                per_active[off] = 0.0
        start = 3 * C
        for table in tables:
            W[start:start + len(table)] = table
            start += len(table)
        W[start] = self.log_w
        self.weights = W

    def _log_truncation_masses(self, mu: np.ndarray, s: np.ndarray) -> np.ndarray:
        """`_log_truncation_mass` of the continuous block, the shared-width kernels read from
        the cache where one is given (the same numbers, most of them computed on earlier asks)."""
        if self._cache is None or self._ids is None:
            return _log_truncation_mass(mu, s)
        out = np.empty_like(mu)
        if isinstance(self._own, slice):  # only the prior (last) has its own width
            cols = slice(0, self.n_components - 1)
            out[:, -1] = _PRIOR_LOG_MASS
        else:
            shared = np.ones(self.n_components, dtype=bool)
            shared[self._own] = False
            cols = shared.nonzero()[0]
            out[:, self._own] = _log_truncation_mass(mu[:, self._own], s[:, self._own])
        out[:, cols] = self._cache.log_masses(self.num[self.cont], self._ids[cols], mu[:, cols],
                                              self.bandwidth[self.cont], _log_truncation_mass)
        return out

    @functools.cached_property
    def dim_rows(self) -> list[np.ndarray]:
        """Rows of self.weights (and columns of the features) that belong to each dimension:
        the continuous ones, then the tables (read only per dimension: univariate, gridded)."""
        C = len(self.cont)
        rows = [np.array([c, C + c, 2 * C + c]) for c in range(C)]
        start = 3 * C
        for size in self._table_sizes:
            rows.append(np.arange(start, start + size))
            start += size
        return rows

    def _grid_log_mass(self, j: int, dim) -> np.ndarray:
        """(K, M) log mass of each grid cell under each component's truncated Gaussian."""
        mu, s = self.mu[:, j], self.sigma[:, j]
        cdf = ndtr((dim.edges[:, None] - mu) / s)  # each edge once: cells share their edges
        lo, hi = cdf[:-1], cdf[1:]
        if dim.edges[0] == 0.0 and dim.edges[-1] == 1.0:
            total = cdf[-1] - cdf[0]
        else:
            total = ndtr((1 - mu) / s) - ndtr(-mu / s)
        mass = np.maximum(hi - lo, 1e-300) / total
        # a component without this dimension gives the uniform prior's mass: its marginal
        uniform = np.diff(dim.edges)[:, None]
        return np.log(np.where(self.num_active[:, j], mass, uniform))

    def _categorical_log_prob(self, j: int, k: int) -> np.ndarray:
        """(K, M) Aitchison-Aitken log probabilities; the prior and inactive components are
        uniform, so a branch that the good group never took is not favoured over one it took."""
        obs = self.cat_obs[:, j]
        if k == 1:
            return np.zeros((1, len(obs)))
        hit, miss = np.log(self.categorical_mass), np.log((1 - self.categorical_mass) / (k - 1))
        table = np.where(np.arange(k)[:, None] == obs, hit, miss)
        table[:, (obs == -2) | (obs == -1)] = -np.log(k)  # prior, or inactive: uniform
        return table

    def _features(self, X: np.ndarray) -> np.ndarray:
        """The rows' features matching `self.weights`; inactive dimensions give zeros."""
        Xn = X[:, self.num[self.cont]]
        act = ~np.isnan(Xn)
        x = np.where(act, Xn, 0.0)
        blocks = [x * x, x, act]
        for d in self.table_dims:
            dim = self.space.dims[d]
            k = dim.n_choices if dim.kind == "categorical" else len(dim.grid)
            blocks.append(self._cell_index(d, X[:, d])[:, None] == np.arange(k))
        blocks.append(np.ones((len(X), 1)))
        return np.hstack(blocks, dtype=float)

    def _cell_index(self, d: int, col: np.ndarray) -> np.ndarray:
        """Index of each value's choice or grid cell in table dimension d; -1 where inactive."""
        dim = self.space.dims[d]
        off = np.isnan(col)
        if dim.kind == "categorical":
            idx = np.where(off, -1, np.nan_to_num(col)).astype(int)
        else:
            idx = np.searchsorted(dim.grid, col - 1e-9)
        return np.where(off, -1, idx)

    def component_log_pdf(self, X: np.ndarray) -> np.ndarray:
        """(N, M) log of weight times kernel, for each point and each component."""
        return self._features(X) @ self.weights

    def log_pdf(self, X: np.ndarray) -> np.ndarray:
        """Log density (log mass on grids and categories) of each encoded row of X.

        Univariate: the product over dimensions of each dimension's own mixture (optuna's
        default, hyperopt's only form), instead of one mixture of products.
        """
        if not self.univariate:
            return _log_sum_exp(self.component_log_pdf(X)) + self._log_cell_width(X)
        F = self._features(X)
        out = self._log_cell_width(X)
        for rows in self.dim_rows:  # a loop over dimensions, not points or components
            out += _log_sum_exp(F[:, rows] @ self.weights[rows] + self.log_w)
        return out

    def log_pdf_gridded(self, X: np.ndarray) -> np.ndarray:
        """`log_pdf` of a per-dimension estimator for many rows at once, each dimension's
        mixture read off a grid (within a few 1e-4; see gridded.py)."""
        return gridded.log_pdf_gridded(self, X)

    def kernel_inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What `log_kernels` reads of the rows of X, for a caller that asks about the same rows
        many times (a batch's lies): their features and log cell widths."""
        return self._features(X), self._log_cell_width(X)

    def log_kernels(self, inputs: tuple[np.ndarray, np.ndarray],
                    components: np.ndarray) -> np.ndarray:
        """(N, K) log density of each row under each listed component's kernel alone
        (unweighted), on the same scale as `log_pdf`; inputs: `kernel_inputs` of the rows."""
        features, log_width = inputs
        out = features @ self.weights[:, components] - self.log_w[components]
        return out + log_width[:, None]

    def _log_cell_width(self, X: np.ndarray) -> np.ndarray:
        """A grid read by density, not by table, still gives a mass: density x cell width."""
        out = np.zeros(len(X))
        for d in self._grids_by_density:
            out += np.log(_cell_width(self.space.dims[d], X[:, d]))
        return out

    # ------------------------------------------------------------------ sampling
    def _draw_components(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """Component indices drawn by weight: the draws `rng.choice(M, size, p=w)` makes (its
        cumulative weights, one uniform per index), without its checks of p, which cost four
        times the draw."""
        if self._cdf is None:
            self._cdf = np.cumsum(self.w)
            self._cdf /= self._cdf[-1]
        return self._cdf.searchsorted(rng.random(shape), side="right")

    def sample(self, n: int, rng: np.random.Generator, widen: float = 1.0) -> np.ndarray:
        """n encoded rows drawn from the mixture; `widen` scales every numeric bandwidth."""
        D = len(self.space)
        # one component per row, or (univariate) one per row and dimension
        comp = self._draw_components((n, D if self.univariate else 1), rng)
        U = np.empty((n, D))
        if len(self.num):
            c, j = comp[:, self.num if self.univariate else [0]], np.arange(len(self.num))
            mu = self.mu[c, j]
            s = np.minimum(self.sigma[c, j] * widen, 1.0)
            act = self.num_active[c, j]
            U[:, self.num] = np.where(act, _truncnorm(mu, s, rng), rng.random(mu.shape))
        for j, d in enumerate(self.cat):
            k = self.space.dims[d].n_choices
            obs = self.cat_obs[comp[:, d if self.univariate else 0], j]
            keep = (obs >= 0) & (rng.random(n) < self.categorical_mass)
            other = (np.maximum(obs, 0) + 1 + rng.integers(0, max(k - 1, 1), n)) % k
            uniform = rng.integers(0, k, n)
            idx = np.where(obs >= 0, np.where(keep, obs, other), uniform)
            U[:, d] = (idx + 0.5) / k
        return self.space.snap(U)


def round_bandwidth(bw: np.ndarray) -> np.ndarray:
    """bw rounded to the nearest power of 2^(1/128), at most 0.3% away: a bandwidth that stays
    put while the history grows lets `MassCache` reuse its kernels' truncation masses."""
    return np.exp2(np.round(np.log2(bw) * 128) / 128)


def _log_sum_exp(a: np.ndarray) -> np.ndarray:
    """log(sum(exp(a), axis=1)) without overflow; `a` is overwritten.

    Large arrays take their exponentials in float32: a third of the time of float64's (numpy
    without AVX-512), where g(x)'s thousands of components made them the largest cost of an
    ask. After the peak is subtracted every term is at most 1 and the largest is 1, so the
    result is within 1e-7 of the float64 one (benchmarks/trajectory_md5.py: no suggestion
    changed). Small mixtures, whose cost is not in exp, stay exact to float64."""
    peak = a.max(axis=1, keepdims=True)
    a -= peak
    if a.size < _EXP32_SIZE:
        np.exp(a, out=a)
        return np.log(a.sum(axis=1)) + peak[:, 0]
    e = np.exp(a.astype(np.float32))
    return np.log(e.sum(axis=1, dtype=np.float64)) + peak[:, 0]


def _truncnorm(mu: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inverse-CDF draws from N(mu, s) truncated to [0, 1]."""
    a, b = ndtr(-mu / s), ndtr((1 - mu) / s)
    u = a + rng.random(mu.shape) * (b - a)
    x = mu + s * ndtri(np.minimum(np.maximum(u, 1e-300), 1 - 1e-16))  # np.clip, cheaper
    return np.minimum(np.maximum(x, 0.0), 1.0)


def _log_truncation_mass(mu: np.ndarray, s: np.ndarray) -> np.ndarray:
    """log(Phi((1-mu)/s) - Phi(-mu/s)); at least half the mass is inside for centres in [0, 1].

    The same operations as that expression, in two buffers. Where most of Phi's values are
    known, only the rest are computed: from _FAR standard deviations above the upper edge Phi
    is exactly 1.0 in float64, and a lower edge _FAR below the centre takes off less than
    2^-56, which leaves a mass of at least 0.5 unchanged in float64.
    """
    hi = np.subtract(1.0, mu)
    hi /= s
    lo = np.negative(mu)
    lo /= s
    _ndtr_where_unknown(hi, hi >= _FAR, 1.0)
    _ndtr_where_unknown(lo, (lo <= -_FAR) & (hi >= 0.5), 0.0)  # hi: Phi(hi) by now
    hi -= lo
    return np.log(hi, out=hi)


def _ndtr_where_unknown(x: np.ndarray, known: np.ndarray, value: float) -> None:
    """x = ndtr(x) in place, where `known` marks entries whose result is `value` exactly.

    Picking the unknown entries out and back costs about 60 instructions per entry of x
    against about 150 per ndtr saved (callgrind), so only a majority known is skipped;
    otherwise every entry is computed (the known ones come out as `value` anyway).
    """
    if np.count_nonzero(known) * 2 <= x.size:
        ndtr(x, out=x)
        return
    unknown = ~known
    x[unknown] = ndtr(x[unknown])
    x[known] = value


# the prior's kernel, N(0.5, 1) in every dimension, has this log mass in [0, 1]
_PRIOR_LOG_MASS = float(_log_truncation_mass(np.array([0.5]), np.array([1.0]))[0])


def _bandwidths(Xn: np.ndarray, act: np.ndarray, w: np.ndarray, prior_weight: float,
                factor: float, all_active: bool = False) -> np.ndarray:
    """Scott-style bandwidth per numeric dimension, the prior counted as one uniform point.

    Counting the prior keeps a group of one or two observations from collapsing to the floor.
    """
    if Xn.shape[1] == 0:
        return np.zeros(0)
    if all_active and (w == 1.0).all():
        # every weight-and-activity factor below is exactly 1.0: the same sums, fewer passes;
        # as products with a ones vector (BLAS), 8x faster than numpy's row-by-row sum over
        # axis 0. The order of the additions differs, by about 1e-16 of the value, which the
        # bandwidth's rounding to 2^(1/128) steps absorbs (same suggestions, trajectory md5)
        n = np.full(Xn.shape[1], float(len(Xn)))
        ones = np.ones(len(Xn))
        mean = (ones @ Xn) / np.maximum(n, 1e-12)
        dev = Xn - mean
        np.multiply(dev, dev, out=dev)
        ss = ones @ dev
        count = np.full(Xn.shape[1], len(Xn) + 1)
    else:
        wa = w[:, None] * act
        n = wa.sum(axis=0)
        x = np.where(act, Xn, 0.0)
        mean = (wa * x).sum(axis=0) / np.maximum(n, 1e-12)
        ss = (wa * (x - mean) ** 2).sum(axis=0)
        count = act.sum(axis=0) + 1
    spread = np.sqrt((ss + prior_weight * _UNIFORM_STD**2) / (n + prior_weight))
    return factor * spread * count ** (-1.0 / (Xn.shape[1] + 4))


def _floors(space: Space, min_bandwidth: float) -> np.ndarray:
    """Smallest bandwidth of each numeric dimension: a fraction of the range, never below half
    a (mean) grid cell."""
    cells = space.grid_sizes[space.numeric]
    return np.where(cells > 0, np.maximum(min_bandwidth, 0.5 / np.maximum(cells, 1)),
                    min_bandwidth)


def _cell_width(dim, col: np.ndarray) -> np.ndarray:
    """Width of the grid cell each value falls in (1 for continuous or inactive dimensions)."""
    if dim.kind != "discrete":
        return np.ones(len(col))
    idx = np.clip(np.searchsorted(dim.edges, np.nan_to_num(col), side="right") - 1, 0,
                  len(dim.grid) - 1)
    return np.where(np.isnan(col), 1.0, np.diff(dim.edges)[idx])
