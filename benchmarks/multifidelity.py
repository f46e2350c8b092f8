"""Learning from every epoch: searchers paired with early stopping, at equal training epochs.

Problems: the tabulated learning curves of `learning_curves.py` (a small MLP on digits,
breast_cancer and two generated sets; validation loss after each of 27 epochs, for each of
4,032 configurations), so a search costs no training and every setup sees the same curves.

A cluster of W workers (default 4) is simulated: a worker trains one trial, one epoch per time
unit, and reports the validation loss after each epoch; the run ends when the epochs spent
reach the budget (default 20 full trainings = 540 epochs). Setups, side by side in one run:

- tpe-plugins MF + ASHA: `tp.TPE`, every epoch reported (`opt.report`), each trial told its
  last value; the model judges it at the epoch it reached (`tpe_plugins.budgets`);
- tpe-plugins BOHB rule + ASHA: the same, with BOHB's rule swapped in (`mf_rules.bohb_rule`
  through the optimiser's private `_rank_rule` hook; it is not a setting): the model is fit
  only on the trials that reached the largest budget that at least D + 2 trials reached
  (BOHB's rule), instead of judging every trial at the epoch it reached;
- tpe-plugins final-only + ASHA: the same TPE told only final values, a stopped trial pruned
  without its curve (the bad group), as before multi-fidelity;
- random + ASHA;
- OptunaSearch + ASHA and HyperOptSearch + ASHA: Ray Tune's searchers driven through the
  Searcher API (`suggest`, `on_trial_result`, `on_trial_complete`), exactly as Tune calls them;
- optuna TPE + HyperbandPruner: optuna's own loop (`study.ask`, `trial.report`,
  `trial.should_prune`, `study.tell`), `TPESampler(constant_liar=True)`;
- tpe-plugins MF + its SuccessiveHalvingPruner: the core loop with the core's own pruner;
- random, full training: no early stopping (the reference for "a third of the epochs").

ASHA is Ray Tune's `ASHAScheduler(max_t=27, grace_period=1, reduction_factor=3)` itself, fed
the simulated results. Reported: the best validation loss of any trial that trained all 27
epochs, as a function of the epochs spent, minus the best full-budget loss in the table.

    python benchmarks/multifidelity.py                   # 4 data sets x 10 seeds, ~10 min
    python benchmarks/multifidelity.py --quick           # 1 data set x 2 seeds
    python benchmarks/multifidelity.py --seeds 10-29 --out benchmarks/results/multifidelity_heldout
"""

from __future__ import annotations

import argparse
import datetime
import heapq
import json
import math
import os
import sys
import time
import traceback
import warnings
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learning_curves as lc  # noqa: E402
import mf_rules  # noqa: E402
from problems import from_hyperopt, hyperopt_space, sample_uniform  # noqa: E402
from report import core_revision, machine, run_tasks  # noqa: E402

import tpe_plugins as tp  # noqa: E402

SETUPS = ("tpe-plugins MF + ASHA", "tpe-plugins BOHB rule + ASHA",
          "tpe-plugins final-only + ASHA", "random + ASHA",
          "OptunaSearch + ASHA", "HyperOptSearch + ASHA", "optuna TPE + HyperbandPruner",
          "tpe-plugins MF + SHA pruner", "random, full training")
SHORT = {"tpe-plugins MF + ASHA": "tpe-mf", "tpe-plugins BOHB rule + ASHA": "tpe-bohb-rule",
         "tpe-plugins final-only + ASHA": "tpe-final",
         "random + ASHA": "random", "OptunaSearch + ASHA": "optuna-search",
         "HyperOptSearch + ASHA": "hyperopt-search", "optuna TPE + HyperbandPruner":
         "optuna-hyperband", "tpe-plugins MF + SHA pruner": "tpe-sha",
         "random, full training": "random-full"}
N_STARTUP = 10
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "multifidelity"


