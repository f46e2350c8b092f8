"""The TPE step: fit l(x) and g(x) on the split observations, pick the best-ratio candidate.

This module is stateless: it reads encoded observations and returns encoded points. Which
trials are good and which bad is decided in `split.py`; the optimiser in `optimizer.py` owns
the history, the random state and the start-up.
"""

from __future__ import annotations

import numpy as np

from tpe_plugins.mass_cache import MassCache
from tpe_plugins.parzen import ParzenEstimator
from tpe_plugins.settings import Settings
from tpe_plugins.space import Space


def concurrent_bandwidth_factor(settings: Settings, n_others: float, n_finished: int) -> float:
    """The bandwidth factor when n_others trials run beside the one being suggested (for a
    batch of n, the pending trials and half the batch: the average a single ask would see).

    Why: the narrow kernels (bandwidth_factor 0.5) that make the sequential search precise make
    concurrent suggestions too greedy: asked before the results of their neighbours are in,
    they pile onto the same few good points. Widening towards Scott's rule (factor 1) as the
    share of running trials grows (fully at half) cut the regret at 8 and 32 workers by a fifth
    and a tenth, level at 64 (benchmarks/parallel.py, held-out seeds); sequential asks (no
    others) are unchanged.
    """
    bf = settings.bandwidth_factor
    share = n_others / max(n_others + n_finished, 1)
    return bf + (max(bf, 1.0) - bf) * min(1.0, settings.pending_widening * share)


def per_dimension(settings: Settings, n_pending: int, n: int) -> bool:
    """Whether l(x) and g(x) are products of per-dimension mixtures for this ask.

    Why "auto" (the default) switches on concurrency: joint kernels keep the sequential search
    precise (a good trial's coordinates stay together), but with trials running beside the ask
    per-dimension mixtures did better at 4 to 64 workers on the tuned problems' held-out seeds,
    the held-out problems and fresh seeds (benchmarks/parallel.py): a suggestion may combine
    coordinates of different good trials, so concurrent asks spread over more of the good
    region instead of repeating its few known points. The points of a batch (n > 1) run side
    by side too: per-dimension batches ended with 0.89x and 0.77x the regret of joint ones in
    batches of 8 and 32 (benchmarks/batch_ask.py).
    """
    if settings.multivariate == "auto":
        return n_pending > 0 or n > 1
    return not settings.multivariate


def age_weights(order: np.ndarray, n_flat: int = 25) -> np.ndarray:
    """hyperopt's ramp: the newest n_flat observations weigh 1, older ones less, by age."""
    n = len(order)
    w = np.ones(n)
    if n > n_flat:
        rank = np.argsort(np.argsort(order))  # 0 = oldest
        ramp = np.linspace(1.0 / n, 1.0, n - n_flat)
        old = rank < n - n_flat
        w[old] = ramp[rank[old]]
    return w


