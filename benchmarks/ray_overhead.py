"""Searcher overhead in Ray Tune: time spent in `suggest` + `on_trial_complete` per trial.

TPESearch, HyperOptSearch and OptunaSearch each get the same Tune space through
`set_search_properties` (as tune.run does) and run `--trials` trials through the Searcher API
in a plain loop, without Tune, so only the searcher's own time is measured. The objective is a
cheap function of the config and is not timed.

    python benchmarks/ray_overhead.py              # 1000 trials
    python benchmarks/ray_overhead.py --quick      # 200 trials

Writes benchmarks/results/ray_overhead.md.
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


def measure(name: str, n_trials: int, seed: int) -> np.ndarray:
    """Seconds spent in suggest + on_trial_complete for each trial."""
    searcher = SEARCHERS[name](seed)
    searcher.set_search_properties("loss", "min", SPACE)
    times = np.empty(n_trials)
    for i in range(n_trials):
        tid = f"t{i}"
        t0 = time.perf_counter()
        config = searcher.suggest(tid)
        t1 = time.perf_counter()
        assert config not in (None, Searcher.FINISHED)
        result = {"loss": objective(config), "training_iteration": 1}
        t2 = time.perf_counter()
        searcher.on_trial_complete(tid, result)
        times[i] = (t1 - t0) + (time.perf_counter() - t2)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="200 trials")
    args = parser.parse_args()
    n = 200 if args.quick else args.trials
    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("optuna").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    rows = []
    for name in SEARCHERS:
        start = time.perf_counter()
        times = measure(name, n, args.seed)
        wall = time.perf_counter() - start
        tenth = max(1, n // 10)
        rows.append((name, 1000 * times.mean(), 1000 * times[:tenth].mean(),
                     1000 * times[-tenth:].mean(), 1000 * times.max(), times.sum(), wall))
        print(f"{name:15s} mean {rows[-1][1]:8.2f} ms/trial, total {times.sum():7.1f} s",
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
        f"Command: `python benchmarks/ray_overhead.py{' --quick' if args.quick else ''}`",
        "",
        f"| searcher | mean ms/trial | first {tenth} trials | last {tenth} trials | "
        "max ms | total s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, mean, first, last, worst, total, _ in rows:
        lines.append(f"| {name} | {mean:.2f} | {first:.2f} | {last:.2f} | {worst:.1f} | "
                     f"{total:.1f} |")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "ray_overhead.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-len(rows) - 2:]))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
