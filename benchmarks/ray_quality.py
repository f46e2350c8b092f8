"""Search quality under Ray Tune: TPESearch against HyperOptSearch, OptunaSearch and random search.

Part 1, real Tune runs: `tune.run` with 8 concurrent trials (fractional CPUs, so 8 trials really
run at once on a small machine) on two problems, for several seeds:

- hartmann6: the 6-d Hartmann function (minimum -3.32237), a cheap standard test function;
- svc_digits: PCA + SVC on scikit-learn's bundled digits data, 3-fold CV error, with
  OMP_NUM_THREADS=1 (log-scale C and gamma, quantised PCA size, a categorical kernel).

Part 2, concurrency: how much quality is lost going from 1 to 8 to 32 concurrent trials, on
hartmann6. Each searcher is driven through the same Searcher API that Tune calls, by a
simulated cluster of 1, 8 or 32 workers with random trial durations (a trial is suggested when a
worker frees up; the searcher hears of results in completion order). A real Tune run with 32
concurrent trials needs 32 worker processes, which a 2-core machine can start but not run
faithfully; the simulation gives each searcher exactly the information it would have on a
32-worker cluster, and is deterministic.

    python benchmarks/ray_quality.py                 # 3 seeds (part 2: 10); ~8 min on 2 cores
    python benchmarks/ray_quality.py --quick         # 1 seed, fewer trials; about 3 min
    python benchmarks/ray_quality.py --part concurrency   # part 2 only, about 1 min

A Tune run here costs about 10 s beyond its trials (8 worker processes start on 2 cores), which
is what limits the number of seeds of part 1.

Writes benchmarks/results/ray_quality.md and ray_quality.json (raw values).
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import math
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import sys  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402
from ray.tune.search.basic_variant import BasicVariantGenerator  # noqa: E402
from ray.tune.search.hyperopt import HyperOptSearch  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402
from report import machine  # noqa: E402
from scipy.stats import rankdata  # noqa: E402

from tpe_plugins.integrations.ray_tune import TPESearch  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SEARCHERS = ("TPESearch", "HyperOptSearch", "OptunaSearch", "random")

# ------------------------------------------------------------------------------ problems
_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
               [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                      [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
HARTMANN6_MIN = -3.32237


PACKAGES = ("ray", "optuna", "hyperopt", "scikit-learn")  # versions stated in the report

def hartmann6(config: dict) -> float:
    x = np.array([config[f"x{i}"] for i in range(6)])
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_A * (x - _P) ** 2, axis=1))))


_DATA: dict = {}  # per worker process (trainables are shipped by value, lru_cache is not)


def _digits() -> tuple:
    if "digits" not in _DATA:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        _DATA["digits"] = (X / 16.0, y)
    return _DATA["digits"]


def svc_digits(config: dict) -> float:
    from sklearn.decomposition import PCA
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    X, y = _digits()
    model = make_pipeline(PCA(n_components=config["n_components"], random_state=0),
                          SVC(C=config["C"], gamma=config["gamma"], kernel=config["kernel"]))
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    return float(1.0 - cross_val_score(model, X, y, cv=cv).mean())


PROBLEMS = {
    "hartmann6": {"fn": hartmann6, "optimum": HARTMANN6_MIN, "trials": 64, "quick_trials": 24,
                  "space": {f"x{i}": tune.uniform(0.0, 1.0) for i in range(6)}},
    "svc_digits": {"fn": svc_digits, "optimum": None, "trials": 40, "quick_trials": 16,
                   "space": {"C": tune.loguniform(1e-2, 1e3), "gamma": tune.loguniform(1e-4, 1.0),
                             "n_components": tune.qrandint(8, 64, 8),
                             "kernel": tune.choice(["rbf", "sigmoid"])}},
}


def make_searcher(name: str, seed: int) -> Searcher | None:
    if name == "TPESearch":
        return TPESearch(seed=seed)
    if name == "HyperOptSearch":
        return HyperOptSearch(random_state_seed=seed)
    if name == "OptunaSearch":
        return OptunaSearch(seed=seed)
    return None


# ------------------------------------------------------------------------------ part 1
def tune_run(problem: str, name: str, seed: int, n_trials: int, concurrency: int,
             storage: str) -> list[float]:
    """One tune.run; the trials' losses in the order the trials were created."""
    fn = PROBLEMS[problem]["fn"]

    def trainable(config: dict) -> dict:
        return {"loss": fn(config)}

    searcher = make_searcher(name, seed)
    kwargs = ({"search_alg": searcher, "max_concurrent_trials": concurrency} if searcher
              else {"search_alg": BasicVariantGenerator(max_concurrent=concurrency,
                                                        random_state=seed)})
    analysis = tune.run(trainable, config=PROBLEMS[problem]["space"], metric="loss", mode="min",
                        num_samples=n_trials, resources_per_trial={"cpu": 2 / concurrency},
                        reuse_actors=True, storage_path=storage, verbose=0, **kwargs)
    return [t.last_result.get("loss", math.inf) for t in analysis.trials]