def suggest(space: Space, X_good: np.ndarray, X_bad: np.ndarray, age_good: np.ndarray,
            age_bad: np.ndarray, X_pending: np.ndarray, X_seen: np.ndarray,
            settings: Settings, rng: np.random.Generator, n: int = 1,
            liar: bool = True, good_weights: np.ndarray | None = None,
            constraint_splits: list[tuple[np.ndarray, np.ndarray]] | None = None,
            X_repel: np.ndarray | None = None, age_ramp: bool = False,
            jump_fraction: float = 0.0, g_cache: MassCache | None = None,
            branch_power: float = 1.0) -> np.ndarray:
    """n encoded points from TPE, (n, D).

    X_good, X_bad: the split of the finished trials (see `split.good_and_bad`), with their
    creation indices as ages. X_pending: running trials, the constant liar's lies. X_repel:
    trials stopped at budgets that say little; like lies, narrow kernels in g(x), but they do
    not count as running (no widening, no switch to per-dimension kernels).
    X_seen: every trial so far; a candidate equal to one of them is taken only if no new
    candidate exists (in a batch, a point whose own candidates were all tried takes the best
    new candidate of the whole batch's pool). liar=False: the points of a batch do not repel
    each other. g_cache: g(x)'s truncation masses from earlier asks, by trial id (age_bad).
    good_weights: weights of the good trials' kernels in l(x) (several objectives: their
    hypervolume contributions); default equal. constraint_splits: for c-TPE, per constraint
    the rows that satisfied it and those that did not; each adds its own log l(x) - log g(x).

    A batch fits l(x) and g(x) once. Point j is the best of its own n_candidates draws, as if
    asked alone, with points 0..j-1 added to g(x) as lies: the same narrow kernels a pending
    trial gets. Adding a kernel to g's mixture needs no refit, so ask(64) costs one fit and
    64 small matrix products instead of 64 fits.

    age_ramp, jump_fraction: benchmark-only variants (settings._Variants): hyperopt's age
    weights, and candidates run with one coordinate redrawn (see `_jump`).
    """
    X_repel = X_pending[:0] if X_repel is None else X_repel
    narrow = np.vstack([X_repel, X_pending])
    Xg, Xb = X_good, np.vstack([X_bad, narrow]) if len(narrow) else X_bad
    if age_ramp:
        wg = age_weights(age_good)
        newest = np.full(len(narrow), max(age_good.max(), age_bad.max(initial=0)) + 1)
        wb = age_weights(np.concatenate([age_bad, newest]))
    else:
        wg, wb = np.ones(len(Xg)), np.ones(len(Xb))
    if good_weights is not None:
        wg = wg * good_weights
    kw = dict(prior_weight=settings.prior_weight, min_bandwidth=settings.min_bandwidth,
              bandwidth_factor=concurrent_bandwidth_factor(
                  settings, len(X_pending) + (n - 1) / 2, len(X_good) + len(X_bad)),
              categorical_mass=settings.categorical_mass,
              univariate=per_dimension(settings, len(X_pending), n))
    lx = ParzenEstimator(space, Xg, wg, **kw)
    # A pending point (a lie) repels candidates only in a small neighbourhood: a quarter of the
    # scale at which l(x) attracts them. A lie as wide as g's kernels pushed whole batches out
    # of the good region; in batches of 10 that did worse than no liar at all.
    lies = np.arange(len(Xb) - len(narrow), len(Xb))  # their ids are -1: no cached masses
    ids = np.concatenate([age_bad, np.full(len(narrow), -1)]) if len(narrow) else age_bad
    gx = ParzenEstimator(space, Xb, wb, narrow_rows=lies,
                         narrow_bandwidth=settings.liar_width * lx.bandwidth, **kw,
                         mass_cache=g_cache, ids=ids)

    C, chunks = _candidates(space, lx, settings, rng, n)
    X_run = _jump(space, C, chunks, jump_fraction, rng)  # what a picked row runs as
    # a batch's n x n_candidates rows against every observation: per dimension, read l(x) and
    # g(x) off a grid (within a few 1e-4 in log density; exact sums made ask(64) 6x slower)
    gridded = gx.univariate and n > 1
    log_g = gx.log_pdf_gridded(C) if gridded else gx.log_pdf(C)
    score = (lx.log_pdf_gridded(C) if gridded else lx.log_pdf(C)) - log_g
    for X_ok, X_not in constraint_splits or ():  # c-TPE: one density ratio per constraint
        if len(X_ok) and len(X_not):
            ok = ParzenEstimator(space, X_ok, np.ones(len(X_ok)), **kw)
            score += ok.log_pdf(C) - ParzenEstimator(space, X_not, np.ones(len(X_not)),
                                                     **kw).log_pdf(C)
    liar = liar and n > 1
    if liar:  # the batch's own lies: one kernel per picked candidate, at a pending trial's width
        # (product kernels, also when g(x) is a product of per-dimension mixtures)
        batch_lies = ParzenEstimator(space, X_run, np.ones(len(C)), **kw,
                                     bandwidth=np.minimum(gx.bandwidth, settings.liar_width
                                                          * lx.bandwidth))
        log_mass_g = np.log(wb.sum() + settings.prior_weight) + log_g
        lie_features, lie_width = batch_lies.kernel_inputs(C)  # once for the whole batch
    # a row can repeat a trial only if it has no active continuous coordinate
    continuous = space.kinds == "continuous"
    nan = np.isnan(C[:, continuous])
    repeats = not continuous.any() or (nan.any() and nan.all(axis=1).any())
    picks = np.empty(n, dtype=int)
    for j, rows in enumerate(chunks):
        if repeats:
            tried = np.vstack([X_seen, X_run[picks[:j]]])
            seen = rows_in(X_run[rows], tried)
            if seen.all() and n > 1:  # none of its own is new: the batch's other new ones
                fresh = np.flatnonzero(~rows_in(X_run, tried))
                if len(fresh):
                    rows, seen = fresh, np.zeros(len(fresh), dtype=bool)
        s = score[rows]
        if liar and j:  # g(x) grows by the kernels of the points already picked
            kernels = batch_lies.log_kernels((lie_features[rows], lie_width[rows]), picks[:j])
            peak = kernels.max(axis=1)
            lie = peak + np.log(np.exp(kernels - peak[:, None]).sum(axis=1))
            s = s - np.logaddexp(0.0, lie - log_mass_g[rows])
        if repeats and not seen.all():
            s[seen] = -np.inf
        if len(space.selectors):
            s[~_sample_branch(C[rows], space.selectors, lx, gx, rng, branch_power)] = -np.inf
        picks[j] = rows[int(np.argmax(s))]
    return X_run[picks]


