"""Bergstra et al. (2011) in miniature: TPE against random search on a conditional network space.

Every optimiser runs through Ray Tune with 2 concurrent trials and the same budget of trials on
the same space (`space.py`), for each seed and data set (`data.py`); a trial trains one small
PyTorch network on one CPU thread (`model.py`). For each run, the configuration with the lowest
validation error is chosen and its test error reported, as in the paper's Table 2.

    python benchmarks/paper/run.py                  # the full experiment (15-35 min on 2 cores)
    python benchmarks/paper/run.py --quick          # a smoke run, under 3 minutes
    python benchmarks/paper/run.py --dataset convex --optimizers tpe_plugins,random --seeds 3

Optimisers: tpe_plugins (`TPESearch`), random (Tune's `BasicVariantGenerator` on Tune domains),
optuna_tpe (`OptunaSearch` with a define-by-run function and `TPESampler`) and hyperopt_tpe
(`HyperOptSearch` with a native `hp` space). All start with 10 random trials. Not run unless
named: tpe_plugins_univariate (`TPESearch(multivariate=False)`, per-dimension mixtures always)
and tpe_plugins_joint (`TPESearch(multivariate=True)`, joint kernels always, the default before
"auto"; with trials running beside its asks the default uses per-dimension mixtures), and
tpe_plugins_nolocal (`TPESearch(local_fraction=0)`, no local quadratic steps).

Writes to --out (default benchmarks/paper/results/): results.json (every trial), table.md and
best_so_far.png.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy output obeys verbose=0

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import data  # noqa: E402
import numpy as np  # noqa: E402
from space import SPACE, count_params, hyperopt_space, optuna_define_by_run, tune_space  # noqa: E402

OPTIMIZERS = ("tpe_plugins", "random", "optuna_tpe", "hyperopt_tpe", "tpe_plugins_univariate",
              "tpe_plugins_joint", "tpe_plugins_nolocal")
LABELS = {"tpe_plugins": "tpe-plugins TPE", "random": "Random", "optuna_tpe": "optuna TPE",
          "hyperopt_tpe": "hyperopt TPE",
          "tpe_plugins_univariate": "tpe-plugins TPE, multivariate=False",
          "tpe_plugins_joint": "tpe-plugins TPE, multivariate=True",
          "tpe_plugins_nolocal": "tpe-plugins TPE, local_fraction=0"}
TPE_SETTINGS = {"tpe_plugins": {}, "tpe_plugins_univariate": {"multivariate": False},
                "tpe_plugins_joint": {"multivariate": True},
                "tpe_plugins_nolocal": {"local_fraction": 0.0}}
N_STARTUP = 10  # random trials before each TPE starts modelling (hyperopt's own default is 20)
METRIC = "val_error"


@dataclass(frozen=True)
class Preset:
    size: str  # data set size, see data.SIZES
    epochs: int
    trials: int
    seeds: int


PRESETS = {
    # full: 15 min measured on 2 idle cores, 33 min on 2 cores shared with other jobs
    "full": Preset(size="full", epochs=8, trials=40, seeds=5),
    "quick": Preset(size="quick", epochs=3, trials=5, seeds=2),  # plumbing only: < N_STARTUP
}


@dataclass(frozen=True)
class RunSpec:
    dataset: str
    size: str
    epochs: int
    seed: int


# --------------------------------------------------------------------------------- the trainable
def trainable(config: dict, spec: RunSpec) -> None:
    """One trial: train the network the config describes, report validation and test error."""
    os.environ["OMP_NUM_THREADS"] = "1"
    if str(HERE) not in sys.path:  # a Ray worker: the trainable came by value, model.py did not
        sys.path.insert(0, str(HERE))
    from model import evaluate
    from ray import tune

    cfg = {key: config[key] for key in SPACE}  # drop optuna's flat parameter names
    result = evaluate(cfg, spec.dataset, spec.size, spec.epochs, spec.seed)
    tune.report({**result, "finished_at": time.time()})


def make_search_alg(name: str, seed: int) -> tuple[Any, dict | None]:
    """The search algorithm for `name`, and the param_space Tune samples (random search only)."""
    if name in TPE_SETTINGS:
        from tpe_plugins.integrations.ray_tune import TPESearch

        return TPESearch(space=SPACE, metric=METRIC, mode="min", seed=seed,
                         n_startup_trials=N_STARTUP, **TPE_SETTINGS[name]), None
    if name == "random":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return BasicVariantGenerator(random_state=seed), tune_space(SPACE)  # concurrency: CPUs
    if name == "optuna_tpe":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=N_STARTUP)
        return OptunaSearch(space=optuna_define_by_run(SPACE), metric=METRIC, mode="min",
                            sampler=sampler), None
    if name == "hyperopt_tpe":
        from ray.tune.search.hyperopt import HyperOptSearch

        return HyperOptSearch(space=hyperopt_space(SPACE), metric=METRIC, mode="min",
                              random_state_seed=seed, n_initial_points=N_STARTUP), None
    raise ValueError(f"unknown optimiser {name!r}; choose from {OPTIMIZERS}")


def run_one(optimizer: str, spec: RunSpec, trials: int, concurrency: int,
            storage: str) -> dict:
    """One search run through Ray Tune; its trials in the order they finished."""
    from ray import tune

    search_alg, param_space = make_search_alg(optimizer, spec.seed)
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, spec=spec), {"cpu": 1}),
        param_space=param_space,
        tune_config=tune.TuneConfig(search_alg=search_alg, metric=METRIC, mode="min",
                                    num_samples=trials,
                                    max_concurrent_trials=None if param_space else concurrency,
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=f"{spec.dataset}-{optimizer}-{spec.seed}",
                                  storage_path=storage, verbose=0))
    start = time.time()
    grid = tuner.fit()
    wall = time.time() - start
    done, failed = [], 0
    for result in grid:
        metrics = result.metrics or {}
        if result.error is not None or METRIC not in metrics:
            failed += 1
            continue
        done.append({"val_error": metrics["val_error"], "test_error": metrics["test_error"],
                     "diverged": metrics["diverged"], "train_seconds": metrics["train_seconds"],
                     "finished_at": metrics["finished_at"],
                     "config": {key: result.config[key] for key in SPACE}})
    done.sort(key=lambda t: t["finished_at"])
    best = min(done, key=lambda t: t["val_error"]) if done else None
    return {"optimizer": optimizer, **asdict(spec), "trials": done, "failed": failed,
            "best": best, "wall_seconds": wall}


# ------------------------------------------------------------------------------------ reporting
def interval(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t interval of the mean (0 for one value)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), float("nan")
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(half)


def _fmt(values: list[float]) -> str:
    if not values:
        return "n/a"
    mean, half = interval([100 * v for v in values])
    return f"{mean:.2f}" if math.isnan(half) else f"{mean:.2f} ± {half:.2f}"


def make_table(runs: list[dict], meta: dict) -> str:
    datasets = [d for d in data.DATASETS if any(r["dataset"] == d for r in runs)]
    optimizers = [o for o in OPTIMIZERS if any(r["optimizer"] == o for r in runs)]

    def pick(dataset: str, optimizer: str) -> list[dict]:
        return sorted((r for r in runs if r["dataset"] == dataset and r["optimizer"] == optimizer
                       and r["best"] is not None), key=lambda r: r["seed"])

    head = "| Data set | " + " | ".join(LABELS[o] for o in optimizers) + " |"
    rule = "|---|" + "---|" * len(optimizers)
    lines = [
        "# TPE against random search on a conditional network space",
        "",
        f"{meta['trials']} trials per run, {meta['concurrency']} at a time, through Ray Tune; "
        f"{meta['seeds']} seeds per optimiser; data size `{meta['size']}`, {meta['epochs']} "
        f"epochs per trial; {meta['n_params']} parameters in the space. Generated "
        f"{meta['finished']} in {meta['wall_minutes']:.1f} min.",
        "",
        "**Test error (%) of the configuration chosen on validation** (mean over seeds ± "
        "half-width of the 95% t-interval of the mean), in the style of Table 2 of Bergstra et "
        "al. (2011):",
        "", head, rule]
    for d in datasets:
        lines.append(f"| {d} | " + " | ".join(
            _fmt([r["best"]["test_error"] for r in pick(d, o)]) for o in optimizers) + " |")
    lines += ["", "Best validation error (%) found, the quantity the optimisers minimise:", "",
              head, rule]
    for d in datasets:
        lines.append(f"| {d} | " + " | ".join(
            _fmt([r["best"]["val_error"] for r in pick(d, o)]) for o in optimizers) + " |")
    if "random" in optimizers and len(optimizers) > 1:
        others = [o for o in optimizers if o != "random"]
        lines += ["", "Paired difference to random search, same seed (percentage points, "
                  "negative = better than random; mean ± 95% t-interval):", "",
                  "| Data set | metric | " + " | ".join(LABELS[o] for o in others) + " |",
                  "|---|---|" + "---|" * len(others)]
        for d in datasets:
            base = {r["seed"]: r["best"] for r in pick(d, "random")}
            for key, label in (("test_error", "test"), ("val_error", "validation")):
                cells = []
                for o in others:
                    diff = [r["best"][key] - base[r["seed"]][key]
                            for r in pick(d, o) if r["seed"] in base]
                    wins = sum(x < 0 for x in diff)
                    cells.append(f"{_fmt(diff)} ({wins}/{len(diff)} better)" if diff else "n/a")
                lines.append(f"| {d} | {label} | " + " | ".join(cells) + " |")
    lines += ["", f"Median validation error (%) of the trials after the first {N_STARTUP} "
              "(the model-guided ones; for random search, the same trials), pooled over seeds:",
              "", head, rule]
    for d in datasets:
        cells = []
        for o in optimizers:
            late = [t["val_error"] for r in pick(d, o) for t in r["trials"][N_STARTUP:]]
            cells.append(f"{100 * np.median(late):.1f}" if late else "n/a")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    lines += ["", "Cost per run (mean wall-clock seconds of a run; failed trials in all runs):",
              "", head, rule]
    for d in datasets:
        cells = []
        for o in optimizers:
            rs = pick(d, o)
            wall = np.mean([r["wall_seconds"] for r in rs]) if rs else float("nan")
            cells.append(f"{wall:.0f} s; {sum(r['failed'] for r in rs)} failed")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = [d for d in data.DATASETS if any(r["dataset"] == d for r in runs)]
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.2), squeeze=False)
    for ax, d in zip(axes[0], datasets, strict=True):
        for o in OPTIMIZERS:
            curves = [np.minimum.accumulate([100 * t["val_error"] for t in r["trials"]])
                      for r in runs if r["dataset"] == d and r["optimizer"] == o and r["trials"]]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            ys = np.stack([c[:n] for c in curves])
            xs = np.arange(1, n + 1)
            mean = ys.mean(axis=0)
            ax.plot(xs, mean, label=f"{LABELS[o]} ({len(curves)} seeds)",
                    linestyle="--" if o == "random" else "-")
            if len(curves) > 1:
                half = np.array([interval(list(col))[1] for col in ys.T])
                ax.fill_between(xs, mean - half, mean + half, alpha=0.15)
        ax.set_title(f"{d}: best validation error so far")
        ax.set_xlabel("trials finished")
        ax.set_ylabel("validation error (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Mean over seeds; band: 95% t-interval of the mean", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("tpe-plugins", "ray", "torch", "optuna", "hyperopt", "numpy", "scikit-learn"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def write(runs: list[dict], meta: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    (out / "table.md").write_text(make_table(runs, meta))
    plot(runs, out / "best_so_far.png")


# ------------------------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small data, few trials (< 3 min)")
    p.add_argument("--seeds", type=int, help="seeds per optimiser (0, 1, ...)")
    p.add_argument("--first-seed", type=int, default=0,
                   help="start at this seed (to continue an interrupted run)")
    p.add_argument("--trials", type=int, help="trials per run")
    p.add_argument("--epochs", type=int, help="training epochs per trial")
    p.add_argument("--size", choices=("full", "quick", "tiny"), help="data set size")
    p.add_argument("--dataset", default="all", help="convex, mrbi or all (comma-separated)")
    p.add_argument("--optimizers", default=",".join(OPTIMIZERS[:4]),
                   help=f"comma-separated, from {', '.join(OPTIMIZERS)}")
    p.add_argument("--concurrency", type=int, default=2, help="trials at a time (and CPUs)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--from-results", type=Path, metavar="JSON", nargs="+",
                   help="run nothing: rewrite table.md and best_so_far.png from results.json "
                   "files (several: their runs are merged, e.g. an interrupted run and its "
                   "continuation with --first-seed)")
    args = p.parse_args(argv)
    preset = PRESETS["quick" if args.quick else "full"]
    for key in ("size", "epochs", "trials", "seeds"):
        if getattr(args, key) is None:
            setattr(args, key, getattr(preset, key))
    args.datasets = list(data.DATASETS) if args.dataset == "all" else args.dataset.split(",")
    args.optimizer_list = args.optimizers.split(",")
    for d in args.datasets:
        if d not in data.DATASETS:
            p.error(f"unknown data set {d!r}; choose from {data.DATASETS}")
    for o in args.optimizer_list:
        if o not in OPTIMIZERS:
            p.error(f"unknown optimiser {o!r}; choose from {OPTIMIZERS}")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.from_results:
        saved = merge([json.loads(path.read_text()) for path in args.from_results])
        write(saved["runs"], saved["meta"], args.out)
        print(make_table(saved["runs"], saved["meta"]))
        return saved
    import ray
    from ray import cloudpickle

    if __name__ != "__main__":  # imported (as by the test): ship this module's code by value,
        cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers can't import it
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(num_cpus=args.concurrency, include_dashboard=False, log_to_driver=False)
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
    for d in args.datasets:  # generate (or read) the data once, before the workers need it
        data.load(d, args.size)
        data.pca_basis(d, args.size)
    start = time.time()
    meta = {"trials": args.trials, "seeds": args.seeds, "epochs": args.epochs, "size": args.size,
            "concurrency": args.concurrency, "optimizers": args.optimizer_list,
            "datasets": args.datasets, "n_startup": N_STARTUP, "n_params": count_params(),
            "command": " ".join(["python", "benchmarks/paper/run.py", *(argv or sys.argv[1:])]),
            "versions": versions(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "started": datetime.datetime.now().isoformat(timespec="seconds")}
    runs: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="tpe-paper-") as storage, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # seeds outermost: a partial run stays balanced
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                for d in args.datasets:
                    for o in args.optimizer_list:
                        spec = RunSpec(dataset=d, size=args.size, epochs=args.epochs, seed=seed)
                        run = run_one(o, spec, args.trials, args.concurrency, storage)
                        runs.append(run)
                        best = run["best"] or {"val_error": math.nan, "test_error": math.nan}
                        print(f"[{time.time() - start:7.0f} s] {d:6s} {o:12s} seed {seed}: "
                              f"best val {100 * best['val_error']:.2f}% test "
                              f"{100 * best['test_error']:.2f}% ({len(run['trials'])} trials, "
                              f"{run['failed']} failed, {run['wall_seconds']:.0f} s)", flush=True)
                        meta.update(finished=datetime.datetime.now().isoformat(timespec="seconds"),
                                    wall_minutes=(time.time() - start) / 60)
                        write(runs, meta, args.out)
    finally:
        if started_ray:
            ray.shutdown()
    print(make_table(runs, meta))
    print(f"wrote {args.out}/results.json, table.md, best_so_far.png")
    return {"meta": meta, "runs": runs}


def merge(results: list[dict]) -> dict:
    """One result from several runs of this script. A seed's runs of an optimiser are taken
    from the last file that has them on every data set (an interrupted seed in an earlier file
    is replaced); files with different optimisers combine (e.g. optuna's runs made later on
    the same seeds). Only seeds that every optimiser completed are kept, so comparisons pair."""
    cells: dict[tuple[int, str], list[dict]] = {}
    optimizers: list[str] = []
    for res in results:
        n_datasets = len(res["meta"]["datasets"])
        seeds_here = sorted({run["seed"] for run in res["runs"]})
        for o in res["meta"]["optimizers"]:
            if o not in optimizers:
                optimizers.append(o)
            for seed in seeds_here:
                mine = [run for run in res["runs"] if run["seed"] == seed and run["optimizer"] == o]
                if len(mine) == n_datasets:
                    cells[(seed, o)] = mine
    seeds = sorted({seed for seed, _ in cells if all((seed, o) in cells for o in optimizers)})
    meta = dict(results[0]["meta"])
    meta.update(seeds=len(seeds), optimizers=optimizers,
                command=" and ".join(r["meta"]["command"] for r in results),
                wall_minutes=sum(r["meta"].get("wall_minutes", 0.0) for r in results))
    return {"meta": meta, "runs": [run for seed in seeds for o in optimizers
                                   for run in cells[(seed, o)]]}


if __name__ == "__main__":
    main()