# ====================================================================== drivers
class Driver:
    """A searcher as the simulation sees it. `report` returns True when the searcher's own
    pruner stops the trial; `end` tells how the trial ended (the epoch it reached)."""

    own_pruner = False

    def ask(self) -> tuple[Any, dict]:
        raise NotImplementedError

    def report(self, handle: Any, epoch: int, value: float) -> bool:
        return False

    def end(self, handle: Any, epoch: int, value: float) -> None:
        pass


class TPEDriver(Driver):
    def __init__(self, seed: int, curves: bool, pruner: Any = None, rule: Any = None,
                 **settings: Any):
        self.opt = tp.TPE(lc.SPACE, seed=seed, n_startup_trials=N_STARTUP, pruner=pruner,
                          **settings)
        if rule is not None:  # a benchmark variant of the multi-fidelity rule
            self.opt._rank_rule = rule
        self.curves, self.own_pruner = curves, pruner is not None

    def ask(self) -> tuple[Any, dict]:
        t = self.opt.ask()
        return t, t.params

    def report(self, handle: Any, epoch: int, value: float) -> bool:
        if self.curves:
            self.opt.report(handle, epoch, value)
            return self.own_pruner and self.opt.should_prune(handle)
        return False

    def end(self, handle: Any, epoch: int, value: float) -> None:
        if self.curves or epoch == lc.MAX_EPOCHS:
            self.opt.tell(handle, value)
        else:  # final-only: a stopped trial is one bad point, as before multi-fidelity
            self.opt.prune(handle, value)


class RandomDriver(Driver):
    def __init__(self, seed: int):
        self.rng = np.random.default_rng([seed, 1])

    def ask(self) -> tuple[Any, dict]:
        return None, sample_uniform(lc.SPACE, self.rng)


def optuna_distributions() -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for name, p in lc.SPACE.items():
        if isinstance(p, tp.Categorical):
            out[name] = CategoricalDistribution(list(p.choices))
        elif isinstance(p, tp.Int):
            out[name] = IntDistribution(p.low, p.high, step=p.step or 1)
        else:
            out[name] = FloatDistribution(p.low, p.high, step=p.step)
    return out


class RaySearcherDriver(Driver):
    """A Ray Tune Searcher called as Tune calls it."""

    def __init__(self, searcher: Any, decode: Any = None):
        self.searcher, self.decode, self.n = searcher, decode, 0

    def ask(self) -> tuple[Any, dict]:
        tid = f"t{self.n}"
        self.n += 1
        config = self.searcher.suggest(tid)
        return tid, self.decode(config) if self.decode else config

    def report(self, handle: Any, epoch: int, value: float) -> bool:
        self.searcher.on_trial_result(handle, {"loss": value, "training_iteration": epoch})
        return False

    def end(self, handle: Any, epoch: int, value: float) -> None:
        self.searcher.on_trial_complete(handle, {"loss": value, "training_iteration": epoch})


class OptunaPrunerDriver(Driver):
    own_pruner = True

    def __init__(self, seed: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.dists = optuna_distributions()
        pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=lc.MAX_EPOCHS,
                                                reduction_factor=3)
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True,
                                             n_startup_trials=N_STARTUP)
        # HyperbandPruner assigns brackets by a hash of the study name: a fixed name keeps the
        # run reproducible (optuna's default name is a fresh uuid)
        self.study = optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner,
                                         study_name=f"multifidelity-seed{seed}")
        self.state = optuna.trial.TrialState

    def ask(self) -> tuple[Any, dict]:
        trial = self.study.ask(self.dists)
        return trial, dict(trial.params)

    def report(self, handle: Any, epoch: int, value: float) -> bool:
        handle.report(value, epoch)
        return handle.should_prune()

    def end(self, handle: Any, epoch: int, value: float) -> None:
        if epoch == lc.MAX_EPOCHS:
            self.study.tell(handle, value)
        else:
            self.study.tell(handle, state=self.state.PRUNED)


