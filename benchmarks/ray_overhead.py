"""Searcher overhead in Ray Tune: time spent in `suggest` + `on_trial_complete` per trial.

TPESearch, HyperOptSearch and OptunaSearch each get the same Tune space through
`set_search_properties` (as tune.run does) and run `--trials` trials through the Searcher API
in a plain loop, without Tune, so only the searcher's own time is measured. The objective is a
cheap function of the config and is not timed.

    python benchmarks/ray_overhead.py              # 1000 trials
    python benchmarks/ray_overhead.py --quick      # 200 trials
    python benchmarks/ray_overhead.py --concurrent 8,64 --searchers TPESearch
                                                   # 8 and 64 trials pending at all times

Writes benchmarks/results/ray_overhead.md (ray_overhead_concurrent.md with --concurrent).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402
from ray.tune.search.hyperopt import HyperOptSearch  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402
from report import machine  # noqa: E402

from tpe_plugins.integrations.ray_tune import TPESearch  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

SPACE = {
    "lr": tune.loguniform(1e-5, 1e-1),
    "momentum": tune.uniform(0.0, 0.99),
    "dropout": tune.quniform(0.0, 0.5, 0.05),
    "layers": tune.randint(1, 6),
    "width": tune.qrandint(16, 512, 16),
    "act": tune.choice(["relu", "gelu", "tanh"]),
}

SEARCHERS = {
    "TPESearch": lambda seed: TPESearch(seed=seed),
    "HyperOptSearch": lambda seed: HyperOptSearch(random_state_seed=seed),
    "OptunaSearch": lambda seed: OptunaSearch(seed=seed),
}


PACKAGES = ("ray", "optuna", "hyperopt")  # versions stated in the report

def objective(c: dict) -> float:
    """A cheap, structured loss so that the model-based searchers have something to model."""
    act = {"relu": 0.0, "gelu": 0.05, "tanh": 0.2}[c["act"]]
    return ((math.log10(c["lr"]) + 3) ** 2 + (c["momentum"] - 0.9) ** 2 + c["dropout"]
            + abs(c["layers"] - 3) * 0.1 + abs(math.log2(c["width"]) - 7) * 0.1 + act)


def measure(name: str, n_trials: int, seed: int, concurrent: int = 1) -> np.ndarray:
    """Seconds spent in suggest + on_trial_complete for each trial, with `concurrent` trials
    pending: each suggest comes while the others still run, the oldest then completes."""
    searcher = SEARCHERS[name](seed)
    searcher.set_search_properties("loss", "min", SPACE)
    times = np.zeros(n_trials)
    pending: list[tuple[int, dict]] = []
    for i in range(n_trials):
        t0 = time.perf_counter()
        config = searcher.suggest(f"t{i}")
        times[i] += time.perf_counter() - t0
        assert config not in (None, Searcher.FINISHED)
        pending.append((i, {"loss": objective(config), "training_iteration": 1}))
        while len(pending) >= concurrent or (i == n_trials - 1 and pending):
            j, result = pending.pop(0)
            t0 = time.perf_counter()
            searcher.on_trial_complete(f"t{j}", result)
            times[j] += time.perf_counter() - t0
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="200 trials")
    parser.add_argument("--concurrent", default="1",
                        help="comma list of how many trials are pending at once (default 1)")
    parser.add_argument("--searchers", default=",".join(SEARCHERS))
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrent.split(",")]
    n = 200 if args.quick else args.trials
    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("optuna").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    rows = []
    for name in args.searchers.split(","):
        for c in levels:
            start = time.perf_counter()
            times = measure(name, n, args.seed, c)
            wall = time.perf_counter() - start
            tenth = max(1, n // 10)
            label = name if levels == [1] else f"{name}, {c} pending"
            rows.append((label, 1000 * times.mean(), 1000 * times[:tenth].mean(),
                         1000 * times[-tenth:].mean(), 1000 * times.max(), times.sum(), wall))
            print(f"{label:25s} mean {rows[-1][1]:8.2f} ms/trial, total {times.sum():7.1f} s",
                  flush=True)

    tenth = max(1, n // 10)
    lines = [
        "# Ray Tune searcher overhead",
        "",
        f"Time inside `suggest` + `on_trial_complete` per trial, {n} trials in one loop "
        "through the Searcher API (no Tune run, objective not timed), same 6-parameter Tune "
        "space for all (loguniform, uniform, quniform, randint, qrandint, choice), "
        f"seed {args.seed}, default settings of each searcher.",
        "",
        f"Machine: {machine(PACKAGES)}.",
        "",
        f"Command: `{' '.join(['python benchmarks/ray_overhead.py', *sys.argv[1:]])}`",
        "",
        f"| searcher | mean ms/trial | first {tenth} trials | last {tenth} trials | "
        "max ms | total s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, mean, first, last, worst, total, _ in rows:
        lines.append(f"| {name} | {mean:.2f} | {first:.2f} | {last:.2f} | {worst:.1f} | "
                     f"{total:.1f} |")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("ray_overhead.md" if levels == [1] else "ray_overhead_concurrent.md")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-len(rows) - 2:]))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
