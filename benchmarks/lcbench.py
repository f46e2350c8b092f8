"""Multi-fidelity on real learning curves: LCBench through YAHPO Gym, at equal epochs.

Each run spends a budget of epochs (20 or 100 full trainings of 52 epochs) on one LCBench task
under one scheduler: asynchronous successive halving with W simulated workers (`asha-W`;
`asha3-W` has a grace period of 3 epochs, rungs 3, 9, 27), synchronous successive halving
(`sha`) or Hyperband (`hyperband`); see lcbench_sim.py. The
figure is the best epoch-52 validation error of any trial trained in full, as regret over the
task's best known error, relative to random search's regret under the same scheduler (mean over
seeds, then the geometric mean over tasks; lower is better).

The setups `dehb` and `synetune-{asha,bohb,hypertune,dehb}` (Syne Tune's own schedulers, see
lcbench_synetune.py) bring their own scheduler: they run only in the `asha-W` columns, with W
workers, and are compared with random search under our ASHA there.

Protocol (benchmarks/README.md): choose on `--split tune`; a `--split test` run confirms a
decision made, and each one is logged in benchmarks/results/lcbench_test_log.md.

Runs in the yahpo environment of ../shared/data/yahpo/README.md, e.g.

    .venv-yahpo/bin/python benchmarks/lcbench.py --split tune --seeds 0-4 \\
        --setups tpe-plugins,tpe-plugins[quantile],random --schedulers asha-1 --budgets 20

The `synetune-*` setups also need `pip install "syne-tune[gpsearchers,kde]==0.14.2" botorch`.
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
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import lcbench_drivers as drivers  # noqa: E402
import lcbench_sim as sim  # noqa: E402
import lcbench_synetune  # noqa: E402
from report import core_revision, machine, run_tasks  # noqa: E402

SYNETUNE = {f"synetune-{m}" for m in lcbench_synetune.METHODS}  # their own schedulers, like dehb
OWN_SCHEDULER = {"dehb", *SYNETUNE}
RESULTS = HERE / "results"
CACHE = HERE / "cache" / "lcbench-reference.json"
FLOOR = 0.01  # regrets below 0.01 points of accuracy count as 0.01 (the surrogate's noise)
_SURROGATES: dict[str, sim.Surrogate] = {}


def surrogate(task: str) -> sim.Surrogate:
    if task not in _SURROGATES:
        _SURROGATES[task] = sim.Surrogate(task)
    return _SURROGATES[task]


def reference(task: str) -> float:
    """The best epoch-52 error of 20,000 random configurations (cached)."""
    known = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    if task not in known:
        configs = sim.random_configs(np.random.default_rng(12345), 20000)
        known[task] = float(min(surrogate(task).final_errors(configs[i:i + 2000]).min()
                                for i in range(0, 20000, 2000)))
        CACHE.parent.mkdir(exist_ok=True)
        CACHE.write_text(json.dumps(known, indent=1, sort_keys=True))
    return known[task]


def run_one(job: dict) -> dict:
    start = time.perf_counter()
    out = {**job, "error": None}
    try:
        s = surrogate(job["task"])
        budget = job["budget"] * sim.MAX_EPOCH
        kind, _, w = job["scheduler"].partition("-")
        if job["setup"] == "dehb":
            run = drivers.dehb(s, budget, int(w) if w else 1, job["seed"])
        elif job["setup"] in SYNETUNE:
            run = lcbench_synetune.synetune(job["setup"].removeprefix("synetune-"), s, budget,
                                            int(w) if w else 1, job["seed"])
        else:
            driver = drivers.DRIVERS[job["setup"]](job["seed"])
            run = (sim.asha(driver, s, budget, int(w)) if kind == "asha" else
                   sim.asha(driver, s, budget, int(w), rungs=sim.RUNGS[1:]) if kind == "asha3" else
                   sim.synchronous(driver, s, budget, hyperband=kind == "hyperband"))
        out.update(best=drivers.best_or_nan(run), trace=run.trace, n_trials=run.n_trials,
                   n_full=run.n_full)
    except Exception:  # noqa: BLE001 - a failed run is reported, the others go on
        out["error"] = traceback.format_exc()
    out["seconds"] = time.perf_counter() - start
    return out


def summarise(runs: list[dict], refs: dict[str, float]) -> dict:
    """{(scheduler, budget): {setup: (geo-mean ratio, tasks worse than random, per task)}}."""
    cells: dict = {}
    for r in runs:
        if r["error"] or not math.isfinite(r["best"]):
            continue
        regret = max(r["best"] - refs[r["task"]], FLOOR)
        key = (r["scheduler"], r["budget"])
        cells.setdefault(key, {}).setdefault(r["setup"], {}).setdefault(r["task"], []).append(
            regret)
    table = {}
    for key, setups in cells.items():
        if "random" not in setups:
            continue
        base = {t: np.mean(v) for t, v in setups["random"].items()}
        table[key] = {}
        for setup, tasks in setups.items():
            ratios = {t: float(np.mean(v) / base[t]) for t, v in tasks.items() if t in base}
            geo = float(np.exp(np.mean(np.log(list(ratios.values())))))
            table[key][setup] = (geo, sum(x > 1.0 for x in ratios.values()), ratios)
    return table


def write_report(runs: list[dict], args: argparse.Namespace, out: Path) -> None:
    refs = {t: min([reference(t)] + [r["best"] for r in runs if r["task"] == t
                                     and not r["error"] and math.isfinite(r["best"])])
            for t in {r["task"] for r in runs}}
    table = summarise(runs, refs)
    tasks = sorted({r["task"] for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    packages = ("numpy", "optuna", "DEHB", "onnxruntime", "yahpo-gym")
    if any(r["setup"] in SYNETUNE for r in runs):
        packages += ("syne-tune",)
    lines = [f"# LCBench multi-fidelity ({args.split} tasks)", "",
             f"- command: `python benchmarks/lcbench.py {' '.join(sys.argv[1:])}`",
             f"- split: **{args.split}** ("
             f"{'chose the defaults' if args.split == 'tune' else 'confirms; never chose'})",
             f"- tasks ({len(tasks)}): {', '.join(tasks)}; seeds: {seeds[0]}-{seeds[-1]}",
             f"- core: {core_revision()}; {datetime.date.today()}",
             f"- machine: {machine(packages)}",
             "- figure: regret of the best epoch-52 error among fully trained trials over the "
             "task's best known error, / random search's regret under the same scheduler "
             "(mean over seeds, geometric mean over tasks; lower is better). "
             "`worse` = tasks where the setup's mean regret is above random's.", ""]
    if args.split == "test":
        lines.insert(4, f"- test runs made so far (this one included): {test_runs()}")
    for (scheduler, budget), setups in sorted(table.items()):
        lines += [f"## {scheduler}, {budget} full trainings", "",
                  "| setup | regret / random | worse than random on | trials trained |",
                  "|---|---|---|---|"]
        for setup, (geo, worse, ratios) in sorted(setups.items(), key=lambda kv: kv[1][0]):
            n = [r["n_trials"] for r in runs if r["setup"] == setup and r["budget"] == budget
                 and r["scheduler"] == scheduler and not r["error"]]
            lines.append(f"| {setup} | {geo:.3f} | {worse} of {len(ratios)} | "
                         f"{np.mean(n):.0f} |")
        lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    plot(runs, refs, out.with_suffix(".png"))


def plot(runs: list[dict], refs: dict[str, float], path: Path) -> None:
    """Best-so-far regret against epochs spent (geometric mean over tasks and seeds), one
    panel per scheduler and budget."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        return
    del matplotlib
    keys = sorted({(r["scheduler"], r["budget"]) for r in runs})
    fig = Figure(figsize=(5 * len(keys), 4))
    for ax, (scheduler, budget) in zip(fig.subplots(1, len(keys), squeeze=False)[0], keys,
                                       strict=True):
        grid = np.linspace(0, budget * sim.MAX_EPOCH, 200)
        for setup in sorted({r["setup"] for r in runs}):
            curves = []
            for r in runs:
                if (r["setup"], r["scheduler"], r["budget"]) != (setup, scheduler, budget) \
                        or r["error"] or not r["trace"]:
                    continue
                spent, best = np.array(r["trace"]).T
                idx = np.searchsorted(spent, grid, side="right") - 1
                regret = np.where(idx >= 0, best[np.maximum(idx, 0)] - refs[r["task"]], np.nan)
                curves.append(np.log(np.maximum(regret, FLOOR)))
            if curves:
                ax.plot(grid / sim.MAX_EPOCH, np.exp(np.nanmean(curves, axis=0)), label=setup)
        ax.set(title=f"{scheduler}, {budget} trainings", xlabel="epochs spent / 52",
               ylabel="regret (geo. mean)", yscale="log")
    fig.axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def test_runs() -> int:
    log = RESULTS / "lcbench_test_log.md"
    return sum(line.startswith("- ") for line in log.read_text().splitlines()) \
        if log.exists() else 0


