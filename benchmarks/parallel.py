"""Optimisation quality with W trials running at once: tpe-plugins, optuna, hyperopt and random.

A cluster of W workers (W = 1, 8, 32, 64) is simulated, as in `simulate` of
benchmarks/ray_quality.py: a trial is asked when a worker frees up (all W at the start), each trial
takes a random duration, lognormal(0, 0.5), and its result is told in completion order. The
durations come from an rng seeded per (problem, seed), so every optimiser and every W sees the same
duration for its i-th trial. Trials are evaluated when asked (noisy problems draw their noise per
trial from an rng seeded per seed) and their values are told when they complete. A run has
`--trials` trials (default 100). The final regret of a run is the noiseless value of its incumbent
(the best observed trial, in completion order) minus the problem's optimum (for model tuning: the
best value any run of this benchmark found), as in benchmarks/quality.py.

Optimisers, each seeded with the run's seed:

- tpe-plugins: `tp.TPE(space, seed=s, **settings)` (settings may also name the benchmark-only
  variants of benchmark_variants.py) through the core ask/tell; the pending trials
  are the ones asked and not told yet; when k workers are free at once it calls `opt.ask(k)`;
- optuna: `TPESampler(seed=s, constant_liar=True)` through `study.ask()` / `study.tell()`;
- hyperopt: hyperopt's TPE driven through Ray Tune's Searcher API,
  `HyperOptSearch(space=<hp space>, random_state_seed=s)` with `suggest(trial_id)` and
  `on_trial_complete(trial_id, result)`, exactly as Tune would call it (running trials stay in
  hyperopt's Trials as not done); its defaults: 20 random startup trials, gamma 0.25;
- random: uniform samples of the same space (`problems.sample_uniform`).

    python benchmarks/parallel.py                        # 8 problems, seeds 0-9, W 1,8,32,64
    python benchmarks/parallel.py --quick --jobs 1       # 2 problems, 2 seeds, W 1,8
    python benchmarks/parallel.py --seeds 10-29          # held-out seeds
    python benchmarks/parallel.py --optimizers tpe-plugins,random \\
        --settings n_startup_trials=16 --label startup16 --out /tmp/startup16
    python benchmarks/parallel.py --problems branin,mixed --workers 1,32 --no-timing

Also times `opt.ask(64)` of tpe-plugins at 1,000 and 10,000 finished trials on a 10-d continuous
space (skip with --no-timing). Writes <out>.md and <out>.json (default
benchmarks/results/parallel).
"""

from __future__ import annotations

import argparse
import ast
import datetime
import heapq
import json
import math
import os
import sys
import time
import traceback
import warnings
import zlib
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_variants import make_tpe  # noqa: E402
from problems import (  # noqa: E402
    HELDOUT_PROBLEMS,
    PROBLEMS,
    Problem,
    from_hyperopt,
    get_problem,
    hyperopt_space,
    problem_names,
    sample_uniform,
    suggest_optuna,
)
from quality import (  # noqa: E402
    bootstrap_ratio,
    incumbent_regret,
    library_versions,
    rankdata,
    reference_values,
)
from report import core_revision, machine, run_tasks  # noqa: E402

import tpe_plugins as tp  # noqa: E402

OPTIMIZERS = ("tpe-plugins", "optuna", "hyperopt", "random")
DEFAULT_PROBLEMS = ("branin", "hartmann6", "styblinski_tang10", "rosenbrock20", "mixed",
                    "conditional", "int_quadratic", "categorical_tables")
QUICK_PROBLEMS = ("hartmann6", "mixed")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "parallel"
TARGETS = {8: 3.0, 32: 8.0}  # tpe-plugins: W-worker regret / 1-worker regret at most this
FLOOR = 1e-3  # regrets below FLOOR x random's mean regret count as that (keeps ratios finite)
TIMING_SIZES = (1000, 10000)
TIMING_REPEATS = 5
TIMING_BATCH = 64

Task = tuple[str, str, int, int, int, dict]  # problem, optimizer, seed, workers, trials, settings


# ====================================================================== optimisers
class Driver(Protocol):
    """What the simulation needs from an optimiser: k new trials, and results told back."""

    def ask(self, k: int) -> list[tuple[Any, Any]]:  # (handle, params) per trial
        ...

    def tell(self, handle: Any, value: float) -> None:
        ...


