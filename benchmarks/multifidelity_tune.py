"""Multi-fidelity through real Ray Tune: TuneBOHB and TPESearch with HyperBandForBOHB.

`multifidelity.py` simulates the cluster and feeds Ray's ASHA by hand, which is cheap but
cannot run HyperBandForBOHB: that scheduler pauses trials and resumes them from checkpoints,
which only Tune's own controller does. This script runs the same tabulated learning curves
(`learning_curves.py`) through `tune.run`: each trial looks its configuration's curve up and
reports one epoch per result, with a checkpoint, so a paused trial resumes where it stopped.
The run ends when the epochs reported reach the budget (default 540 = 20 full trainings, as in
`multifidelity.py`); the regret is that of the best trial that trained all 27 epochs.

Setups (each its own `tune.run`, 4 trials at a time):

- `bohb`: Ray's `TuneBOHB` (hpbandster's BOHB model, learns at HyperBand's budgets) with
  `HyperBandForBOHB`, the pairing Ray documents;
- `tpe`: `TPESearch` (every epoch reaches the model) with `HyperBandForBOHB`;
- `tpe-asha`: `TPESearch` with `ASHAScheduler`, the real-Tune twin of the simulation's
  "tpe-plugins MF + ASHA" (a check that the simulation matches Tune).

The report puts the simulation's setups for the same data sets and seeds beside these (read
from `--simulated`, a `multifidelity.py` result file).

    pip install -e .[bohb]      # hpbandster and ConfigSpace, for TuneBOHB
    python benchmarks/multifidelity_tune.py --seeds 0-9
"""

from __future__ import annotations

import argparse
import datetime
import json
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

import learning_curves as lc  # noqa: E402
import multifidelity as mf  # noqa: E402
import numpy as np  # noqa: E402
from parallel import parse_seeds  # noqa: E402
from report import core_revision, machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
RUNGS = (1, 3, 9)  # HyperBandForBOHB's milestones below max_t=27 with reduction factor 3
SETUPS = {"bohb": "TuneBOHB + HyperBandForBOHB (real Tune)",
          "tpe": "TPESearch + HyperBandForBOHB (real Tune)",
          "tpe-asha": "TPESearch + ASHA (real Tune)"}


def tune_space() -> dict:
    """The curve grid as Tune domains: quantised ranges, so BOHB's KDE sees the order."""
    from ray import tune

    return {"log10_lr": tune.quniform(-4.0, -1.0, 0.5), "log10_wd": tune.quniform(-6.0, -3.0, 1.0),
            "log2_width": tune.randint(4, 8), "layers": tune.randint(1, 3),
            "dropout": tune.quniform(0.0, 0.4, 0.2), "log2_batch": tune.qrandint(4, 8, 2),
            "optimizer": tune.choice(list(lc.OPTIMIZER))}


def trainable(config: dict, table: lc.CurveTable) -> None:
    """One epoch per result, resumed from the checkpoint's epoch after a pause. Checkpoints
    only at HyperBand's rungs, where it pauses trials (each costs Tune a copy to storage)."""
    from ray import tune
    from ray.tune import Checkpoint

    curve = table.curve(config)
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d:
            start = int(Path(d, "epoch").read_text())
    for epoch in range(start + 1, len(curve) + 1):
        result = {"loss": float(curve[epoch - 1]), "epoch": epoch}
        if epoch not in RUNGS:
            tune.report(result)
            continue
        with tempfile.TemporaryDirectory() as d:
            Path(d, "epoch").write_text(str(epoch))
            tune.report(result, checkpoint=Checkpoint.from_directory(d))