def log_test_run(argv: list[str]) -> None:
    log = RESULTS / "lcbench_test_log.md"
    if not log.exists():
        log.write_text("# LCBench test-split runs\n\nEvery run on the test tasks, in order.\n\n")
    with log.open("a") as f:
        f.write(f"- {datetime.datetime.now():%Y-%m-%d %H:%M}, core {core_revision()}: "
                f"`python benchmarks/lcbench.py {' '.join(argv)}`\n")


def seeds_of(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("tune", "test"), default="tune")
    ap.add_argument("--tasks", default="", help="comma-separated subset of the split's tasks")
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--budgets", default="20,100")
    ap.add_argument("--schedulers", default="asha-1,asha-8,asha-32,sha,hyperband")
    ap.add_argument("--setups", default="tpe-plugins,random,optuna-tpe,optuna-tpe-hyperband,dehb")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    allowed = sim.allowed_tasks()[args.split]
    tasks = args.tasks.split(",") if args.tasks else allowed
    if any(t not in allowed for t in tasks):
        raise SystemExit(f"tasks {set(tasks) - set(allowed)} are not in the {args.split} split")
    out = args.out or RESULTS / f"lcbench_{args.split}"
    if args.split == "test":
        log_test_run(sys.argv[1:])
    setups = args.setups.split(",")
    unknown = set(setups) - set(drivers.DRIVERS) - OWN_SCHEDULER
    if unknown:
        raise SystemExit(f"unknown setups {sorted(unknown)}; known: "
                         f"{sorted(drivers.DRIVERS) + sorted(OWN_SCHEDULER)}")
    jobs = [dict(task=t, seed=s, budget=int(b), scheduler=sch, setup=st)
            for t in tasks for b in args.budgets.split(",") for sch in args.schedulers.split(",")
            for st in setups for s in seeds_of(args.seeds)
            if not ((st in OWN_SCHEDULER or st == "optuna-tpe-hyperband")
                    and sch.partition("-")[0] != "asha")]  # their own rungs: asha-W only
    sim.configure()
    for t in tasks:
        reference(t)  # fill the cache before forking
    _SURROGATES.clear()  # each worker process opens its own ONNX sessions
    runs = run_tasks(jobs, run_one, args.jobs,
                     lambda r: f"{r['setup']} {r['scheduler']} b{r['budget']} {r['task']} "
                               f"s{r['seed']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_suffix(".json")  # per-run results: ignored by git, regenerated by a rerun
    raw.write_text(json.dumps(runs))
    write_report(runs, args, out)


if __name__ == "__main__":
    main()
