"""Optimisation quality: tpe-plugins TPE against optuna TPE, hyperopt TPE and random search.

Every optimiser runs `--trials` evaluations on every problem of `benchmarks/problems.py` for each
of `--seeds` seeds; optuna's GPSampler runs as a reference on the 2-6-d continuous problems.
The regret of a run after i trials is the noiseless value of its incumbent (the trial with the
best observed value so far) minus the optimum; for model tuning the optimum is the best value
any optimiser found in this run of the benchmark.

    python benchmarks/quality.py                      # 10 seeds x 100 trials, every problem
    python benchmarks/quality.py --quick              # 3 seeds x 30 trials, 4 problems
    python benchmarks/quality.py --problems branin,mixed --optimizers tpe_plugins,random

Writes benchmarks/results/quality.md, quality.json (raw values) and best_so_far.png.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from problems import (  # noqa: E402
    PROBLEMS,
    TUNED_PROBLEMS,
    Problem,
    from_hyperopt,
    get_problem,
    hyperopt_space,
    problem_names,
    sample_uniform,
    suggest_optuna,
)
from report import core_revision, machine, run_tasks  # noqa: E402

MAIN_OPTIMIZERS = ("tpe_plugins", "optuna_tpe", "hyperopt_tpe", "random")
REFERENCE_OPTIMIZERS = ("optuna_gp",)
GP_PROBLEMS = ("branin", "hartmann3", "hartmann6")  # the 2-6-d continuous problems
LABELS = {"tpe_plugins": "tpe-plugins TPE", "optuna_tpe": "optuna TPE",
          "hyperopt_tpe": "hyperopt TPE", "random": "random", "optuna_gp": "optuna GP (ref.)"}
QUICK_PROBLEMS = ("branin", "hartmann6", "mixed", "conditional")
RESULTS = Path(__file__).resolve().parent / "results"
REGRET_FLOOR = 1e-8  # plots only: a log axis cannot show a regret of exactly 0

Evaluate = Callable[[Any], float]


# ====================================================================== one run
def _run_tpe_plugins(problem: Problem, seed: int, n_trials: int, evaluate: Evaluate) -> None:
    import tpe_plugins as tp

    opt = tp.TPE(problem.space, seed=seed)
    for _ in range(n_trials):
        trial = opt.ask()
        opt.tell(trial, evaluate(trial.params))


def _run_optuna(problem: Problem, seed: int, n_trials: int, evaluate: Evaluate,
                sampler_name: str) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler_name == "gp":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.GPSampler(seed=seed)
    elif sampler_name == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    for _ in range(n_trials):
        trial = study.ask()
        study.tell(trial, evaluate(suggest_optuna(trial, problem.space)))


def _run_hyperopt(problem: Problem, seed: int, n_trials: int, evaluate: Evaluate) -> None:
    from hyperopt import STATUS_OK, Trials, fmin, tpe

    def objective(sample: Any) -> dict:
        return {"loss": evaluate(from_hyperopt(problem.space, sample)), "status": STATUS_OK}

    fmin(objective, hyperopt_space(problem.space), algo=tpe.suggest, max_evals=n_trials,
         trials=Trials(), rstate=np.random.default_rng(seed), show_progressbar=False,
         verbose=False)


def _run_random(problem: Problem, seed: int, n_trials: int, evaluate: Evaluate) -> None:
    rng = np.random.default_rng([seed, 1])
    for _ in range(n_trials):
        evaluate(sample_uniform(problem.space, rng))


def run_one(task: tuple[str, str, int, int]) -> dict:
    """One optimiser on one problem with one seed: every observed and noiseless value."""
    problem_name, optimizer, seed, n_trials = task
    warnings.filterwarnings("ignore")
    problem = get_problem(problem_name)
    noise_rng = np.random.default_rng([seed, 2])  # the same noise sequence for every optimiser
    observed: list[float] = []
    true: list[float] = []
    objective_seconds = 0.0

    def evaluate(params: Any) -> float:
        nonlocal objective_seconds
        t0 = time.perf_counter()
        y, f = problem.evaluate(params, noise_rng)
        objective_seconds += time.perf_counter() - t0
        observed.append(y)
        true.append(f)
        return y

    runners: dict[str, Callable[[], None]] = {
        "tpe_plugins": lambda: _run_tpe_plugins(problem, seed, n_trials, evaluate),
        "optuna_tpe": lambda: _run_optuna(problem, seed, n_trials, evaluate, "tpe"),
        "optuna_gp": lambda: _run_optuna(problem, seed, n_trials, evaluate, "gp"),
        "hyperopt_tpe": lambda: _run_hyperopt(problem, seed, n_trials, evaluate),
        "random": lambda: _run_random(problem, seed, n_trials, evaluate),
    }
    error = None
    t0 = time.perf_counter()
    try:
        runners[optimizer]()
    except Exception:
        error = traceback.format_exc()
    seconds = time.perf_counter() - t0
    if error is None and len(observed) != n_trials:
        error = f"ran {len(observed)} trials instead of {n_trials}"
    return {"problem": problem_name, "optimizer": optimizer, "seed": seed,
            "observed": observed, "true": true, "seconds": seconds,
            "optimizer_seconds": seconds - objective_seconds, "error": error}


# ====================================================================== analysis
def incumbent_regret(observed: Sequence[float], true: Sequence[float], ref: float) -> np.ndarray:
    """Regret after each trial: noiseless value of the best-observed trial so far, minus ref."""
    obs = np.asarray(observed, dtype=float)
    tru = np.asarray(true, dtype=float)
    best_idx = np.zeros(len(obs), dtype=int)
    for i in range(1, len(obs)):
        best_idx[i] = i if obs[i] < obs[best_idx[i - 1]] else best_idx[i - 1]
    return tru[best_idx] - ref


def reference_values(runs: list[dict]) -> dict[str, float]:
    """Known optimum per problem, or for model tuning the best value seen in this run."""
    refs = {}
    for name in sorted({r["problem"] for r in runs}):
        problem = get_problem(name)
        if problem.optimum is not None:
            refs[name] = problem.optimum
        else:
            refs[name] = min(min(r["true"]) for r in runs if r["problem"] == name and r["true"])
    return refs


def bootstrap_ratio(a: np.ndarray, b: np.ndarray, n_boot: int = 2000,
                    seed: int = 0) -> tuple[float, float, float]:
    """mean(a) / mean(b) and its 95% bootstrap interval (seeds resampled independently)."""
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, len(a), (n_boot, len(a)))
    ib = rng.integers(0, len(b), (n_boot, len(b)))
    with np.errstate(divide="ignore", invalid="ignore"):
        boots = a[ia].mean(axis=1) / b[ib].mean(axis=1)
        ratio = a.mean() / b.mean()
    lo, hi = np.nanpercentile(boots, [2.5, 97.5])
    return float(ratio), float(lo), float(hi)


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks from 1 (smallest), ties sharing their average rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_vals = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def analyse(runs: list[dict]) -> dict:
    """Curves, finals, ratios to random and ranks, per problem and optimiser."""
    ok = [r for r in runs if r["error"] is None]
    refs = reference_values(ok)
    problems = [p for p in PROBLEMS if p in refs]
    optimizers = [o for o in (*MAIN_OPTIMIZERS, *REFERENCE_OPTIMIZERS)
                  if any(r["optimizer"] == o for r in ok)]
    curves: dict[str, dict[str, dict[int, np.ndarray]]] = {p: {} for p in problems}
    for r in ok:
        curve = incumbent_regret(r["observed"], r["true"], refs[r["problem"]])
        curves[r["problem"]].setdefault(r["optimizer"], {})[r["seed"]] = curve

    table: dict[str, dict[str, dict]] = {}
    ranks: dict[str, dict[str, float]] = {}
    main = [o for o in optimizers if o in MAIN_OPTIMIZERS]
    all_ranks: dict[str, list[float]] = {o: [] for o in main}
    for p in problems:
        table[p] = {}
        for o, by_seed in curves[p].items():
            finals = np.array([by_seed[s][-1] for s in sorted(by_seed)])
            row = {"mean": float(finals.mean()),
                   "sem": float(finals.std(ddof=1) / math.sqrt(len(finals)))
                   if len(finals) > 1 else 0.0,
                   "median": float(np.median(finals)), "n": len(finals)}
            if "random" in curves[p]:
                rand = np.array([v[-1] for v in curves[p]["random"].values()])
                row["ratio"], row["ratio_lo"], row["ratio_hi"] = bootstrap_ratio(finals, rand)
            table[p][o] = row
        # ranks among the main optimisers, per seed that all of them ran
        present = [o for o in main if o in curves[p]]
        seeds = sorted(set.intersection(*(set(curves[p][o]) for o in present))) if present \
            else []
        per_opt: dict[str, list[float]] = {o: [] for o in present}
        for s in seeds:
            r = rankdata(np.array([curves[p][o][s][-1] for o in present]))
            for o, rank in zip(present, r, strict=True):
                per_opt[o].append(float(rank))
                all_ranks[o].append(float(rank))
        ranks[p] = {o: float(np.mean(v)) for o, v in per_opt.items() if v}
    mean_rank = {o: float(np.mean(v)) for o, v in all_ranks.items() if v}
    overhead = {o: float(np.mean([r["optimizer_seconds"] for r in ok if r["optimizer"] == o]))
                for o in optimizers}
    return {"refs": refs, "problems": problems, "optimizers": optimizers, "curves": curves,
            "table": table, "ranks": ranks, "mean_rank": mean_rank, "overhead": overhead,
            "errors": [r for r in runs if r["error"] is not None]}


# ====================================================================== report
def library_versions() -> dict[str, str]:
    versions = {}
    for name in ("tpe-plugins", "optuna", "hyperopt", "numpy", "scipy", "scikit-learn", "torch"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 1000 or abs(x) < 0.001:
        return f"{x:.2e}"
    return f"{x:.3g}"


def write_markdown(path: Path, result: dict, args: argparse.Namespace, command: str,
                   elapsed: float) -> None:
    opts = result["optimizers"]
    main = [o for o in opts if o in MAIN_OPTIMIZERS]
    ratio_opts = [o for o in opts if o != "random"]
    lines = [
        "# Optimisation quality",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}",
        f"- date: {datetime.date.today().isoformat()}, wall time {elapsed / 60:.1f} min "
        f"with {args.jobs} worker processes"
        + (f" ({args.reused} runs of the other libraries reused from `{args.reuse}`; "
           "they do not depend on the core)" if args.reused else ""),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in library_versions().items()),
        f"- tpe_plugins core: git {args.core_revision}",
        f"- {args.seeds} seeds x {args.trials} trials per problem and optimiser; "
        "optuna GPSampler only on " + ", ".join(GP_PROBLEMS),
        "- optimisers at their defaults, seeded: `tp.TPE(space, seed=s)`, "
        "`optuna.samplers.TPESampler(seed=s)`, hyperopt `tpe.suggest` with "
        "`rstate=default_rng(s)`, random = uniform sampling of the same space, "
        "`optuna.samplers.GPSampler(seed=s)`",
        "- regret = noiseless value of the incumbent (best observed trial) minus the optimum; "
        "for model tuning (`ml`) the optimum is the best value seen by any optimiser in this run",
        "",
        "## Final regret relative to random search",
        "",
        "Ratio of mean final regrets, optimiser / random, with a 95% bootstrap interval over "
        "seeds (lower is better; < 1 beats random). Last column: mean final regret of random.",
        "",
        "| problem | kind | params | " + " | ".join(LABELS[o] for o in ratio_opts)
        + " | random regret |",
        "|---|---|---|" + "---|" * len(ratio_opts) + "---|",
    ]
    log_ratios: dict[str, list[float]] = {o: [] for o in ratio_opts}
    for p in result["problems"]:
        problem = get_problem(p)
        row = result["table"][p]
        cells = []
        for o in ratio_opts:
            if o not in row or "ratio" not in row[o]:
                cells.append("")
                continue
            c = row[o]
            best = min((row[q]["ratio"] for q in ratio_opts if q in row and "ratio" in row[q]
                        and q in MAIN_OPTIMIZERS), default=None)
            text = f"{c['ratio']:.3f} [{c['ratio_lo']:.2f}, {c['ratio_hi']:.2f}]"
            cells.append(f"**{text}**" if c["ratio"] == best and o in MAIN_OPTIMIZERS else text)
            if c["ratio"] > 0 and math.isfinite(c["ratio"]):
                log_ratios[o].append(math.log(c["ratio"]))
        rand = _fmt(row["random"]["mean"]) if "random" in row else ""
        lines.append(f"| {p} | {problem.kind} | {problem.n_params} | " + " | ".join(cells)
                     + f" | {rand} |")
    geo = [f"{math.exp(np.mean(v)):.3f}" if v and o in MAIN_OPTIMIZERS else "" for o, v in
           log_ratios.items()]
    lines.append("| **geometric mean** | | | " + " | ".join(geo) + " | |")

    lines += ["", "## Mean rank", "",
              "Rank of the final regret among the main optimisers, per problem and seed "
              "(1 = best, ties share the average rank), averaged over seeds.", "",
              "| problem | " + " | ".join(LABELS[o] for o in main) + " |",
              "|---|" + "---|" * len(main)]
    for p in result["problems"]:
        r = result["ranks"][p]
        best = min(r.values()) if r else None
        cells = [(f"**{r[o]:.2f}**" if r[o] == best else f"{r[o]:.2f}") if o in r else ""
                 for o in main]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines.append("| **all problems** | " + " | ".join(
        f"**{result['mean_rank'][o]:.2f}**" if o in result["mean_rank"] else "" for o in main)
        + " |")

    lines += ["", "## Mean final regret", "",
              "Mean final regret +- standard error over seeds (lower is better).", "",
              "| problem | optimum | " + " | ".join(LABELS[o] for o in opts) + " |",
              "|---|---|" + "---|" * len(opts)]
    for p in result["problems"]:
        row = result["table"][p]
        ref = result["refs"][p]
        ref_text = f"{ref:.6g}" if get_problem(p).optimum is not None else f"{ref:.6g} (seen)"
        cells = [f"{_fmt(row[o]['mean'])} +- {_fmt(row[o]['sem'])}" if o in row else ""
                 for o in opts]
        lines.append(f"| {p} | {ref_text} | " + " | ".join(cells) + " |")
    lines += ["", "## Optimiser time", "",
              "Mean seconds per run spent in the optimiser (run time minus objective time).", "",
              "| " + " | ".join(LABELS[o] for o in opts) + " |", "|" + "---|" * len(opts),
              "| " + " | ".join(f"{result['overhead'][o]:.2f}" for o in opts) + " |"]
    if result["errors"]:
        lines += ["", "## Failed runs", ""]
        for r in result["errors"]:
            last = r["error"].strip().splitlines()[-1]
            lines.append(f"- {r['problem']} / {r['optimizer']} / seed {r['seed']}: `{last}`")
    lines += ["", "Curves: `best_so_far.png` (median over seeds, shaded: interquartile range). "
              "Raw values: `quality.json`.", ""]
    path.write_text("\n".join(lines))


def write_json(path: Path, runs: list[dict], result: dict, args: argparse.Namespace,
               command: str) -> None:
    finals: dict[str, dict[str, dict[str, float]]] = {}
    curves: dict[str, dict[str, dict[str, list[float]]]] = {}
    for p, by_opt in result["curves"].items():
        finals[p] = {o: {str(s): float(c[-1]) for s, c in by_seed.items()}
                     for o, by_seed in by_opt.items()}
        curves[p] = {o: {str(s): [float(v) for v in c] for s, c in by_seed.items()}
                     for o, by_seed in by_opt.items()}
    data = {
        "command": command, "machine": machine(), "date": datetime.date.today().isoformat(),
        "versions": library_versions(), "core_revision": args.core_revision,
        "seeds": args.seeds, "trials": args.trials,
        "reference_values": result["refs"], "final_regret": finals,
        "summary": {p: result["table"][p] for p in result["problems"]},
        "mean_rank": result["mean_rank"], "rank_per_problem": result["ranks"],
        "optimizer_seconds": result["overhead"], "regret_curves": curves,
        "runs": [{k: r[k] for k in ("problem", "optimizer", "seed", "observed", "true",
                                    "seconds", "optimizer_seconds", "error")} for r in runs],
    }
    path.write_text(json.dumps(data, indent=1))


def plot(path: Path, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = result["problems"]
    ncols = min(4, len(problems))
    nrows = math.ceil(len(problems) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    colors = {"tpe_plugins": "C3", "optuna_tpe": "C0", "hyperopt_tpe": "C2", "random": "0.5",
              "optuna_gp": "C4"}
    for ax, p in zip(axes.flat, problems, strict=False):
        for o in result["optimizers"]:
            by_seed = result["curves"][p].get(o)
            if not by_seed:
                continue
            c = np.maximum(np.array(list(by_seed.values())), REGRET_FLOOR)
            x = np.arange(1, c.shape[1] + 1)
            style = "--" if o in REFERENCE_OPTIMIZERS else "-"
            ax.plot(x, np.median(c, axis=0), style, color=colors[o], label=LABELS[o], lw=1.5)
            ax.fill_between(x, np.percentile(c, 25, axis=0), np.percentile(c, 75, axis=0),
                            color=colors[o], alpha=0.12, lw=0)
        ax.set_yscale("log")
        ax.set_title(f"{p} ({get_problem(p).kind})", fontsize=10)
        ax.set_xlabel("trials", fontsize=8)
        ax.set_ylabel("regret", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, which="both", lw=0.4)
    for ax in list(axes.flat)[len(problems):]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
    fig.suptitle("Best-so-far regret (median over seeds, IQR shaded)", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ====================================================================== main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=None, help="seeds per problem (default 10)")
    ap.add_argument("--trials", type=int, default=None, help="trials per run (default 100)")
    ap.add_argument("--problems", default=None,
                    help=f"comma list (default: all): {','.join(PROBLEMS)}")
    ap.add_argument("--optimizers", default=",".join(MAIN_OPTIMIZERS + REFERENCE_OPTIMIZERS),
                    help="comma list of " + ",".join(MAIN_OPTIMIZERS + REFERENCE_OPTIMIZERS))
    ap.add_argument("--quick", action="store_true",
                    help=f"3 seeds, 30 trials, problems {','.join(QUICK_PROBLEMS)}")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="output folder")
    ap.add_argument("--reuse", type=Path, default=None,
                    help="an earlier quality.json: its runs of the other libraries (not "
                    "tpe_plugins) with the same problem, seed and trials are reused, not rerun; "
                    "they do not depend on the core")
    args = ap.parse_args(argv)
    args.seeds = args.seeds or (3 if args.quick else 10)
    args.trials = args.trials or (30 if args.quick else 100)
    if args.problems is None:
        args.problems = ",".join(QUICK_PROBLEMS if args.quick else TUNED_PROBLEMS)
    args.problem_list = problem_names(args.problems)
    args.optimizer_list = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    for o in args.optimizer_list:
        if o not in LABELS:
            ap.error(f"unknown optimizer {o!r}; known: {', '.join(LABELS)}")
    return args


def load_reusable(path: Path, tasks: list[tuple[str, str, int, int]]) -> list[dict]:
    """Runs of an earlier quality.json that match a task and do not involve the core."""
    wanted = {t[:3]: t[3] for t in tasks if t[1] != "tpe_plugins"}
    out = []
    for r in json.loads(path.read_text())["runs"]:
        key = (r["problem"], r["optimizer"], r["seed"])
        if r["error"] is None and wanted.get(key) == len(r["observed"]):
            out.append(r)
    return out


def make_tasks(args: argparse.Namespace) -> list[tuple[str, str, int, int]]:
    tasks = []
    for p in args.problem_list:
        for o in args.optimizer_list:
            if o == "optuna_gp" and p not in GP_PROBLEMS:
                continue
            for s in range(args.seeds):
                tasks.append((p, o, s, args.trials))

    def cost(task: tuple[str, str, int, int]) -> int:  # longest first, for load balance
        return 2 * (get_problem(task[0]).kind == "ml") + (task[1] == "optuna_gp")

    return sorted(tasks, key=cost, reverse=True)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    args.core_revision = core_revision()
    command = "python benchmarks/quality.py" + "".join(
        f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    tasks = make_tasks(args)
    reused = load_reusable(args.reuse, tasks) if args.reuse else []
    done = {(r["problem"], r["optimizer"], r["seed"]) for r in reused}
    tasks = [t for t in tasks if t[:3] not in done]
    if reused:
        print(f"reusing {len(reused)} runs from {args.reuse}", flush=True)
    print(f"{len(tasks)} runs on {args.jobs} workers: {len(args.problem_list)} problems, "
          f"{args.seeds} seeds, {args.trials} trials", flush=True)
    start = time.perf_counter()
    runs = run_tasks(tasks, run_one, args.jobs,
                     lambda r: f"{r['problem']} {r['optimizer']} seed={r['seed']}")
    elapsed = time.perf_counter() - start
    args.reused = len(reused)
    runs += reused

    result = analyse(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "quality.json", runs, result, args, command)
    write_markdown(args.out / "quality.md", result, args, command, elapsed)
    plot(args.out / "best_so_far.png", result)
    print((args.out / "quality.md").read_text())
    print(f"wrote {args.out / 'quality.md'}, quality.json, best_so_far.png "
          f"in {elapsed / 60:.1f} min")


if __name__ == "__main__":
    main()