class TPEPluginsDriver:
    def __init__(self, problem: Problem, seed: int, settings: dict):
        self.opt = make_tpe(problem.space, seed=seed, **settings)

    def ask(self, k: int) -> list[tuple[Any, Any]]:
        trials = [self.opt.ask()] if k == 1 else self.opt.ask(k)
        return [(trial, trial.params) for trial in trials]

    def tell(self, handle: Any, value: float) -> None:
        self.opt.tell(handle, value)


class OptunaDriver:
    def __init__(self, problem: Problem, seed: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = problem.space
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        self.study = optuna.create_study(direction="minimize", sampler=sampler)

    def ask(self, k: int) -> list[tuple[Any, Any]]:
        out = []
        for _ in range(k):
            trial = self.study.ask()
            out.append((trial, suggest_optuna(trial, self.space)))
        return out

    def tell(self, handle: Any, value: float) -> None:
        self.study.tell(handle, value)


class HyperoptDriver:
    def __init__(self, problem: Problem, seed: int):
        from ray.tune.search.hyperopt import HyperOptSearch

        self.space = problem.space
        self.searcher = HyperOptSearch(space=hyperopt_space(problem.space), metric="loss",
                                       mode="min", random_state_seed=seed)
        self.n_asked = 0

    def ask(self, k: int) -> list[tuple[Any, Any]]:
        out = []
        for _ in range(k):
            trial_id = f"t{self.n_asked}"
            self.n_asked += 1
            sample = self.searcher.suggest(trial_id)
            out.append((trial_id, from_hyperopt(self.space, sample)))
        return out

    def tell(self, handle: Any, value: float) -> None:
        self.searcher.on_trial_complete(handle, {"loss": value, "training_iteration": 1})


class RandomDriver:
    def __init__(self, problem: Problem, seed: int):
        self.space = problem.space
        self.rng = np.random.default_rng([seed, 1])

    def ask(self, k: int) -> list[tuple[Any, Any]]:
        return [(None, sample_uniform(self.space, self.rng)) for _ in range(k)]

    def tell(self, handle: Any, value: float) -> None:
        pass


def make_driver(optimizer: str, problem: Problem, seed: int, settings: dict) -> Driver:
    if optimizer == "tpe-plugins":
        return TPEPluginsDriver(problem, seed, settings)
    if optimizer == "optuna":
        return OptunaDriver(problem, seed)
    if optimizer == "hyperopt":
        return HyperoptDriver(problem, seed)
    if optimizer == "random":
        return RandomDriver(problem, seed)
    raise KeyError(optimizer)


# ====================================================================== one run
def durations(problem_name: str, seed: int, n_trials: int) -> np.ndarray:
    """Duration of the i-th asked trial; the same for every optimiser and every W."""
    rng = np.random.default_rng([seed, zlib.crc32(problem_name.encode())])
    return rng.lognormal(0.0, 0.5, n_trials)


def simulate(problem: Problem, driver: Driver, seed: int, workers: int,
             n_trials: int) -> tuple[list[float], list[float], float]:
    """Run `n_trials` trials on `workers` simulated workers.

    Returns the observed and the noiseless values in completion order, and the seconds spent
    in the optimiser's ask and tell."""
    duration = durations(problem.name, seed, n_trials)
    noise_rng = np.random.default_rng([seed, 2])  # the same noise sequence for every optimiser
    running: list[tuple[float, int]] = []  # heap of (end time, trial index)
    started: dict[int, tuple[Any, float, float]] = {}  # index -> (handle, observed, true)
    observed: list[float] = []
    true: list[float] = []
    optimizer_seconds = 0.0
    now = 0.0
    n_asked = 0
    while len(observed) < n_trials:
        free = min(workers - len(running), n_trials - n_asked)
        if free > 0:
            t0 = time.perf_counter()
            new = driver.ask(free)
            optimizer_seconds += time.perf_counter() - t0
            for handle, params in new:
                y, f = problem.evaluate(params, noise_rng)
                started[n_asked] = (handle, y, f)
                heapq.heappush(running, (now + duration[n_asked], n_asked))
                n_asked += 1
        now, i = heapq.heappop(running)
        handle, y, f = started.pop(i)
        t0 = time.perf_counter()
        driver.tell(handle, y)
        optimizer_seconds += time.perf_counter() - t0
        observed.append(y)
        true.append(f)
    return observed, true, optimizer_seconds


def run_one(task: Task) -> dict:
    """One optimiser on one problem with one seed and W workers."""
    problem_name, optimizer, seed, workers, n_trials, settings = task
    warnings.filterwarnings("ignore")
    problem = get_problem(problem_name)
    observed: list[float] = []
    true: list[float] = []
    optimizer_seconds = 0.0
    error = None
    t0 = time.perf_counter()
    try:
        driver = make_driver(optimizer, problem, seed, settings)
        observed, true, optimizer_seconds = simulate(problem, driver, seed, workers, n_trials)
    except Exception:
        error = traceback.format_exc()
    return {"problem": problem_name, "optimizer": optimizer, "seed": seed, "workers": workers,
            "observed": observed, "true": true, "seconds": time.perf_counter() - t0,
            "optimizer_seconds": optimizer_seconds, "error": error}


# ====================================================================== analysis
def geomean(values: Sequence[float]) -> float:
    return float(math.exp(np.mean(np.log(values)))) if len(values) else math.nan


def analyse(runs: list[dict], problems: list[str], optimizers: list[str],
            workers: list[int]) -> dict:
    """Final regrets, ratios to random, ratios to 1 worker and ranks."""
    ok = [r for r in runs if r["error"] is None]
    refs = reference_values(ok)
    problems = [p for p in problems if p in refs]
    final: dict[str, dict[str, dict[int, dict[int, float]]]] = {}  # p -> o -> W -> seed -> r
    for r in ok:
        regret = float(incumbent_regret(r["observed"], r["true"], refs[r["problem"]])[-1])
        final.setdefault(r["problem"], {}).setdefault(r["optimizer"], {}).setdefault(
            r["workers"], {})[r["seed"]] = regret

    def finals(p: str, o: str, w: int) -> np.ndarray:
        by_seed = final.get(p, {}).get(o, {}).get(w, {})
        return np.array([by_seed[s] for s in sorted(by_seed)], dtype=float)

    floors = {}
    for p in problems:
        rand = np.concatenate([finals(p, "random", w) for w in workers]) \
            if "random" in optimizers else np.array([])
        floors[p] = FLOOR * float(rand.mean()) if len(rand) and rand.mean() > 0 else 1e-12

    def floored(p: str, o: str, w: int) -> np.ndarray:
        return np.maximum(finals(p, o, w), floors[p])

    # optimiser / random, per problem and W
    vs_random: dict[int, dict[str, dict[str, dict]]] = {}
    for w in workers:
        vs_random[w] = {}
        for p in problems:
            vs_random[w][p] = {}
            rand = floored(p, "random", w)
            for o in optimizers:
                a = floored(p, o, w)
                cell: dict[str, Any] = {"mean_regret": float(finals(p, o, w).mean())
                                        if len(a) else math.nan, "n": len(a)}
                if len(a) and len(rand) and o != "random":
                    cell["ratio"], cell["lo"], cell["hi"] = bootstrap_ratio(a, rand)
                vs_random[w][p][o] = cell
    geo_vs_random = {w: {o: geomean([vs_random[w][p][o]["ratio"] for p in problems
                                     if "ratio" in vs_random[w][p][o]])
                         for o in optimizers if o != "random"} for w in workers}

    # optimiser at W / the same optimiser at 1 worker
    vs_one: dict[int, dict[str, dict[str, dict]]] = {}
    geo_vs_one: dict[int, dict[str, float]] = {}
    if 1 in workers:
        for w in workers:
            if w == 1:
                continue
            vs_one[w] = {}
            for p in problems:
                vs_one[w][p] = {}
                for o in optimizers:
                    a, b = floored(p, o, w), floored(p, o, 1)
                    if len(a) and len(b):
                        ratio, lo, hi = bootstrap_ratio(a, b)
                        vs_one[w][p][o] = {"ratio": ratio, "lo": lo, "hi": hi}
            geo_vs_one[w] = {o: geomean([vs_one[w][p][o]["ratio"] for p in problems
                                         if o in vs_one[w][p]]) for o in optimizers}

    # mean rank among the optimisers, per W, over the (problem, seed) pairs all of them ran
    mean_rank: dict[int, dict[str, float]] = {}
    rank_per_problem: dict[int, dict[str, dict[str, float]]] = {}
    for w in workers:
        all_ranks: dict[str, list[float]] = {o: [] for o in optimizers}
        rank_per_problem[w] = {}
        for p in problems:
            by_opt = {o: final.get(p, {}).get(o, {}).get(w, {}) for o in optimizers}
            seeds = sorted(set.intersection(*(set(v) for v in by_opt.values())))
            per_p: dict[str, list[float]] = {o: [] for o in optimizers}
            for s in seeds:
                ranks = rankdata(np.array([by_opt[o][s] for o in optimizers]))
                for o, rank in zip(optimizers, ranks, strict=True):
                    per_p[o].append(float(rank))
                    all_ranks[o].append(float(rank))
            rank_per_problem[w][p] = {o: float(np.mean(v)) for o, v in per_p.items() if v}
        mean_rank[w] = {o: float(np.mean(v)) for o, v in all_ranks.items() if v}

    seconds = {w: {o: float(np.mean([r["optimizer_seconds"] for r in ok
                                      if r["optimizer"] == o and r["workers"] == w] or [math.nan]))
                   for o in optimizers} for w in workers}
    return {"refs": refs, "problems": problems, "final": final, "floors": floors,
            "vs_random": vs_random, "geo_vs_random": geo_vs_random, "vs_one": vs_one,
            "geo_vs_one": geo_vs_one, "mean_rank": mean_rank,
            "rank_per_problem": rank_per_problem, "optimizer_seconds": seconds,
            "errors": [r for r in runs if r["error"] is not None]}


# ====================================================================== ask(64) timing
def time_batch_ask(settings: dict, sizes: Sequence[int] = TIMING_SIZES,
                   repeats: int = TIMING_REPEATS, batch: int = TIMING_BATCH) -> dict[int, dict]:
    """Median wall time of `opt.ask(batch)` after n finished trials on a 10-d continuous space.

    Each repeat builds a fresh optimiser with the same n finished trials (add_trial with random
    params and a sphere value), so every timed call sees n finished and no pending trials."""
    space = {f"x{i}": tp.Float(0.0, 1.0) for i in range(10)}
    out = {}
    for n in sizes:
        rng = np.random.default_rng(n)
        X = rng.random((n, 10))
        values = np.sum((X - 0.3) ** 2, axis=1)
        times = []
        for rep in range(repeats):
            opt = make_tpe(space, seed=rep, **settings)
            for x, v in zip(X, values, strict=True):
                opt.add_trial({f"x{i}": float(x[i]) for i in range(10)}, float(v))
            t0 = time.perf_counter()
            trials = opt.ask(batch)
            times.append(time.perf_counter() - t0)
            assert len(trials) == batch
        out[n] = {"median_ms": 1000 * float(np.median(times)),
                  "times_ms": [1000 * t for t in times]}
        print(f"ask({batch}) after {n} finished trials: median {out[n]['median_ms']:.1f} ms "
              f"over {repeats}", flush=True)
    return out


# ====================================================================== report
def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) >= 1000 or abs(x) < 0.001:
        return f"{x:.2e}"
    return f"{x:.3g}"


