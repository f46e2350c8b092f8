"""Several objectives and constraints: tpe-plugins against optuna's TPE, NSGA-II and random.

Multi-objective problems, every optimiser at its defaults, the same seeds, 100 trials:

- zdt1, zdt2, zdt3: 2 objectives, 6 parameters (convex, concave and disconnected fronts);
- dtlz2: 3 objectives, 7 parameters;
- network: validation loss after 27 epochs against log10 of the parameter count of the MLP of
  `learning_curves.py` on digits (a real trade-off of accuracy against size, read from the
  tabulated training runs).

Reported: the hypervolume of each run's Pareto front (objectives as given, the reference point
of each problem below), mean over seeds, and its ratio to random search's.

Constrained problems (one objective, feasible when every constraint is <= 0, a known feasible
optimum): tpe-plugins with `tell(..., constraints=...)` (the default feasibility-first split,
and the benchmark-only variant `constraint_rule="ctpe"`, set through a private hook: one
density ratio per constraint, after Watanabe & Hutter's c-TPE) against optuna's TPE with
`constraints_func`, and random search; reported: the best feasible value's gap to the optimum.

Held-out suite (`--suite heldout`), added after the split rule and every default were fixed
and run once on seeds 10-29: zdt4 (many local fronts), zdt6 (non-uniform front), dtlz7 (3
objectives, a disconnected front), network_bc (the network trade-off on breast_cancer); and
constrained disk4 (a ball in 4-d) and lin3 (a linear objective on a ball's surface).

    python benchmarks/multiobjective.py             # 10 seeds, under a minute on 2 cores
    python benchmarks/multiobjective.py --quick     # 2 seeds
    python benchmarks/multiobjective.py --suite heldout --first-seed 10 --seeds 20 \
        --out benchmarks/results/multiobjective_heldout
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
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_variants import make_tpe  # noqa: E402
from report import core_revision, machine, run_tasks  # noqa: E402

import tpe_plugins as tp  # noqa: E402
from tpe_plugins.pareto import front_ranks, hypervolume  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "multiobjective"
OPTIMIZERS = ("tpe-plugins", "optuna-tpe", "optuna-nsga2", "random")
C_OPTIMIZERS = ("tpe-plugins", "tpe-plugins c-TPE", "optuna-tpe", "random")


def _x(p: dict, n: int) -> np.ndarray:
    return np.array([p[f"x{i}"] for i in range(n)])


def zdt(kind: int):
    def f(p: dict) -> list[float]:
        x = _x(p, 6)
        g = 1.0 + 9.0 * x[1:].mean()
        r = x[0] / g
        h = {1: 1 - math.sqrt(r), 2: 1 - r * r,
             3: 1 - math.sqrt(r) - r * math.sin(10 * math.pi * x[0])}[kind]
        return [float(x[0]), float(g * h)]
    return f


def dtlz2(p: dict) -> list[float]:
    x = _x(p, 7)
    g = float(np.sum((x[2:] - 0.5) ** 2))
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return [(1 + g) * math.cos(a) * math.cos(b), (1 + g) * math.cos(a) * math.sin(b),
            (1 + g) * math.sin(a)]


def zdt4(p: dict) -> list[float]:
    """ZDT4 on 6 variables: many local fronts (x1..x5 rescaled from [0, 1] to [-5, 5])."""
    x = _x(p, 6)
    z = 10.0 * x[1:] - 5.0
    g = 1.0 + 10.0 * len(z) + float(np.sum(z * z - 10.0 * np.cos(4.0 * math.pi * z)))
    return [float(x[0]), g * (1.0 - math.sqrt(x[0] / g))]


def zdt6(p: dict) -> list[float]:
    """ZDT6 on 6 variables: a non-uniform density of solutions along the front."""
    x = _x(p, 6)
    f1 = 1.0 - math.exp(-4.0 * x[0]) * math.sin(6.0 * math.pi * x[0]) ** 6
    g = 1.0 + 9.0 * float(x[1:].mean()) ** 0.25
    return [f1, g * (1.0 - (f1 / g) ** 2)]


def dtlz7(p: dict) -> list[float]:
    """DTLZ7 with 3 objectives on 7 variables: a front in four disconnected pieces."""
    x = _x(p, 7)
    g = 1.0 + 9.0 * float(x[2:].mean())
    h = 3.0 - sum(f / (1.0 + g) * (1.0 + math.sin(3.0 * math.pi * f)) for f in x[:2])
    return [float(x[0]), float(x[1]), (1.0 + g) * h]


def network_problem(data: str = "digits"):
    import learning_curves as lc

    table = lc.load(data)

    def f(p: dict) -> list[float]:
        width, layers = 2 ** p["log2_width"], p["layers"]
        n_params = 64 * width + width + (layers - 1) * (width * width + width) + width * 10 + 10
        return [float(table.curve(p)[-1]), math.log10(n_params)]
    return lc.SPACE, f


def unit_space(n: int) -> dict:
    return {f"x{i}": tp.Float(0.0, 1.0) for i in range(n)}


def problems(suite: str = "tuned") -> dict:
    """name: (space, objective, modes, reference point). "tuned": the problems the
    multi-objective split was designed on; "heldout": added after it was fixed, run once."""
    if suite == "heldout":
        space, net = network_problem("breast_cancer")
        return {
            "zdt4": (unit_space(6), zdt4, ["min", "min"], [1.1, 120.0]),
            "zdt6": (unit_space(6), zdt6, ["min", "min"], [1.1, 10.0]),
            "dtlz7": (unit_space(7), dtlz7, ["min", "min", "min"], [1.1, 1.1, 25.0]),
            "network_bc": (space, net, ["min", "min"], [1.0, 5.5]),
        }
    space, net = network_problem()
    return {
        "zdt1": (unit_space(6), zdt(1), ["min", "min"], [1.1, 6.0]),
        "zdt2": (unit_space(6), zdt(2), ["min", "min"], [1.1, 6.0]),
        "zdt3": (unit_space(6), zdt(3), ["min", "min"], [1.1, 6.0]),
        "dtlz2": (unit_space(7), dtlz2, ["min", "min", "min"], [1.1, 1.1, 1.1]),
        "network": (space, net, ["min", "min"], [1.0, 5.5]),
    }


def constrained_problems(suite: str = "tuned") -> dict:
    """name: (space, objective returning (value, constraints), optimum)."""
    if suite == "heldout":
        def disk4(p):  # within a ball around 0.3, closest to (0.9, ...): 4-d
            x = _x(p, 4)
            return float(np.sum((x - 0.9) ** 2)), [float(np.linalg.norm(x - 0.3)) - 0.35]

        def lin3(p):  # a linear objective on a ball's surface
            x = _x(p, 3)
            return -float(x @ np.array([1.0, 2.0, 3.0])), [float(x @ x) - 0.5]

        return {"disk4": (unit_space(4), disk4, (1.2 - 0.35) ** 2),
                "lin3": (unit_space(3), lin3, -math.sqrt(14.0 * 0.5))}
    def quad2(p):  # optimum (0.5, 0.5): 0.18
        x = _x(p, 2)
        return float(np.sum((x - 0.8) ** 2)), [float(x.sum() - 1.0)]

    def sphere5(p):  # optimum x_i = 0.4: 1.25
        x = _x(p, 5)
        return float(np.sum((x - 0.9) ** 2)), [float(x.sum() - 2.0)]

    def ring(p):  # inside a ring around (0.5, 0.5), closest to (0.9, 0.9): 2 constraints
        x = _x(p, 2)
        r = float(np.linalg.norm(x - 0.5))
        return float(np.sum((x - 0.9) ** 2)), [r - 0.3, 0.2 - r]

    ring_opt = (math.sqrt(0.32) - 0.3) ** 2  # the point of the outer circle nearest (0.9, 0.9)
    return {"quad2": (unit_space(2), quad2, 0.18), "sphere5": (unit_space(5), sphere5, 1.25),
            "ring": (unit_space(2), ring, ring_opt)}


# ====================================================================== runs
def _optuna_params(trial, space: dict) -> dict:
    out = {}
    for name, p in space.items():
        if isinstance(p, tp.Categorical):
            out[name] = trial.suggest_categorical(name, list(p.choices))
        elif isinstance(p, tp.Int):
            out[name] = trial.suggest_int(name, p.low, p.high, step=p.step or 1)
        else:
            out[name] = trial.suggest_float(name, p.low, p.high, step=p.step)
    return out


def run_one(task: tuple) -> dict:
    kind, suite, problem, optimizer, seed, n_trials = task
    out = {"kind": kind, "problem": problem, "optimizer": optimizer, "seed": seed,
           "error": None}
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "mo":
                out.update(_run_mo(suite, problem, optimizer, seed, n_trials))
            else:
                out.update(_run_constrained(suite, problem, optimizer, seed, n_trials))
    except Exception:
        out["error"] = traceback.format_exc()
    out["seconds"] = time.perf_counter() - start
    return out


def _run_mo(suite: str, name: str, optimizer: str, seed: int, n: int) -> dict:
    space, f, modes, ref = problems(suite)[name]
    values, ask_s = [], 0.0
    if optimizer == "tpe-plugins":
        opt = tp.TPE(space, mode=modes, seed=seed)
        for _ in range(n):
            t0 = time.perf_counter()
            t = opt.ask()
            ask_s += time.perf_counter() - t0
            values.append(f(t.params))
            opt.tell(t, values[-1])
    elif optimizer.startswith("optuna"):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = (optuna.samplers.TPESampler(seed=seed) if optimizer == "optuna-tpe"
                   else optuna.samplers.NSGAIISampler(seed=seed))
        study = optuna.create_study(directions=["minimize"] * len(modes), sampler=sampler)
        for _ in range(n):
            t0 = time.perf_counter()
            trial = study.ask()
            params = _optuna_params(trial, space)
            ask_s += time.perf_counter() - t0
            values.append(f(params))
            study.tell(trial, values[-1])
    else:
        rng = np.random.default_rng([seed, 1])
        from problems import sample_uniform

        values = [f(sample_uniform(space, rng)) for _ in range(n)]
    V = np.array(values)
    front = V[front_ranks(V) == 0]
    return {"hypervolume": hypervolume(front, np.array(ref)), "ask_seconds": ask_s,
            "front": front.tolist()}


def _run_constrained(suite: str, name: str, optimizer: str, seed: int, n: int) -> dict:
    space, f, optimum = constrained_problems(suite)[name]
    best = math.inf
    if optimizer.startswith("tpe-plugins"):
        rule = "ctpe" if optimizer.endswith("c-TPE") else "feasible_first"
        opt = make_tpe(space, seed=seed, constraint_rule=rule)  # ctpe: a private hook
        for _ in range(n):
            t = opt.ask()
            v, c = f(t.params)
            opt.tell(t, v, constraints=c)
            best = min(best, v) if max(c) <= 0 else best
    elif optimizer == "optuna-tpe":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(
            seed=seed, constraints_func=lambda t: t.user_attrs["c"])
        study = optuna.create_study(sampler=sampler)
        for _ in range(n):
            trial = study.ask()
            v, c = f(_optuna_params(trial, space))
            trial.set_user_attr("c", c)
            study.tell(trial, v)
            best = min(best, v) if max(c) <= 0 else best
    else:
        rng = np.random.default_rng([seed, 1])
        from problems import sample_uniform

        for _ in range(n):
            v, c = f(sample_uniform(space, rng))
            best = min(best, v) if max(c) <= 0 else best
    return {"gap": best - optimum}


# ====================================================================== report
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10, help="number of seeds")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--suite", choices=("tuned", "heldout"), default="tuned")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if args.quick:
        args.seeds = 2
    mo, con = problems(args.suite), constrained_problems(args.suite)  # tables before forking
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    tasks = [("mo", args.suite, p, o, s, args.trials) for s in seeds for p in mo
             for o in OPTIMIZERS]
    tasks += [("c", args.suite, p, o, s, args.trials) for s in seeds for p in con
              for o in C_OPTIMIZERS]
    start = time.perf_counter()
    runs = run_tasks(tasks, run_one, args.jobs,
                     lambda r: f"{r['problem']} {r['optimizer']} seed={r['seed']}")
    wall = time.perf_counter() - start
    ok = [r for r in runs if not r["error"]]
    lines = ["# Several objectives and constraints", "",
             f"- command: `{' '.join(['python benchmarks/multiobjective.py', *sys.argv[1:]])}`",
             f"- machine: {machine(('optuna', 'numpy'))}",
             f"- date: {datetime.date.today()}, wall time {wall / 60:.1f} min; tpe_plugins "
             f"core: git {core_revision()}; {args.suite} problems, seeds "
             f"{seeds.start}-{seeds.stop - 1} x {args.trials} trials", "",
             "## Hypervolume of the Pareto front (mean over seeds; higher is better)", "",
             "| problem | " + " | ".join(OPTIMIZERS) + " | tpe-plugins / optuna-tpe |",
             "|---|" + "---:|" * (len(OPTIMIZERS) + 1)]
    wins = 0
    for p in mo:
        hv = {o: np.mean([r["hypervolume"] for r in ok if r["problem"] == p
                          and r["optimizer"] == o]) for o in OPTIMIZERS}
        wins += hv["tpe-plugins"] > hv["optuna-tpe"]
        best = max(hv.values())
        lines.append(f"| {p} | " + " | ".join(
            (f"**{hv[o]:.4f}**" if hv[o] == best else f"{hv[o]:.4f}") for o in OPTIMIZERS)
            + f" | {hv['tpe-plugins'] / hv['optuna-tpe']:.3f} |")
    ask = {o: np.mean([r["ask_seconds"] for r in ok if r["kind"] == "mo"
                       and r["optimizer"] == o]) for o in ("tpe-plugins", "optuna-tpe")}
    lines += ["", f"tpe-plugins has the larger hypervolume than optuna's TPE on {wins} of "
              f"{len(mo)} problems. Time in ask per 100-trial run: tpe-plugins "
              f"{ask['tpe-plugins']:.2f} s, optuna TPE {ask['optuna-tpe']:.2f} s "
              f"({ask['optuna-tpe'] / ask['tpe-plugins']:.1f}x).", "",
              "## Constrained: gap of the best feasible value to the optimum "
              "(mean over seeds; lower is better)", "",
              "| problem | " + " | ".join(C_OPTIMIZERS) + " |", "|---|" + "---:|" * len(
                  C_OPTIMIZERS)]
    for p in con:
        gap = {o: np.mean([r["gap"] for r in ok if r["problem"] == p and r["optimizer"] == o])
               for o in C_OPTIMIZERS}
        best = min(gap.values())
        lines.append(f"| {p} | " + " | ".join(
            (f"**{gap[o]:.4g}**" if gap[o] == best else f"{gap[o]:.4g}") for o in C_OPTIMIZERS)
            + " |")
    failed = [r for r in runs if r["error"]]
    if failed:
        lines += ["", f"{len(failed)} runs failed; see the JSON."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(str(args.out) + ".md").write_text("\n".join(lines) + "\n")
    Path(str(args.out) + ".json").write_text(json.dumps(runs, default=float))
    plot_fronts(ok, mo, Path(str(args.out) + ".png"), seed=seeds.start)
    print("\n".join(lines))


def plot_fronts(runs: list[dict], mo: dict, path: Path, seed: int) -> None:
    """The Pareto front each optimiser found on each 2-objective problem, one seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p for p, (_, _, modes, _) in mo.items() if len(modes) == 2]
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.3))
    for ax, p in zip(axes, names, strict=True):
        for o in OPTIMIZERS:
            run = next((r for r in runs if r["kind"] == "mo" and r["problem"] == p
                        and r["optimizer"] == o and r["seed"] == seed), None)
            if run is None:
                continue
            F = np.array(run["front"])
            F = F[np.argsort(F[:, 0])]
            ax.plot(F[:, 0], F[:, 1], "o-", ms=3, lw=1, label=o)
        ax.set_title(p)
        ax.set_xlabel("objective 1")
    axes[0].set_ylabel("objective 2")
    axes[-1].legend(fontsize=7)
    fig.suptitle(f"Pareto fronts after 100 trials (seed {seed}; lower left is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