def _candidates(space: Space, lx: ParzenEstimator, settings: Settings,
                rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n sets of n_candidates draws, most from l(x), a few from a 3x widened l(x) and uniform.

    Returns every candidate and (n, n_candidates) row indices of each set.
    """
    n_explore = int(settings.n_candidates * settings.explore_fraction)
    n_wide = n_explore // 2
    n_uniform = n_explore - n_wide
    n_main = settings.n_candidates - n_explore
    parts = [lx.sample(n_main * n, rng)]
    if n_wide:
        parts.append(lx.sample(n_wide * n, rng, widen=3.0))
    if n_uniform:
        parts.append(space.snap(rng.random((n_uniform * n, len(space)))))
    if n == 1:  # the three parts' rows in order
        chunks = np.arange(settings.n_candidates)[None, :]
    else:
        j = np.arange(n)[:, None]
        chunks = np.hstack([j * n_main + np.arange(n_main),
                            n_main * n + j * n_wide + np.arange(n_wide),
                            (n_main + n_wide) * n + j * n_uniform + np.arange(n_uniform)])
    return np.vstack(parts), chunks


def _jump(space: Space, C: np.ndarray, chunks: np.ndarray, fraction: float,
          rng: np.random.Generator) -> np.ndarray:
    """C with one numeric coordinate redrawn uniformly in the first `fraction` of each set's
    draws from l(x). Such a row is still scored where it was drawn, so it is picked as often
    as any other draw, and then it runs with the jump.

    Why: on a slope that the good group has narrowed across (Hartmann3's x0: the value falls
    evenly from x0 = 0.9 to the optimum at 0.1 while x1 and x2 must be exact), the narrow kernels
    only crawl along it, and a candidate far along it scores low because l(x) has no mass
    there. A jump in one coordinate of a point the model likes keeps the others exact. With a
    tenth of the draws, Hartmann3 runs of 100 trials ending more than 0.1 above the optimum
    fell from 8 to 1 of 30 (seeds 0-29) and from 12 to 6 of 40 (seeds 100-139; the rest sit in
    the true local optimum at (0.1, 0.86, 0.57)). It is a benchmark-only variant
    (settings._Variants), not a setting: on the held-out seeds
    of benchmarks/parallel.py the sequential regret rose by a third (Branin 0.003 -> 0.014 of
    random's): a tenth of the trials are spent away from the region that precise problems
    are refining.
    Selecting categoricals never jump, and a one-dimensional row does not (that is random
    search).
    """
    n_jump = int(round(chunks.shape[1] * fraction))
    numeric = space.kinds != "categorical"
    numeric[space.selectors] = False
    if n_jump == 0 or not numeric.any():
        return C
    X = C.copy()
    rows = chunks[:, :n_jump].ravel()
    active = ~np.isnan(X[rows])
    can = active & numeric
    ok = can.any(axis=1) & (active.sum(axis=1) >= 2)  # in one dimension a jump is a random draw
    rows, can = rows[ok], can[ok]
    dims = np.argmax(rng.random(can.shape) * can, axis=1)  # one active numeric coordinate
    u = rng.random(len(rows))
    for d in np.unique(dims):  # a loop over dimensions, not candidates
        X[rows[dims == d], d] = space.snap_dim(d, u[dims == d])
    return X


def _sample_branch(C: np.ndarray, selectors: np.ndarray, lx: ParzenEstimator,
                   gx: ParzenEstimator, rng: np.random.Generator,
                   power: float = 1.0) -> np.ndarray:
    """Mask of the candidates on one branch, drawn with probability proportional to l/g.

    The branch is scored by the marginal ratio over the selecting categoricals alone (an
    inactive dimension's factor of 1 is exactly its marginal). Drawing it, rather than taking
    the best, keeps every branch in play: an argmax over the joint ratio let the sharp numeric
    kernels of the first good branch shut out branches that were not yet explored.
    """
    _, first, which = np.unique(np.nan_to_num(C[:, selectors], nan=-1.0), axis=0,
                                return_index=True, return_inverse=True)
    marginal = np.full((len(first), C.shape[1]), np.nan)  # one row per branch
    marginal[:, selectors] = C[np.ix_(first, selectors)]
    log_ratio = lx.log_pdf(marginal) - gx.log_pdf(marginal)
    if power == np.inf:
        return which.ravel() == np.argmax(log_ratio)
    p = np.exp(power * (log_ratio - log_ratio.max()))
    chosen = rng.choice(len(first), p=p / p.sum())
    return which.ravel() == chosen


def rows_in(C: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Which rows of C equal some row of X, bit for bit (inactive NaNs compare equal)."""
    if len(X) == 0:
        return np.zeros(len(C), dtype=bool)
    width = np.dtype((np.void, C.shape[1] * C.itemsize))
    c = np.ascontiguousarray(C).view(width).ravel()
    x = np.ascontiguousarray(X).view(width).ravel()
    if len(c) <= 8:  # a few rows: compare directly (isin sorts all of X: 3 ms at 10,000 rows)
        return (x[None, :] == c[:, None]).any(axis=1)
    return np.isin(c, x)