def _ratio_cell(c: dict | None) -> str:
    if not c or "ratio" not in c:
        return ""
    return f"{c['ratio']:.3f} [{c['lo']:.2f}, {c['hi']:.2f}]"


def _w_table(opts: Sequence[str], names: dict[str, str], ws: Sequence[int],
             cell: Any) -> list[str]:
    """A markdown table with one row per optimiser and one column per W; cell(o, w) -> text."""
    lines = ["| optimiser | " + " | ".join(f"W={w}" for w in ws) + " |",
             "|---|" + "---:|" * len(ws)]
    lines += [f"| {names[o]} | " + " | ".join(cell(o, w) for w in ws) + " |" for o in opts]
    return lines


def markdown(result: dict, args: argparse.Namespace, command: str, elapsed: float,
             timing: dict | None) -> str:
    opts = args.optimizer_list
    ws = args.worker_list
    names = {o: (args.label if o == "tpe-plugins" else o) for o in opts}
    others = [o for o in opts if o != "random"]
    settings = ", ".join(f"{k}={v!r}" for k, v in args.settings.items()) or "defaults"
    lines = [
        "# Optimisation quality with W concurrent trials",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}",
        f"- date: {datetime.date.today().isoformat()}, wall time {elapsed / 60:.1f} min with "
        f"--jobs {args.jobs}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in args.versions.items()),
        f"- tpe_plugins core: git {args.core_revision}",
        f"- problems: {', '.join(result['problems'])}",
        f"- seeds {args.seeds} ({len(args.seed_list)} seeds) x {args.trials} trials per run; "
        f"W = {', '.join(map(str, ws))} simulated workers",
        f"- `{args.label}` = `tp.TPE(space, seed=s)` with settings: {settings}; optuna = "
        "`TPESampler(seed=s, constant_liar=True)`; hyperopt = Ray Tune's `HyperOptSearch` "
        "(hyperopt TPE) through the Searcher API; random = uniform samples",
        "- simulation: a trial is asked when a worker frees up, durations lognormal(0, 0.5) "
        "(the same for every optimiser), results told in completion order",
        "- regret = noiseless value of the incumbent minus the optimum; ratios use mean final "
        f"regrets over seeds, regrets floored at {FLOOR:g} x random's mean regret of the "
        "problem; [lo, hi] = 95% bootstrap interval over seeds",
        "",
    ]
    if others and "random" in opts:
        lines += ["## Regret relative to random search", "",
                  "Geometric mean over problems of (mean final regret / random's mean final "
                  "regret); lower is better, < 1 beats random.", ""]
        lines += _w_table(others, names, ws, lambda o, w: f"{result['geo_vs_random'][w][o]:.3f}")
        lines.append("")
    lines += ["## Mean rank", "",
              "Rank of the final regret among the optimisers on each (problem, seed), 1 = best, "
              "averaged over problems and seeds.", ""]
    lines += _w_table(opts, names, ws,
                      lambda o, w: f"{result['mean_rank'][w].get(o, math.nan):.2f}")
    lines.append("")
    if result["geo_vs_one"]:
        wide = [w for w in ws if w != 1]
        targets = ", ".join(f"within {t:g}x at {w} workers" for w, t in TARGETS.items())
        lines += ["## Regret at W workers relative to 1 worker", "",
                  "Geometric mean over problems of (mean final regret at W / mean final regret "
                  f"at 1 worker), per optimiser. Targets for tpe-plugins: {targets}.", ""]
        lines += _w_table(opts, names, wide, lambda o, w: f"{result['geo_vs_one'][w][o]:.2f}")
        if "tpe-plugins" in opts:
            verdicts = []
            for w, target in TARGETS.items():
                if w in result["geo_vs_one"]:
                    ratio = result["geo_vs_one"][w]["tpe-plugins"]
                    ok = "met" if ratio <= target else "MISSED"
                    verdicts.append(f"{w} workers {ratio:.2f}x (target {target:g}x: {ok})")
            if verdicts:
                lines += ["", f"{args.label}: " + "; ".join(verdicts) + "."]
            lines += ["", f"Per problem, {args.label} (W / 1 worker):", "",
                      "| problem | " + " | ".join(f"W={w}" for w in wide) + " |",
                      "|---|" + "---:|" * len(wide)]
            for p in result["problems"]:
                lines.append(f"| {p} | " + " | ".join(
                    _ratio_cell(result["vs_one"][w][p].get("tpe-plugins")) for w in wide)
                    + " |")
        lines.append("")
    if others and "random" in opts:
        for w in ws:
            lines += [f"## W = {w}: per problem, regret / random", "",
                      "| problem | " + " | ".join(names[o] for o in others)
                      + " | random mean regret |",
                      "|---|" + "---:|" * len(others) + "---:|"]
            for p in result["problems"]:
                row = result["vs_random"][w][p]
                lines.append(f"| {p} | " + " | ".join(_ratio_cell(row.get(o)) for o in others)
                             + f" | {_fmt(row['random']['mean_regret'])} |")
            lines.append("| **geometric mean** | " + " | ".join(
                f"**{result['geo_vs_random'][w][o]:.3f}**" for o in others) + " | |")
            lines.append("")
    lines += ["## Optimiser time", "",
              "Mean seconds per run spent in ask and tell.", "",
              "| optimiser | " + " | ".join(f"W={w}" for w in ws) + " |",
              "|---|" + "---:|" * len(ws)]
    for o in opts:
        lines.append(f"| {names[o]} | " + " | ".join(
            f"{result['optimizer_seconds'][w][o]:.2f}" for w in ws) + " |")
    lines.append("")
    if timing:
        lines += [f"## tpe-plugins ask({TIMING_BATCH}) wall time", "",
                  f"`opt.ask({TIMING_BATCH})` on a 10-d continuous space after n finished "
                  f"trials (added with add_trial), no pending trials; median of "
                  f"{TIMING_REPEATS} calls, each on a fresh optimiser; settings: {settings}.", "",
                  "| finished trials | median ms |", "|---:|---:|"]
        for n, t in timing.items():
            lines.append(f"| {n} | {t['median_ms']:.1f} |")
        lines.append("")
    if result["errors"]:
        lines += ["## Failed runs", ""]
        for r in result["errors"]:
            last = r["error"].strip().splitlines()[-1]
            lines.append(f"- {r['problem']} / {r['optimizer']} / seed {r['seed']} / "
                         f"W={r['workers']}: `{last}`")
        lines.append("")
    return "\n".join(lines)