def make_driver(setup: str, seed: int) -> tuple[Driver, bool]:
    """The driver, and whether Ray's ASHA scheduler stops trials for it."""
    if setup == "tpe-plugins MF + ASHA":
        return TPEDriver(seed, curves=True), True
    if setup == "tpe-plugins BOHB rule + ASHA":
        return TPEDriver(seed, curves=True, rule=partial(mf_rules.bohb_rule,
                                                         min_points=len(lc.SPACE) + 2)), True
    if setup == "tpe-plugins final-only + ASHA":
        return TPEDriver(seed, curves=False), True
    if setup == "tpe-plugins MF + SHA pruner":
        pruner = tp.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
        return TPEDriver(seed, curves=True, pruner=pruner), False
    if setup == "random + ASHA":
        return RandomDriver(seed), True
    if setup == "random, full training":
        return RandomDriver(seed), False
    if setup == "OptunaSearch + ASHA":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=N_STARTUP)
        return RaySearcherDriver(OptunaSearch(space=optuna_distributions(), metric="loss",
                                              mode="min", sampler=sampler)), True
    if setup == "HyperOptSearch + ASHA":
        from ray.tune.search.hyperopt import HyperOptSearch

        searcher = HyperOptSearch(space=hyperopt_space(lc.SPACE), metric="loss", mode="min",
                                  random_state_seed=seed, n_initial_points=N_STARTUP)
        return RaySearcherDriver(searcher, lambda c: from_hyperopt(lc.SPACE, c)), True
    if setup == "optuna TPE + HyperbandPruner":
        return OptunaPrunerDriver(seed), False
    raise KeyError(setup)


# ====================================================================== one run
def simulate(table: lc.CurveTable, driver: Driver, use_asha: bool, workers: int,
             budget: int) -> dict:
    """Run until `budget` epochs are spent; the full-budget results in the order they came."""
    from ray.tune.schedulers import ASHAScheduler

    asha = ASHAScheduler(time_attr="training_iteration", metric="loss", mode="min",
                         max_t=lc.MAX_EPOCHS, grace_period=1, reduction_factor=3)
    running: list[tuple[int, int, int]] = []  # heap of (time of next report, trial no., epoch)
    live: dict[int, tuple[Any, np.ndarray, Any]] = {}
    full: list[tuple[int, float]] = []  # (epochs spent when it finished, final val loss)
    spent, n_trials, n_stopped, seconds = 0, 0, 0, 0.0
    now = 0

    def start() -> None:
        nonlocal n_trials, seconds
        t0 = time.perf_counter()
        handle, params = driver.ask()
        seconds += time.perf_counter() - t0
        key = SimpleNamespace(trial_id=f"t{n_trials}")
        asha.on_trial_add(None, key)
        live[n_trials] = (handle, table.curve(params), key)
        heapq.heappush(running, (now + 1, n_trials, 1))
        n_trials += 1

    for _ in range(workers):
        start()
    while running:
        now, i, epoch = heapq.heappop(running)
        handle, curve, key = live[i]
        value = float(curve[epoch - 1])
        spent += 1
        t0 = time.perf_counter()
        stop = driver.report(handle, epoch, value)
        seconds += time.perf_counter() - t0
        if use_asha and not stop and epoch < lc.MAX_EPOCHS:
            stop = asha.on_trial_result(None, key, {"training_iteration": epoch,
                                                    "loss": value}) == "STOP"
        if epoch == lc.MAX_EPOCHS or stop or spent >= budget:
            t0 = time.perf_counter()
            driver.end(handle, epoch, value)
            seconds += time.perf_counter() - t0
            del live[i]
            n_stopped += epoch < lc.MAX_EPOCHS
            if epoch == lc.MAX_EPOCHS:
                full.append((spent, value))
            if spent < budget - len(running):
                start()
        else:
            heapq.heappush(running, (now + 1, i, epoch + 1))
    return {"full": full, "spent": spent, "trials": n_trials, "stopped": n_stopped,
            "optimizer_seconds": seconds}


