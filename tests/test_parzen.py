"""Parzen estimators: samples stay valid, densities integrate to one, conditions hold."""

import numpy as np
import pytest
from scipy.integrate import quad

import tpe_plugins as tp
from tpe_plugins.parzen import ParzenEstimator
from tpe_plugins.space import Space


def fit(spec, n=8, seed=0, **kw):
    space = Space(spec)
    X = space.snap(np.random.default_rng(seed).random((n, len(space))))
    return space, ParzenEstimator(space, X, np.ones(n), **kw)


def test_continuous_density_integrates_to_one():
    space, pe = fit({"x": tp.Float(-3.0, 7.0)}, n=5)
    total, _ = quad(lambda u: np.exp(pe.log_pdf(np.array([[u]])))[0], 0, 1, limit=200)
    assert abs(total - 1) < 1e-6


def test_grid_mass_sums_to_one():
    space, pe = fit({"i": tp.Int(2, 9)}, n=6)
    grid = space.dims[0].grid[:, None]
    assert abs(np.exp(pe.log_pdf(grid)).sum() - 1) < 1e-9
    space, pe = fit({"w": tp.Int(1, 64, log=True)}, n=6)
    grid = space.dims[0].grid[:, None]
    assert abs(np.exp(pe.log_pdf(grid)).sum() - 1) < 1e-9


def test_joint_mass_over_mixed_space_sums_to_one():
    spec = {"c": tp.Categorical(["a", "b", "c"]), "i": tp.Int(0, 4), "q": tp.Float(0, 1, step=0.25)}
    space, pe = fit(spec, n=7)
    g0, g1 = space.dims[1].grid, space.dims[2].grid
    pts = np.array([[c, a, b] for c in range(3) for a in g0 for b in g1], dtype=float)
    assert abs(np.exp(pe.log_pdf(pts)).sum() - 1) < 1e-9


def test_samples_stay_in_bounds_and_on_the_grid():
    spec = {"x": tp.Float(0, 1), "i": tp.Int(0, 10, step=2), "c": tp.Categorical([1, 2, 3])}
    space, pe = fit(spec, n=20, seed=1)
    S = pe.sample(5000, np.random.default_rng(0), widen=3.0)
    assert np.all((S[:, 0] >= 0) & (S[:, 0] <= 1))
    assert set(np.round(S[:, 1], 12)) <= set(np.round(space.dims[1].grid, 12))
    assert set(S[:, 2]) <= {0.0, 1.0, 2.0}


def test_samples_concentrate_near_observations():
    space = Space({"x": tp.Float(0, 1)})
    X = np.full((30, 1), 0.8)
    pe = ParzenEstimator(space, X, np.ones(30), min_bandwidth=0.02)
    S = pe.sample(4000, np.random.default_rng(0))[:, 0]
    assert np.mean(np.abs(S - 0.8) < 0.1) > 0.8


def test_categorical_kernel_puts_its_mass_on_the_observed_choice():
    space = Space({"c": tp.Categorical(list("abcd"))})
    pe = ParzenEstimator(space, np.array([[2.0]]), np.ones(1), prior_weight=1e-9,
                         categorical_mass=0.8)
    probs = np.exp(pe.log_pdf(np.arange(4.0)[:, None]))
    np.testing.assert_allclose(probs, [0.2 / 3, 0.2 / 3, 0.8, 0.2 / 3], rtol=1e-6)


def test_inactive_dimensions_do_not_leak_into_samples():
    spec = {"m": tp.Categorical([{"t": "a", "u": tp.Float(0, 1)},
                                 {"t": "b", "v": tp.Int(1, 9)}])}
    space, pe = fit(spec, n=10)
    S = pe.sample(1000, np.random.default_rng(0))
    is_a = S[:, 0] == 0
    assert np.all(np.isnan(S[is_a, 2])) and np.all(~np.isnan(S[is_a, 1]))
    assert np.all(np.isnan(S[~is_a, 1])) and np.all(~np.isnan(S[~is_a, 2]))
    assert np.all(np.isfinite(pe.log_pdf(S)))


def test_univariate_density_is_the_product_of_each_dimensions_own_mixture():
    spec = {"c": tp.Categorical(["a", "b", "c"]), "i": tp.Int(0, 4), "x": tp.Float(0, 1)}
    space, pe = fit(spec, n=7, univariate=True)
    _, joint = fit(spec, n=7)
    X = space.snap(np.random.default_rng(1).random((50, 3)))
    X_fit = space.snap(np.random.default_rng(0).random((7, 3)))
    total = np.zeros(len(X))
    for d, (name, dim) in enumerate(spec.items()):
        one = Space({name: dim})
        numeric = list(np.flatnonzero(space.kinds != "categorical"))
        bandwidth = pe.bandwidth[[numeric.index(d)]] if d in numeric else np.zeros(0)
        total += ParzenEstimator(one, X_fit[:, [d]], np.ones(7),
                                 bandwidth=bandwidth).log_pdf(X[:, [d]])
    assert np.allclose(pe.log_pdf(X), total)
    assert not np.allclose(joint.log_pdf(X), total)  # the default is one mixture of products
    g0 = space.dims[1].grid
    x = np.linspace(0, 1, 2001)
    pts = np.array([[c, a, u] for c in range(3) for a in g0 for u in x], dtype=float)
    mass = np.exp(pe.log_pdf(pts)).reshape(3 * len(g0), len(x))
    assert abs(np.trapezoid(mass, x, axis=1).sum() - 1) < 1e-4