def write_json(path: Path, runs: list[dict], result: dict, args: argparse.Namespace,
               command: str, timing: dict | None) -> None:
    final = {p: {o: {str(w): {str(s): v for s, v in by_seed.items()}
                     for w, by_seed in by_w.items()} for o, by_w in by_o.items()}
             for p, by_o in result["final"].items()}

    def keyed(d: dict) -> dict:
        return {str(k): v for k, v in d.items()}

    data = {
        "command": command, "machine": machine(), "date": datetime.date.today().isoformat(),
        "versions": args.versions, "core_revision": args.core_revision,
        "seeds": args.seed_list, "trials": args.trials, "workers": args.worker_list,
        "problems": result["problems"], "optimizers": args.optimizer_list,
        "tpe_plugins_label": args.label, "tpe_plugins_settings": args.settings,
        "reference_values": result["refs"], "regret_floor": result["floors"],
        "final_regret": final,  # problem -> optimizer -> W -> seed -> final regret
        "ratio_to_random": keyed(result["vs_random"]),
        "geomean_ratio_to_random": keyed(result["geo_vs_random"]),
        "ratio_to_one_worker": keyed(result["vs_one"]),
        "geomean_ratio_to_one_worker": keyed(result["geo_vs_one"]),
        "mean_rank": keyed(result["mean_rank"]),
        "rank_per_problem": keyed(result["rank_per_problem"]),
        "optimizer_seconds": keyed(result["optimizer_seconds"]),
        "ask_timing": keyed(timing) if timing else None,
        "runs": [{k: r[k] for k in ("problem", "optimizer", "seed", "workers", "observed", "true",
                                    "seconds", "optimizer_seconds", "error")} for r in runs],
    }
    path.write_text(json.dumps(data, default=str))


