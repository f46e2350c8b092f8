"""The good/bad split of finished trials: ties on a plateau take turns in the good group."""


import numpy as np

import tpe_plugins as tp
from tpe_plugins.history import COMPLETE
from tpe_plugins.settings import _Variants


def test_a_plateau_of_tied_best_values_is_explored_not_stalled_on():
    """Ten trials tie for the best value (a plateau, as CV errors on small data give) and the
    good group has room for three. The tied trials take turns in it, so the suggestions cover
    the whole plateau; a stable sort would keep the oldest tied trial there and every
    suggestion next to it (ties="first" shows that)."""
    tied = 0.05 + 0.1 * np.arange(10)

    def plateau_points_visited(ties: str, seed: int) -> int:
        opt = tp.TPE({"x": tp.Float(0, 1)}, seed=seed, constant_liar=False)
        opt._variants = _Variants(ties=ties)  # "first" is a benchmark-only variant
        for x in tied:
            opt.add_trial({"x": float(x)}, 0.0)
        for i in range(20):
            opt.add_trial({"x": (i + 0.5) / 20}, 1.0)
        xs = np.array([opt.ask().params["x"] for _ in range(40)])
        return len(set(np.abs(xs[:, None] - tied).argmin(axis=1)))

    for seed in range(3):
        assert plateau_points_visited("random", seed) >= 8
        assert plateau_points_visited("first", seed) <= 2


def test_the_ranking_reuses_the_last_order_and_stays_the_stable_sort():
    """Each ask ranks the finished trials; when trials only joined since the last ask the last
    order is the sort's hint. With many ties (rounded values), trials finishing out of order
    and a failed trial, every ranking equals a fresh stable sort: best first, oldest first
    among equals."""
    rng = np.random.default_rng(3)
    opt = tp.TPE({"x": tp.Float(0, 1)}, seed=0)
    running = []
    for step in range(120):
        running.append(opt.ask())
        if len(running) < 4:
            continue
        t = running.pop(int(rng.integers(len(running))) if step % 3 else 0)
        if step % 17 == 5:
            opt.tell(t, None)  # a failed trial is not ranked
        else:
            opt.tell(t, round(float(rng.random()), 1))  # ties across the good/bad boundary
        h = opt.history
        finished = h.where(COMPLETE)
        ranked, _, n_judged = opt._order(h, finished, opt._rank_rule)
        assert n_judged == len(finished)
        np.testing.assert_array_equal(ranked, finished[np.argsort(h.y[finished], kind="stable")])
