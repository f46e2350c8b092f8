"""How often does the sequential TPE end in a local optimum, and which setting would change it?

Runs tpe-plugins with each variant's settings on one problem for many seeds and counts the runs
whose final regret stays above a threshold (on Hartmann3 runs left crawling along the slope in
x0 end 0.1-0.4 above the optimum, and the one true local optimum sits 0.77 above it). One
process, seconds per variant; a diagnostic, not a benchmark table.

    python benchmarks/local_optima.py
    python benchmarks/local_optima.py --problem hartmann3 --seeds 0-29 \\
        --variants "{}" "{'n_candidates': 64}" "{'prior_weight': 2.0}"
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from benchmark_variants import make_tpe  # noqa: E402
from parallel import parse_seeds  # noqa: E402
from problems import get_problem  # noqa: E402

DEFAULT_VARIANTS = ("{}", "{'n_candidates': 64}", "{'prior_weight': 2.0}",
                    "{'bandwidth_factor': 1.0}", "{'min_bandwidth': 0.05}",
                    "{'explore_fraction': 0.25}")


def final_regret(problem_name: str, settings: dict, seed: int, trials: int) -> float:
    problem = get_problem(problem_name)
    opt = make_tpe(problem.space, seed=seed, **settings)  # also the benchmark-only variants
    best = np.inf
    for _ in range(trials):
        trial = opt.ask()
        value = problem.objective(trial.params)
        opt.tell(trial, value)
        best = min(best, value)
    return float(best - problem.optimum)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="hartmann3")
    ap.add_argument("--seeds", default="0-29")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--stuck", type=float, default=0.1, help="regret counted as stuck")
    ap.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS),
                    help="dicts of tp.TPE settings, e.g. \"{'n_candidates': 64}\"")
    args = ap.parse_args()
    seeds = parse_seeds(args.seeds)
    print(f"{args.problem}, seeds {args.seeds}, {args.trials} trials; stuck: regret > "
          f"{args.stuck}")
    print("| settings | mean regret | median | stuck |\n|---|---:|---:|---:|")
    for text in args.variants:
        regrets = np.array([final_regret(args.problem, ast.literal_eval(text), s, args.trials)
                            for s in seeds])
        print(f"| {text} | {regrets.mean():.4f} | {np.median(regrets):.4f} | "
              f"{int((regrets > args.stuck).sum())} of {len(seeds)} |", flush=True)


if __name__ == "__main__":
    main()