# ====================================================================== main
def parse_seeds(text: str) -> list[int]:
    """'0-9' -> 0..9, '3' -> [3], '0,4,7' -> those; ranges and lists may be mixed."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-")
            seeds += list(range(int(lo), int(hi) + 1))
        elif part:
            seeds.append(int(part))
    return seeds


def parse_settings(text: str) -> dict:
    """'n_startup_trials=16,gamma=linear' -> {'n_startup_trials': 16, 'gamma': 'linear'}."""
    settings: dict = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, _, value = part.partition("=")
        try:
            settings[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            settings[key.strip()] = value.strip()
    return settings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default=None,
                    help=f"comma list (default {','.join(DEFAULT_PROBLEMS)}); any of "
                    f"{','.join(PROBLEMS)}; 'heldout' = {','.join(HELDOUT_PROBLEMS)}")
    ap.add_argument("--seeds", default=None, help="e.g. 0-9 (default) or 10-29 or 0,3,5")
    ap.add_argument("--workers", default=None, help="comma list of W (default 1,8,32,64)")
    ap.add_argument("--trials", type=int, default=100, help="trials per run (default 100)")
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS),
                    help=f"comma list of {','.join(OPTIMIZERS)}")
    ap.add_argument("--quick", action="store_true",
                    help=f"problems {','.join(QUICK_PROBLEMS)}, seeds 0-1, workers 1,8 (unless "
                    "given explicitly)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--settings", default="",
                    help="extra keyword settings for tp.TPE, e.g. n_startup_trials=16,gamma=0.2")
    ap.add_argument("--label", default=None, help="name of the tpe-plugins variant in the output")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="result path stem: writes <out>.md and <out>.json")
    ap.add_argument("--no-timing", action="store_true", help="skip the ask(64) timing")
    args = ap.parse_args(argv)
    if args.problems is None:
        args.problems = ",".join(QUICK_PROBLEMS if args.quick else DEFAULT_PROBLEMS)
    if args.seeds is None:
        args.seeds = "0-1" if args.quick else "0-9"
    if args.workers is None:
        args.workers = "1,8" if args.quick else "1,8,32,64"
    args.problem_list = problem_names(args.problems)
    args.seed_list = parse_seeds(args.seeds)
    args.worker_list = [int(w) for w in args.workers.split(",") if w.strip()]
    args.optimizer_list = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    for o in args.optimizer_list:
        if o not in OPTIMIZERS:
            ap.error(f"unknown optimizer {o!r}; known: {', '.join(OPTIMIZERS)}")
    if not args.seed_list or not args.worker_list or min(args.worker_list) < 1:
        ap.error("need at least one seed and worker counts >= 1")
    args.settings = parse_settings(args.settings)
    try:
        make_tpe({"x": tp.Float(0.0, 1.0)}, **args.settings)  # refuse bad settings now
    except (TypeError, ValueError) as e:
        ap.error(f"--settings: {e}")
    if args.label is None:
        text = ",".join(f"{k}={v}" for k, v in args.settings.items())
        args.label = f"tpe-plugins ({text})" if text else "tpe-plugins"
    return args


def make_tasks(args: argparse.Namespace) -> list[Task]:
    cost = {"optuna": 0, "hyperopt": 1, "tpe-plugins": 2, "random": 3}  # slowest first
    tasks = [(p, o, s, w, args.trials, args.settings if o == "tpe-plugins" else {})
             for p in args.problem_list for o in args.optimizer_list for s in args.seed_list
             for w in args.worker_list]
    return sorted(tasks, key=lambda t: (cost[t[1]], -t[3]))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    args.core_revision = core_revision()
    args.versions = library_versions()
    try:
        args.versions["ray"] = metadata.version("ray")
    except metadata.PackageNotFoundError:
        args.versions["ray"] = "not installed"
    command = "python benchmarks/parallel.py" + "".join(
        f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    tasks = make_tasks(args)
    print(f"{len(tasks)} runs on {args.jobs} processes: {len(args.problem_list)} problems, "
          f"seeds {args.seeds}, W {args.worker_list}, {args.trials} trials, "
          f"{args.label}", flush=True)
    start = time.perf_counter()
    runs = run_tasks(tasks, run_one, args.jobs, lambda r: (
        f"{r['problem']} {r['optimizer']} seed={r['seed']} W={r['workers']}"))
    timing = None if args.no_timing else time_batch_ask(args.settings)
    elapsed = time.perf_counter() - start

    result = analyse(runs, args.problem_list, args.optimizer_list, args.worker_list)
    text = markdown(result, args, command, elapsed, timing)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    md_path = args.out.with_name(args.out.name + ".md")
    json_path = args.out.with_name(args.out.name + ".json")
    md_path.write_text(text)
    write_json(json_path, runs, result, args, command, timing)
    print(text)
    print(f"wrote {md_path} and {json_path} in {elapsed / 60:.1f} min")


if __name__ == "__main__":
    main()
