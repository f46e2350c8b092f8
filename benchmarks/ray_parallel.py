"""The concurrency study once through real `tune.run`, to check that the simulation in
`parallel.py` matches what Ray Tune users get.

`ray.init(num_cpus=32)` declares 32 CPUs on this small machine (each trial asks for one), so 8
or 32 trials really run at once; each trial sleeps a random short time (lognormal, median
0.1 s) and reports the problem's value. Searchers: TPESearch, OptunaSearch, HyperOptSearch and
Tune's random search (BasicVariantGenerator), all on the same Tune space (`to_tune` of the
problem's space), 100 trials per run, `max_concurrent_trials` of 8 and 32.

    python benchmarks/ray_parallel.py                 # branin, hartmann6, mixed; 2 seeds
    python benchmarks/ray_parallel.py --seeds 0-2 --workers 8,32

Writes benchmarks/results/ray_parallel.md and .json (final regret per run).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import problems  # noqa: E402
import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.search.basic_variant import BasicVariantGenerator  # noqa: E402
from ray.tune.search.hyperopt import HyperOptSearch  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402
from report import core_revision, machine  # noqa: E402

from tpe_plugins.integrations.ray_tune import TPESearch, to_tune  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SEARCHERS = ("tpe-plugins", "optuna", "hyperopt", "random")


def trainable(config: dict) -> dict:
    """Sleep a random short time, then report the problem's (noiseless) value."""
    problem = problems.get_problem(config["problem"])
    time.sleep(float(np.random.default_rng().lognormal(math.log(0.1), 0.5)))
    return {"loss": problem.objective({k: config[k] for k in problem.space})}


def search_alg(name: str, seed: int, workers: int):
    if name == "tpe-plugins":
        return TPESearch(seed=seed)
    if name == "optuna":
        return OptunaSearch(seed=seed)
    if name == "hyperopt":
        return HyperOptSearch(random_state_seed=seed)
    return BasicVariantGenerator(random_state=seed, max_concurrent=workers)


def run(problem_name: str, name: str, seed: int, workers: int, trials: int) -> float:
    """Final regret of one tune.run."""
    problem = problems.get_problem(problem_name)
    config = {**to_tune(problem.space), "problem": problem_name}
    with tempfile.TemporaryDirectory() as storage:
        analysis = tune.run(trainable, config=config, search_alg=search_alg(name, seed, workers),
                            metric="loss", mode="min", num_samples=trials,
                            max_concurrent_trials=None if name == "random" else workers,
                            resources_per_trial={"cpu": 1}, reuse_actors=True,
                            storage_path=storage, verbose=0)
        losses = [t.last_result["loss"] for t in analysis.trials if t.last_result]
    return float(min(losses) - problem.optimum)


def seed_list(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", default="branin,hartmann6,mixed")
    parser.add_argument("--seeds", default="0-1")
    parser.add_argument("--workers", default="8,32")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS / "ray_parallel")
    args = parser.parse_args()
    names = args.problems.split(",")
    seeds, workers = seed_list(args.seeds), [int(w) for w in args.workers.split(",")]
    warnings.filterwarnings("ignore")
    ray.init(num_cpus=32, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)
    ray.cloudpickle.register_pickle_by_value(problems)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    start = time.time()
    regret: dict = {p: {s: {str(w): {} for w in workers} for s in SEARCHERS} for p in names}
    for p in names:
        for w in workers:
            for seed in seeds:
                for s in SEARCHERS:
                    t0 = time.time()
                    regret[p][s][str(w)][str(seed)] = run(p, s, seed, w, args.trials)
                    print(f"{p} W={w} seed={seed} {s}: regret "
                          f"{regret[p][s][str(w)][str(seed)]:.4g} ({time.time() - t0:.0f} s)",
                          flush=True)
    ray.shutdown()

    mean = {p: {s: {w: float(np.mean(list(regret[p][s][str(w)].values()))) for w in workers}
                for s in SEARCHERS} for p in names}
    lines = ["# Concurrency through real Ray Tune", "",
             f"- command: `python benchmarks/ray_parallel.py {' '.join(sys.argv[1:])}`".rstrip(),
             f"- machine: {machine(('ray', 'optuna', 'hyperopt'))}; `ray.init(num_cpus=32)`, "
             "one declared CPU per trial",
             f"- tpe_plugins core: git {core_revision()}",
             f"- {args.trials} trials per run, seeds {seeds}, trials sleep lognormal(log 0.1 s, "
             f"0.5); wall time {(time.time() - start) / 60:.1f} min", "",
             "Mean final regret over seeds (lower is better); in brackets, the ratio to random "
             "search's mean regret.", ""]
    for w in workers:
        lines += [f"## max_concurrent_trials = {w}", "",
                  "| problem | " + " | ".join(SEARCHERS) + " |", "|---|" + "---:|" * 4]
        for p in names:
            rnd = mean[p]["random"][w]
            lines.append(f"| {p} | " + " | ".join(
                f"{mean[p][s][w]:.4g} ({mean[p][s][w] / rnd:.2f})" for s in SEARCHERS) + " |")
        geo = {s: math.exp(np.mean([math.log(max(mean[p][s][w], 1e-12) / mean[p]["random"][w])
                                    for p in names])) for s in SEARCHERS}
        lines += ["| **geometric mean of ratios** | " + " | ".join(
            f"**{geo[s]:.3f}**" for s in SEARCHERS) + " |", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps({"regret": regret, "mean": mean},
                                                        indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
