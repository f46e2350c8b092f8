"""Which TPE component choices win: the defaults against one change at a time.

Each variant runs on the same problems and seeds as benchmarks/quality.py (model-tuning problems
are skipped by default: they dominate the run time and add little to this comparison). For each
problem the variants are ranked per seed by final noiseless regret; the table gives the mean rank
over problems and seeds (lower is better), and per problem the mean final regret.

    python benchmarks/ablation.py                      # ~10 min on 2 cores
    python benchmarks/ablation.py --quick
    python benchmarks/ablation.py --batch 8            # asks in batches of 8 (parallel workers)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from benchmark_variants import make_tpe  # noqa: E402
from problems import PROBLEMS, TUNED_PROBLEMS  # noqa: E402
from scipy.stats import rankdata  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

VARIANTS: dict[str, dict] = {
    "defaults": {},
    "gamma=sqrt": {"gamma": "sqrt"},
    "weights=recent": {"weights": "recent"},
    "prior_weight=0.5": {"prior_weight": 0.5},
    "prior_weight=2": {"prior_weight": 2.0},
    "bandwidth_factor=1": {"bandwidth_factor": 1.0},
    "bandwidth_factor=0.35": {"bandwidth_factor": 0.35},
    "min_bandwidth=0.05": {"min_bandwidth": 0.05},
    "categorical_mass=0.6": {"categorical_mass": 0.6},
    "n_candidates=64": {"n_candidates": 64},
    "n_candidates=256": {"n_candidates": 256},
    "explore_fraction=0": {"explore_fraction": 0.0},
    "startup=random": {"startup": "random"},
    "constant_liar=False": {"constant_liar": False},
    "jump_fraction=0.1": {"jump_fraction": 0.1},
    "multivariate=False": {"multivariate": False},
    "local_fraction=0": {"local_fraction": 0.0},
}


def run_one(problem: str, variant: str, seed: int, n_trials: int, batch: int) -> float:
    """Final noiseless regret of one run."""
    prob = PROBLEMS[problem]
    rng = np.random.default_rng(10_000 + seed)
    opt = make_tpe(prob.space, seed=seed, **VARIANTS[variant])  # variants: private hooks
    best_true = np.inf
    while len(opt) < n_trials:
        for trial in opt.ask(min(batch, n_trials - len(opt))):
            seen, true = prob.evaluate(trial.params, rng)
            opt.tell(trial, seen)
            best_true = min(best_true, true)
    return float(best_true - prob.optimum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", default="", help="results file stem (default ablation)")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--problems", default=",".join(
        name for name in TUNED_PROBLEMS if PROBLEMS[name].optimum is not None),
        help="default: the suite the defaults were chosen on, never the held-out problems")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="3 seeds, 40 trials")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.trials = 3, 40
    variants = args.variants.split(",")
    problems = args.problems.split(",")
    unknown = [v for v in variants if v not in VARIANTS] + [p for p in problems
                                                            if p not in PROBLEMS]
    if unknown:
        parser.error(f"unknown variant or problem: {unknown}")

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(p, v, s) for p in problems for v in variants for s in seeds]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        finals = list(pool.map(run_one, *zip(*jobs, strict=True),
                               [args.trials] * len(jobs), [args.batch] * len(jobs),
                               chunksize=4))
    elapsed = time.perf_counter() - start
    regret = {p: {v: [] for v in variants} for p in problems}
    for (p, v, _), r in zip(jobs, finals, strict=True):
        regret[p][v].append(r)

    ranks = {v: [] for v in variants}
    for p in problems:
        table = np.array([regret[p][v] for v in variants])  # variants x seeds
        for v, r in zip(variants, rankdata(table, axis=0).mean(axis=1), strict=True):
            ranks[v].append(r)

    order = sorted(variants, key=lambda v: np.mean(ranks[v]))
    first = f" --first-seed {args.first_seed}" if args.first_seed else ""
    named = (f" --variants {args.variants}" if args.variants != ",".join(VARIANTS) else "") + (
        f" --out {args.out}" if args.out else "")
    lines = [
        f"# Ablation: TPE component choices (batch size {args.batch})",
        "",
        f"- command: `python benchmarks/ablation.py --seeds {args.seeds} --trials {args.trials} "
        f"--batch {args.batch}{first}{named}`",
        f"- machine: 2-core {platform.machine()}, Python {platform.python_version()}, no GPU; "
        f"{elapsed / 60:.1f} min",
        f"- date: {datetime.date.today()}; {args.seeds} seeds x {args.trials} trials; "
        "mean rank over problems and seeds (lower is better); cells: mean final regret",
        "",
        "| variant | mean rank | " + " | ".join(problems) + " |",
        "|---|---:|" + "---:|" * len(problems),
    ]
    for v in order:
        cells = [f"{np.mean(regret[p][v]):.3g}" for p in problems]
        lines.append(f"| {v} | {np.mean(ranks[v]):.2f} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stem = args.out or ("ablation" if args.batch == 1 else f"ablation_batch{args.batch}")
    (RESULTS / f"{stem}.md").write_text(text)
    (RESULTS / f"{stem}.json").write_text(json.dumps(regret, indent=1))


if __name__ == "__main__":
    main()