def test_gridded_univariate_density_matches_the_exact_sum():
    spec = {"c": tp.Categorical(["a", "b", "c"]), "i": tp.Int(0, 4), "x": tp.Float(0, 1),
            "big": tp.Int(0, 100_000), "lr": tp.Float(1e-5, 1, log=True),
            "s": tp.Float(0, 10, step=0.5)}
    space = Space(spec)
    rng = np.random.default_rng(0)
    X = space.snap(rng.random((400, len(space))))
    X[rng.random(400) < 0.2, 2] = np.nan  # components without "x", as in a conditional space
    C = np.vstack([X[:100], space.snap(rng.random((900, len(space))))])
    C[rng.random(1000) < 0.3, 2] = np.nan
    for kw in ({}, {"bandwidth": np.full(5, 0.02)}):  # Scott's rule; the floor
        pe = ParzenEstimator(space, X, np.ones(400), univariate=True, bandwidth_factor=0.5,
                             narrow_rows=np.arange(390, 400),  # running trials' narrow lies
                             narrow_bandwidth=np.full(5, 0.005), **kw)
        assert np.abs(pe.log_pdf_gridded(C) - pe.log_pdf(C)).max() < 5e-4
    with pytest.raises(ValueError, match="per-dimension"):
        fit(spec)[1].log_pdf_gridded(C)


def test_univariate_samples_combine_coordinates_of_different_observations():
    space = Space({"x": tp.Float(0, 1), "y": tp.Float(0, 1)})
    X = np.array([[0.1, 0.1], [0.9, 0.9]])
    rng = np.random.default_rng(0)
    kw = dict(prior_weight=1e-6, bandwidth=np.array([0.02, 0.02]))
    joint = ParzenEstimator(space, X, np.ones(2), **kw).sample(2000, rng)
    apart = ParzenEstimator(space, X, np.ones(2), univariate=True, **kw).sample(2000, rng)
    mixed = lambda S: np.mean((S[:, 0] < 0.5) != (S[:, 1] < 0.5))  # noqa: E731
    assert mixed(joint) < 0.01  # a component keeps both coordinates of its observation
    assert 0.4 < mixed(apart) < 0.6  # each coordinate picks its own observation
    assert abs(np.mean(apart[:, 0] < 0.5) - 0.5) < 0.05  # the marginals are unchanged


def test_cached_truncation_masses_give_the_same_densities_as_a_fresh_fit():
    """An optimiser keeps g(x)'s truncation masses between asks (MassCache): the densities it
    then computes must be bit for bit those of a fit from scratch, while the group changes
    (trials join, one leaves, a bandwidth moves) and with narrow kernels beside them."""
    from tpe_plugins.mass_cache import MassCache

    space = Space({"x": tp.Float(0, 1), "y": tp.Float(-2, 2), "k": tp.Categorical(list("abc")),
                   "m": tp.Categorical([{"u": tp.Float(0, 1)}, {"v": tp.Float(1, 9)}])})
    rng = np.random.default_rng(3)
    X = space.snap(rng.random((400, len(space))))
    C = space.snap(rng.random((50, len(space))))
    cache = MassCache(len(space))
    for n in (60, 61, 62, 200, 201, 400):
        ids = np.delete(np.arange(n), n // 3)  # one trial left the group
        lies = X[rng.integers(0, n, 3)]
        rows = np.vstack([X[ids], lies])
        kw = dict(narrow_rows=np.arange(len(ids), len(rows)), narrow_bandwidth=np.full(4, 0.01))
        fresh = ParzenEstimator(space, rows, np.ones(len(rows)), **kw)
        cached = ParzenEstimator(space, rows, np.ones(len(rows)), **kw, mass_cache=cache,
                                 ids=np.concatenate([ids, [-1, -1, -1]]))
        assert np.array_equal(cached.weights, fresh.weights)
        assert np.array_equal(cached.log_pdf(C), fresh.log_pdf(C))
    assert not np.isnan(cache._mass).all()  # it did keep masses


def test_bandwidths_are_rounded_to_fixed_steps_within_a_third_of_a_percent():
    from tpe_plugins.parzen import round_bandwidth

    bw = np.random.default_rng(0).uniform(0.01, 1.0, 1000)
    rounded = round_bandwidth(bw)
    assert np.abs(rounded / bw - 1).max() < 0.0028
    assert len(np.unique(round_bandwidth(np.linspace(0.100, 0.1005, 50)))) <= 2


def test_a_large_mixture_gives_the_exact_density_to_1e_6():
    # g(x) with thousands of kernels sums its exponentials in float32 (parzen._log_sum_exp);
    # its log density must still match the float64 sum over the kernels
    space, pe = fit({f"x{i}": tp.Float(0.0, 1.0) for i in range(4)}, n=3000, seed=1)
    X = space.snap(np.random.default_rng(2).random((40, 4)))
    kernels = pe.component_log_pdf(X)  # (40, 3001): log weight + log kernel
    assert kernels.size >= 4096  # the float32 path
    peak = kernels.max(axis=1)
    exact = peak + np.log(np.exp(kernels - peak[:, None]).sum(axis=1))
    assert np.abs(pe.log_pdf(X) - exact).max() < 1e-6
    # and a one-dimensional mixture of 5,000 kernels still integrates to one
    marginal = fit({"x": tp.Float(0.0, 1.0)}, n=5000, seed=3)[1]
    total, _ = quad(lambda u: np.exp(marginal.log_pdf(np.full((2, 1), u)))[0], 0, 1, limit=200)
    assert abs(total - 1) < 1e-6