def run_one(task: tuple[str, str, int, int, int]) -> dict:
    dataset, setup, seed, workers, budget = task
    out = {"dataset": dataset, "setup": setup, "seed": seed, "error": None}
    start = time.perf_counter()
    try:
        np.random.seed(seed)  # Ray's ASHA draws its bracket from the global generator
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            driver, use_asha = make_driver(setup, seed)
            out.update(simulate(lc.load(dataset), driver, use_asha, workers, budget))
    except Exception:
        out["error"] = traceback.format_exc()
    out["seconds"] = time.perf_counter() - start
    return out


# ====================================================================== analysis
def best_curve(full: list, grid: np.ndarray, best: float) -> np.ndarray:
    """Regret of the best full-budget loss found by each number of epochs in `grid`."""
    out = np.full(len(grid), np.nan)
    if full:
        when = np.array([f[0] for f in full])
        value = np.minimum.accumulate(np.array([f[1] for f in full]))
        idx = np.searchsorted(when, grid, side="right") - 1
        ok = idx >= 0
        out[ok] = value[idx[ok]] - best
    return out


def analyse(runs: list[dict], datasets: list[str], setups: list[str], seeds: list[int],
            budget: int) -> dict:
    grid = np.arange(1, budget + 1)
    bests = {d: lc.load(d).best for d in datasets}
    curves = {d: {s: np.array([best_curve(r["full"], grid, bests[d]) for r in runs
                               if r["dataset"] == d and r["setup"] == s and not r["error"]])
                  for s in setups} for d in datasets}
    fractions = (1 / 3, 2 / 3, 1.0)
    table: dict = {}
    for d in datasets:
        table[d] = {}
        for s in setups:
            c = curves[d][s]
            table[d][s] = {f"{f:.2f}": float(np.nanmean(c[:, int(f * budget) - 1]))
                           if len(c) else math.nan for f in fractions}
    # epochs each setup needs to match random + ASHA's final mean regret (mean over seeds)
    need: dict = {}
    for d in datasets:
        target = table[d].get("random + ASHA", {}).get("1.00", math.nan)
        need[d] = {}
        for s in setups:
            mean = np.nanmean(curves[d][s], axis=0) if len(curves[d][s]) else np.full(
                budget, np.nan)
            hit = np.flatnonzero(mean <= target)
            need[d][s] = float(grid[hit[0]] / budget) if len(hit) else math.inf
    # rank of the final regret per (data set, seed)
    ranks = {s: [] for s in setups}
    for d in datasets:
        final = np.array([[np.nan_to_num(curves[d][s][k, -1], nan=np.inf)
                           if k < len(curves[d][s]) else np.inf for k in range(len(seeds))]
                          for s in setups])
        from scipy.stats import rankdata

        r = rankdata(final, axis=0)
        for j, s in enumerate(setups):
            ranks[s].append(float(r[j].mean()))
    mean_curves = {d: {s: np.nanmean(curves[d][s], axis=0).tolist() if len(curves[d][s])
                       else [] for s in setups} for d in datasets}
    return {"table": table, "fraction_to_match_random_asha": need, "mean_rank": {
        s: float(np.mean(v)) for s, v in ranks.items()}, "mean_curves": mean_curves,
        "best": bests}