# ------------------------------------------------------------------------------ part 2
def simulate(name: str, seed: int, n_trials: int, workers: int) -> list[float]:
    """Drive a searcher like Tune would on `workers` workers; losses in suggestion order."""
    space = PROBLEMS["hartmann6"]["space"]
    rng = np.random.default_rng(1000 + seed)
    searcher = make_searcher(name, seed)
    if searcher is not None:
        searcher.set_search_properties("loss", "min", space)
    running: list = []  # (end time, trial index, config)
    losses: list[float] = []
    now = 0.0
    while len(losses) < n_trials or running:
        while len(losses) + len(running) < n_trials and len(running) < workers:
            i = len(losses) + len(running)
            if searcher is None:
                config = {k: d.sample(random_state=rng) for k, d in space.items()}
            else:
                config = searcher.suggest(f"t{i}")
            heapq.heappush(running, (now + rng.lognormal(0.0, 0.5), i, config))
        now, i, config = heapq.heappop(running)
        loss = hartmann6(config)
        losses.append(loss)
        if searcher is not None:
            searcher.on_trial_complete(f"t{i}", {"loss": loss, "training_iteration": 1})
    return losses


# ------------------------------------------------------------------------------ report
def summary(values: list[float]) -> str:
    a = np.asarray(values, dtype=float)
    se = a.std(ddof=1) / math.sqrt(len(a)) if len(a) > 1 else 0.0
    return f"{a.mean():.4f} ± {se:.4f}"


def ranks(table: dict[str, list[float]]) -> dict[str, float]:
    """Mean rank per searcher over seeds (1 = best final value of that seed)."""
    names = list(table)
    r = rankdata(np.array([table[n] for n in names]), axis=0)  # (searchers, seeds); ties share
    return {n: float(r[k].mean()) for k, n in enumerate(names)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 seed, fewer trials")
    parser.add_argument("--part", choices=("all", "tune", "concurrency"), default="all")
    args = parser.parse_args()
    seeds = list(range(1 if args.quick else args.seeds))
    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("optuna").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    started = time.time()
    raw: dict = {"tune": {}, "concurrency": {}}
    lines = ["# Ray Tune search quality", "",
             f"Machine: {machine(PACKAGES)}.", "",
             f"Command: `python benchmarks/ray_quality.py{' --quick' if args.quick else ''}`"
             f"{'' if args.part == 'all' else f' --part {args.part}'}; seeds {seeds}; "
             "every searcher with its default settings.", ""]

    if args.part in ("all", "tune"):
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
        storage = tempfile.mkdtemp(prefix="ray_quality_")
        lines += ["## 1. tune.run, 8 concurrent trials", "",
                  "Best loss after all trials (mean ± standard error over seeds; hartmann6 as "
                  "regret, the distance to the known minimum -3.32237; svc_digits as 3-fold CV "
                  "error). Lower is better. Mean rank: 1 = best of the four on a seed.", ""]
        for problem, spec in PROBLEMS.items():
            n = spec["quick_trials"] if args.quick else spec["trials"]
            half = n // 2
            finals: dict[str, list[float]] = {}
            halves: dict[str, list[float]] = {}
            secs: dict[str, float] = {}
            for name in SEARCHERS:
                t0 = time.time()
                for seed in seeds:
                    losses = tune_run(problem, name, seed, n, 8, storage)
                    offset = -spec["optimum"] if spec["optimum"] is not None else 0.0
                    finals.setdefault(name, []).append(min(losses) + offset)
                    halves.setdefault(name, []).append(min(losses[:half]) + offset)
                    raw["tune"].setdefault(problem, {}).setdefault(name, []).append(losses)
                secs[name] = (time.time() - t0) / len(seeds)
                print(f"{problem} {name}: {summary(finals[name])} "
                      f"({secs[name]:.0f} s per run)", flush=True)
            mean_rank = ranks(finals)
            lines += [f"### {problem} ({n} trials, 8 concurrent)", "",
                      f"| searcher | best after {half} trials | best after {n} trials | "
                      "mean rank | s per run |", "|---|---:|---:|---:|---:|"]
            for name in SEARCHERS:
                lines.append(f"| {name} | {summary(halves[name])} | {summary(finals[name])} | "
                             f"{mean_rank[name]:.2f} | {secs[name]:.0f} |")
            lines.append("")
        ray.shutdown()

    if args.part in ("all", "concurrency"):
        n = 64 if args.quick else 100
        conc_seeds = list(range(3 if args.quick else 10))
        lines += ["## 2. Quality lost going 1 -> 8 -> 32 concurrent trials", "",
                  f"hartmann6, {n} trials, regret of the best trial (mean ± standard error over "
                  f"{len(conc_seeds)} seeds), searchers driven through the Searcher API by a "
                  "simulated cluster (see the module docstring). The last column is the regret "
                  "at 32 workers minus the regret at 1 worker: the quality lost to concurrency.",
                  "", "| searcher | 1 worker | 8 workers | 32 workers | lost at 32 |",
                  "|---|---:|---:|---:|---:|"]
        for name in SEARCHERS:
            row = {}
            for workers in (1, 8, 32):
                row[workers] = [min(simulate(name, seed, n, workers)) - HARTMANN6_MIN
                                for seed in conc_seeds]
                raw["concurrency"].setdefault(name, {})[workers] = row[workers]
            lost = np.mean(row[32]) - np.mean(row[1])
            lines.append(f"| {name} | {summary(row[1])} | {summary(row[8])} | "
                         f"{summary(row[32])} | {lost:+.4f} |")
            print(lines[-1], flush=True)
        lines.append("")

    lines.append(f"Total time: {(time.time() - started) / 60:.1f} min.")
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.part == "all" else f"_{args.part}"
    (RESULTS / f"ray_quality{suffix}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"ray_quality{suffix}.json").write_text(json.dumps(raw))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
