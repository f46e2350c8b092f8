"""Does `ask(n)`, one model fit for the whole batch, lose quality against n single asks?

Synchronous batches: ask a batch, evaluate it, tell every result, repeat until 100 trials. Each
run is made twice with the same seed: with `opt.ask(n)` (one fit, the batch's points added to
g(x) as lies) and with n calls of `opt.ask()` (a fit per point, the earlier points pending).
The 10 problems with a known optimum that the defaults were chosen on, held-out seeds 10-29.

    python benchmarks/batch_ask.py            # batches of 8 and 32, under a minute on 2 cores
    python benchmarks/batch_ask.py --settings multivariate=True --out /tmp/batch_joint.md

Writes benchmarks/results/batch_ask.md (or --out).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from benchmark_variants import make_tpe  # noqa: E402
from parallel import parse_settings  # noqa: E402
from problems import PROBLEMS, TUNED_PROBLEMS  # noqa: E402
from report import core_revision, machine  # noqa: E402

SEEDS = range(10, 30)
BATCHES = (8, 32)


def run(problem: str, seed: int, batch: int, how: str, settings: dict,
        trials: int = 100) -> float:
    """Final noiseless regret of one run."""
    prob = PROBLEMS[problem]
    rng = np.random.default_rng(10_000 + seed)
    opt = make_tpe(prob.space, seed=seed, **settings)
    best = np.inf
    while len(opt) < trials:
        k = min(batch, trials - len(opt))
        trials_now = opt.ask(k) if how == "ask(n)" else [opt.ask() for _ in range(k)]
        for t in trials_now:
            seen, true = prob.evaluate(t.params, rng)
            opt.tell(t, seen)
            best = min(best, true)
    return float(best - prob.optimum)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settings", default="", help="TPE settings for both, e.g. multivariate=True")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results"
                    / "batch_ask.md")
    args = ap.parse_args()
    settings = parse_settings(args.settings)
    problems = [p for p in TUNED_PROBLEMS if PROBLEMS[p].optimum is not None]
    jobs = [(p, s, b, h, settings) for p in problems for s in SEEDS for b in BATCHES
            for h in ("ask(n)", "n x ask()")]
    start = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        finals = dict(zip([j[:4] for j in jobs],
                          pool.map(run, *zip(*jobs, strict=True), chunksize=8), strict=True))
    lines = ["# ask(n) in one fit against n single asks", "",
             f"- command: `{' '.join(['python benchmarks/batch_ask.py', *sys.argv[1:]])}`",
             f"- settings: {args.settings or 'defaults'}",
             f"- machine: {machine()}; core git {core_revision()}",
             f"- date: {datetime.date.today()}, {(time.perf_counter() - start) / 60:.1f} min; "
             f"seeds {SEEDS.start}-{SEEDS.stop - 1}, 100 trials, synchronous batches", "",
             "Mean final regret per problem, the ratio ask(n) / n x ask() (below 1: the single "
             "fit is better) and the share of seeds where ask(n) ends lower.", ""]
    for b in BATCHES:
        lines += [f"## Batches of {b}", "", "| problem | ask(n) | n x ask() | ratio | "
                  "ask(n) better |", "|---|---:|---:|---:|---:|"]
        ratios = []
        for p in problems:
            a = np.mean([finals[(p, s, b, "ask(n)")] for s in SEEDS])
            c = np.mean([finals[(p, s, b, "n x ask()")] for s in SEEDS])
            wins = np.mean([finals[(p, s, b, "ask(n)")] < finals[(p, s, b, "n x ask()")]
                            for s in SEEDS])
            ratios.append(max(a, 1e-12) / max(c, 1e-12))
            lines.append(f"| {p} | {a:.4g} | {c:.4g} | {ratios[-1]:.3f} | {wins:.2f} |")
        lower = sum(r < 1 for r in ratios)
        lines += ["", f"Geometric mean of the ratios: {np.exp(np.mean(np.log(ratios))):.3f}; "
                  f"median {np.median(ratios):.3f}; ask(n) lower on {lower} of {len(ratios)} "
                  "problems (a mean regret near 0 makes one ratio dominate the geometric mean)",
                  ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