def write_report(args: argparse.Namespace, runs: list[dict], result: dict, wall: float) -> None:
    setups, datasets = args.setup_list, args.dataset_list
    ok = {s: [r for r in runs if r["setup"] == s and not r["error"]] for s in setups}
    trials = {s: np.mean([r["trials"] for r in ok[s]]) for s in setups}
    opt_s = {s: np.mean([r["optimizer_seconds"] for r in ok[s]]) for s in setups}
    # few trials train in full early: the bar "random + ASHA's final at a third" sets for them
    third = {s: np.mean([sum(e <= args.budget / 3 for e, _ in r["full"]) for r in ok[s]])
             for s in setups}
    lines = ["# Multi-fidelity: searchers with early stopping at equal training epochs", "",
             f"- command: `{' '.join(['python', 'benchmarks/multifidelity.py', *sys.argv[1:]])}`",
             f"- machine: {machine(('optuna', 'hyperopt', 'ray', 'torch', 'numpy'))}",
             f"- date: {datetime.date.today()}, wall time {wall / 60:.1f} min with "
             f"--jobs {args.jobs}; tpe_plugins core: git {core_revision()}",
             f"- data sets: {', '.join(datasets)} (tabulated curves, `learning_curves.py`); "
             f"seeds {args.seeds}; {args.workers} workers; budget {args.budget} epochs "
             f"({args.budget / lc.MAX_EPOCHS:.0f} full trainings of {lc.MAX_EPOCHS} epochs)",
             "- regret: best validation loss among trials that trained all epochs, minus the "
             "best full-budget loss in the table; mean over seeds", "",
             "## Mean rank of the final regret (1 = best)", "",
             "| setup | mean rank | trials started | trained in full by 1/3 of the epochs "
             "| optimiser s/run |", "|---|---:|---:|---:|---:|"]
    for s in sorted(setups, key=lambda s: result["mean_rank"][s]):
        lines.append(f"| {s} | {result['mean_rank'][s]:.2f} | {trials[s]:.0f} | "
                     f"{third[s]:.1f} | {opt_s[s]:.2f} |")
    lines += ["", "## Regret after 1/3, 2/3 and all of the epochs", "",
              "| setup | " + " | ".join(datasets) + " |",
              "|---|" + "---:|" * len(datasets)]
    for s in setups:
        cells = []
        for d in datasets:
            t = result["table"][d][s]
            cells.append(" / ".join(f"{t[k]:.4f}" for k in ("0.33", "0.67", "1.00")))
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "## Share of the budget needed to reach random + ASHA's final regret", "",
              "Mean curve over seeds; inf = never within the budget.", "",
              "| setup | " + " | ".join(datasets) + " |", "|---|" + "---:|" * len(datasets)]
    for s in setups:
        lines.append(f"| {s} | " + " | ".join(
            f"{result['fraction_to_match_random_asha'][d][s]:.2f}" for d in datasets) + " |")
    path = Path(str(args.out) + ".md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    Path(str(args.out) + ".json").write_text(json.dumps(
        {"command": lines[2], "result": result, "runs": runs}, default=float))
    plot(args, result)
    print("\n".join(lines))


def plot(args: argparse.Namespace, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = args.dataset_list
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.6),
                             squeeze=False)
    for ax, d in zip(axes[0], datasets, strict=True):
        for s in args.setup_list:
            c = np.array(result["mean_curves"][d][s], dtype=float)
            if len(c):
                ax.plot(np.arange(1, len(c) + 1), c, label=SHORT[s],
                        lw=2 if s.startswith("tpe-plugins MF") else 1)
        ax.set_yscale("log")
        ax.set_title(d)
        ax.set_xlabel("epochs spent")
    axes[0][0].set_ylabel("regret of best full-budget val loss")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(str(args.out) + ".png", dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(lc.DATASETS))
    ap.add_argument("--setups", default=",".join(SHORT[s] for s in SETUPS),
                    help="comma list of " + ",".join(SHORT.values()))
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--budget", type=int, default=20 * lc.MAX_EPOCHS)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="breast_cancer, seeds 0-1")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    if args.quick:
        args.datasets, args.seeds = "breast_cancer", "0-1"
    lo, _, hi = args.seeds.partition("-")
    seeds = list(range(int(lo), int(hi or lo) + 1))
    by_short = {v: k for k, v in SHORT.items()}
    args.setup_list = [by_short[s] for s in args.setups.split(",")]
    args.dataset_list = args.datasets.split(",")
    for d in args.dataset_list:
        lc.load(d)  # build missing tables before forking
    tasks = [(d, s, seed, args.workers, args.budget) for seed in seeds
             for d in args.dataset_list for s in args.setup_list]
    start = time.perf_counter()
    runs = run_tasks(tasks, run_one, args.jobs,
                     lambda r: f"{r['dataset']} {SHORT[r['setup']]} seed={r['seed']}")
    result = analyse(runs, args.dataset_list, args.setup_list, seeds, args.budget)
    write_report(args, runs, result, time.perf_counter() - start)


if __name__ == "__main__":
    main()
