"""LCBench through real Ray Tune: searchers with ASHAScheduler or HyperBandForBOHB.

lcbench.py simulates the cluster; this script checks that its ordering holds through Tune's
own controller. Each trial evaluates its configuration's learning curve with the YAHPO Gym
surrogate and reports one epoch per result (`epoch` is the training iteration). The run ends
when the epochs reported reach the budget (20 full trainings of 52 epochs); the figure is the
regret of the best epoch-52 error, as in lcbench.py. 8 trials at a time.

Searchers: TPESearch, OptunaSearch, HyperOptSearch, random (Tune's BasicVariantGenerator),
and TuneBOHB where hpbandster installs. Runs in the yahpo environment (../shared/data/yahpo/
README.md: ray[tune] with pyarrow<18).

    .venv-yahpo/bin/python benchmarks/lcbench_tune.py --tasks 167185,7593 --seeds 0-2
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import lcbench_sim as sim  # noqa: E402
import numpy as np  # noqa: E402
import yahpo_problems  # noqa: E402
from lcbench import FLOOR, RESULTS, reference  # noqa: E402
from report import core_revision, machine  # noqa: E402

SEARCHERS = ("tpe", "optuna", "hyperopt", "random", "bohb")
# HyperBandForBOHB pauses trials and calls the searcher's on_pause/on_unpause, which only
# TuneBOHB and TPESearch define: OptunaSearch, HyperOptSearch and Tune's random generator
# fail under it (AttributeError in Ray 2.60), so they run with ASHA only.
PAUSABLE = ("tpe", "bohb")
_CURVES: dict = {}


def trainable(config: dict) -> None:
    """One epoch per result. Under HyperBandForBOHB (config["resume"]), which pauses trials at
    its milestones and resumes them from checkpoints, every result carries a checkpoint of its
    epoch, so a resumed trial goes on where it stopped and no epoch is counted twice."""
    from ray import tune
    from ray.tune import Checkpoint

    task = config["task"]
    if task not in _CURVES:  # one ONNX session per worker process (actors are reused)
        yahpo_problems._CONFIGURED = True  # the main process wrote yahpo's config
        _CURVES[task] = sim.Surrogate(task)
    params = {p: config[p] for p in sim.SPACE_SPEC}
    curve = _CURVES[task].curves([params])[0]
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d:
            start = int(Path(d, "epoch").read_text())
    for epoch in range(start + 1, sim.MAX_EPOCH + 1):
        result = {"epoch": epoch, "error": float(curve[epoch - 1])}
        if not config["resume"]:
            tune.report(result)
            continue
        with tempfile.TemporaryDirectory() as d:
            Path(d, "epoch").write_text(str(epoch))
            tune.report(result, checkpoint=Checkpoint.from_directory(d))


def tune_space(task: str, resume: bool) -> dict:
    from ray import tune

    space: dict = {"task": task, "resume": resume}
    for p, (kind, lo, hi, log) in sim.SPACE_SPEC.items():
        if kind == "int":
            space[p] = tune.lograndint(lo, hi + 1) if log else tune.randint(lo, hi + 1)
        else:
            space[p] = tune.loguniform(lo, hi) if log else tune.uniform(lo, hi)
    return space


def searcher_for(name: str, seed: int):
    if name == "tpe":
        from tpe_plugins.integrations.ray_tune import TPESearch

        return TPESearch(seed=seed, time_attr="epoch")
    if name == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True))
    if name == "hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch

        return HyperOptSearch(random_state_seed=seed)
    if name == "bohb":
        from ray.tune.search.bohb import TuneBOHB

        return TuneBOHB(seed=seed)
    return None  # random: Tune's own variant generator


def run_one(task: str, name: str, scheduler_name: str, seed: int, budget: int,
            workers: int, storage: str) -> dict:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, HyperBandForBOHB

    spent = [0]
    full: list[tuple[int, float]] = []

    class Budget(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            spent[0] += 1
            if result["epoch"] == sim.MAX_EPOCH:
                full.append((spent[0], float(result["error"])))

    class StopAtBudget(tune.Stopper):
        def __call__(self, trial_id, result):
            return False

        def stop_all(self):
            return spent[0] >= budget

    scheduler = (ASHAScheduler(time_attr="epoch", max_t=sim.MAX_EPOCH, grace_period=1,
                               reduction_factor=3) if scheduler_name == "asha" else
                 HyperBandForBOHB(time_attr="epoch", max_t=sim.MAX_EPOCH, reduction_factor=3))
    start = time.perf_counter()
    out = {"task": task, "searcher": name, "scheduler": scheduler_name, "seed": seed,
           "error": None}
    try:
        np.random.seed(seed)  # Tune's random variant generator draws from numpy's global state
        analysis = tune.run(trainable, config=tune_space(task, scheduler_name == "bohb"),
                            search_alg=searcher_for(name, seed), scheduler=scheduler,
                            metric="error", mode="min", num_samples=100_000,
                            max_concurrent_trials=workers, resources_per_trial={"cpu": 0.25},
                            stop=StopAtBudget(), callbacks=[Budget()], storage_path=storage,
                            name=f"{task}-{name}-{scheduler_name}-{seed}", verbose=0,
                            reuse_actors=True)
        out.update(best=min((v for _, v in full), default=math.nan), spent=spent[0],
                   trials=len(analysis.trials), n_full=len(full))
    except Exception:  # noqa: BLE001 - reported, the other runs go on
        out["error"] = traceback.format_exc()
    out["seconds"] = time.perf_counter() - start
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="167185,7593")
    ap.add_argument("--split", choices=("tune", "test"), default="tune")
    ap.add_argument("--searchers", default="tpe,optuna,hyperopt,random")
    ap.add_argument("--schedulers", default="asha")
    ap.add_argument("--seeds", default="0-2")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--budget", type=int, default=20)
    ap.add_argument("--out", type=Path, default=RESULTS / "lcbench_tune")
    args = ap.parse_args()
    tasks = args.tasks.split(",")
    allowed = sim.allowed_tasks()[args.split]
    if any(t not in allowed for t in tasks):
        raise SystemExit(f"tasks {set(tasks) - set(allowed)} are not in the {args.split} split")
    lo, _, hi = args.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    sim.configure()
    refs = {t: reference(t) for t in tasks}
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    runs = []
    with tempfile.TemporaryDirectory() as storage:
        for task in tasks:
            for scheduler in args.schedulers.split(","):
                for name in args.searchers.split(","):
                    if scheduler == "bohb" and name not in PAUSABLE:
                        continue  # see PAUSABLE
                    for seed in seeds:
                        r = run_one(task, name, scheduler, seed, args.budget * sim.MAX_EPOCH,
                                    args.workers, storage)
                        runs.append(r)
                        print(f"{task} {scheduler} {name} s{seed}: "
                              f"{r.get('best', 'FAILED')} ({r['seconds']:.0f}s)", flush=True)
                        if r["error"]:
                            print(r["error"], file=sys.stderr)
    args.out.with_suffix(".json").write_text(json.dumps(runs))
    lines = [f"# LCBench through real Ray Tune ({args.split} tasks)", "",
             f"- command: `python benchmarks/lcbench_tune.py {' '.join(sys.argv[1:])}`",
             f"- tasks: {', '.join(tasks)}; seeds {args.seeds}; {args.workers} concurrent "
             f"trials; budget {args.budget} full trainings of {sim.MAX_EPOCH} epochs",
             f"- core: {core_revision()}; {datetime.date.today()}",
             f"- machine: {machine(('ray', 'optuna', 'hyperopt'))}",
             "- figure: mean regret of the best epoch-52 error over seeds, divided by random "
             "search's under ASHA (random cannot run under HyperBandForBOHB, see PAUSABLE); "
             "geometric mean over tasks (lower is better)", ""]

    def mean_regret(name: str, scheduler: str, task: str) -> float:
        v = [max(r["best"] - refs[task], FLOOR) for r in runs
             if (r["searcher"], r["scheduler"], r["task"]) == (name, scheduler, task)
             and not r["error"] and math.isfinite(r["best"])]
        return float(np.mean(v)) if v else math.nan

    for scheduler in args.schedulers.split(","):
        lines += [f"## {scheduler}", "",
                  "| searcher | regret / random + ASHA | per task | trials started |",
                  "|---|---|---|---|"]
        for name in args.searchers.split(","):
            mine = [r for r in runs if (r["searcher"], r["scheduler"]) == (name, scheduler)
                    and not r["error"]]
            if not mine:
                continue
            ratios = [mean_regret(name, scheduler, t) / mean_regret("random", "asha", t)
                      for t in tasks]
            lines.append(f"| {name} | {np.exp(np.nanmean(np.log(ratios))):.3f} | "
                         f"{' / '.join(f'{x:.2f}' for x in ratios)} | "
                         f"{np.mean([r['trials'] for r in mine]):.0f} |")
        lines.append("")
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