def run_one(dataset: str, setup: str, seed: int, budget: int, workers: int,
            storage: str) -> dict:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, HyperBandForBOHB

    from tpe_plugins.integrations.ray_tune import TPESearch

    spent: list[int] = [0]
    full: list[tuple[int, float]] = []

    class Budget(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            spent[0] += 1
            if result["epoch"] == lc.MAX_EPOCHS:
                full.append((spent[0], float(result["loss"])))

    class StopAtBudget(tune.Stopper):
        def __call__(self, trial_id, result):
            return False

        def stop_all(self):
            return spent[0] >= budget

    if setup == "bohb":
        from ray.tune.search.bohb import TuneBOHB

        searcher = TuneBOHB(seed=seed)
    else:
        searcher = TPESearch(seed=seed, n_startup_trials=mf.N_STARTUP, time_attr="epoch")
    if setup == "tpe-asha":
        scheduler = ASHAScheduler(time_attr="epoch", max_t=lc.MAX_EPOCHS, grace_period=1,
                                  reduction_factor=3)
    else:
        scheduler = HyperBandForBOHB(time_attr="epoch", max_t=lc.MAX_EPOCHS, reduction_factor=3)
    start = time.perf_counter()
    analysis = tune.run(tune.with_parameters(trainable, table=lc.load(dataset)),
                        config=tune_space(), search_alg=searcher, scheduler=scheduler,
                        metric="loss", mode="min", num_samples=10_000,
                        max_concurrent_trials=workers, resources_per_trial={"cpu": 0.5},
                        stop=StopAtBudget(), callbacks=[Budget()], storage_path=storage,
                        name=f"{dataset}-{setup}-{seed}", verbose=0, reuse_actors=True)
    return {"dataset": dataset, "setup": SETUPS[setup], "seed": seed, "error": None,
            "full": full, "spent": spent[0], "trials": len(analysis.trials),
            "stopped": sum(t.last_result.get("epoch", 0) < lc.MAX_EPOCHS
                           for t in analysis.trials),
            "optimizer_seconds": float("nan"), "seconds": time.perf_counter() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(lc.DATASETS))
    ap.add_argument("--setups", default=",".join(SETUPS))
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--budget", type=int, default=20 * lc.MAX_EPOCHS)
    ap.add_argument("--simulated", type=Path, default=RESULTS / "multifidelity.json",
                    help="multifidelity.py result file whose setups are shown beside")
    ap.add_argument("--out", type=Path, default=RESULTS / "multifidelity_tune")
    args = ap.parse_args()
    if not args.simulated.exists():  # read after the Tune runs: check before spending them
        raise SystemExit(f"{args.simulated} is missing: run benchmarks/multifidelity.py first "
                         "(raw results are regenerated, not committed), or pass --simulated")
    import ray

    seeds = parse_seeds(args.seeds)
    datasets, setups = args.datasets.split(","), args.setups.split(",")
    # the workers unpickle the curve tables, so they import learning_curves from here too
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parent)}})
    runs, wall = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as storage, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in seeds:
            for d in datasets:
                for s in setups:
                    r = run_one(d, s, seed, args.budget, args.workers, storage)
                    runs.append(r)
                    print(f"[{time.perf_counter() - wall:7.0f} s] {d} {s} seed={seed}: "
                          f"{r['trials']} trials, {r['spent']} epochs, {len(r['full'])} full, "
                          f"{r['seconds']:.0f} s", flush=True)
    simulated = json.loads(args.simulated.read_text())["runs"]
    sim = [r for r in simulated if r["dataset"] in datasets and r["seed"] in seeds
           and not r["error"]]
    names = [SETUPS[s] for s in setups] + sorted({r["setup"] for r in sim},
                                                  key=list(mf.SETUPS).index)
    for name in names:  # the analysis labels plots and tables by these names
        mf.SHORT.setdefault(name, name)
    runs_all = sorted(runs + sim, key=lambda r: r["seed"])  # ranks pair the runs by seed
    result = mf.analyse(runs_all, datasets, names, seeds, args.budget)
    args.setup_list, args.dataset_list, args.jobs = names, datasets, 1
    write(args, runs_all, result, time.perf_counter() - wall)


def write(args: argparse.Namespace, runs: list[dict], result: dict, wall: float) -> None:
    names, datasets = args.setup_list, args.dataset_list

    def shown(path: Path) -> Path:  # relative to the repository, as the command gives it
        return path.relative_to(Path.cwd()) if Path.cwd() in path.parents else path

    trials = {s: np.mean([r["trials"] for r in runs if r["setup"] == s]) for s in names}
    lines = ["# Multi-fidelity through real Ray Tune, beside the simulation", "",
             f"- command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`",
             f"- machine: {machine(('ray', 'hpbandster', 'ConfigSpace', 'numpy'))}",
             f"- date: {datetime.date.today()}, wall time {wall / 60:.1f} min; "
             f"tpe_plugins core: git {core_revision()}",
             f"- data sets {', '.join(datasets)}; seeds {args.seeds}; {args.workers} trials at a "
             f"time; budget {args.budget} epochs. Rows marked (real Tune) ran here through "
             "`tune.run`; the others are the simulation's runs of the same seeds, read from "
             f"`{shown(args.simulated)}`",
             "- regret: best validation loss among trials that trained all 27 epochs, minus the "
             "best full-budget loss in the table; mean over seeds", "",
             "## Mean rank of the final regret (1 = best)", "",
             "| setup | mean rank | trials started |", "|---|---:|---:|"]
    for s in sorted(names, key=lambda s: result["mean_rank"][s]):
        lines.append(f"| {s} | {result['mean_rank'][s]:.2f} | {trials[s]:.0f} |")
    lines += ["", "## Final regret (mean over seeds)", "",
              "| setup | " + " | ".join(datasets) + " |", "|---|" + "---:|" * len(datasets)]
    for s in names:
        lines.append(f"| {s} | " + " | ".join(f"{result['table'][d][s]['1.00']:.4f}"
                                              for d in datasets) + " |")
    Path(str(args.out) + ".md").write_text("\n".join(lines) + "\n")
    Path(str(args.out) + ".json").write_text(json.dumps(
        {"command": lines[2], "result": result,
         "runs": [r for r in runs if r["setup"] in {SETUPS[k] for k in SETUPS}]}, default=float))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
