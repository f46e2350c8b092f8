"""Speed of one optimisation step with a long history, 10 continuous dimensions.

For each history size (100, 1,000 and 10,000 finished trials) every library gets a prefilled
history of the same random points, then runs steps: ask (suggest the next point), evaluate,
tell. The libraries take turns, one step each, so that a slower or faster spell of a shared
machine falls on all of them alike and the ratios stay comparable. The history is built the
fast way in each library: `TPE.add_trial` for tpe-plugins, `study.add_trials(create_trial(...))`
for optuna (default `TPESampler(seed=0)`), and trial documents inserted into a
`hyperopt.Trials` for hyperopt (`tpe.suggest`).

    python benchmarks/speed.py           # 100 / 1,000 / 10,000 trials
    python benchmarks/speed.py --quick   # 100 / 1,000 trials, 5 steps

Also times tpe-plugins' batch `opt.ask(64)` at 1,000 finished trials (--batch, 0 to skip);
the other libraries have no batch ask.

Writes benchmarks/results/speed.md.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import core_revision, machine  # noqa: E402

import tpe_plugins as tp  # noqa: E402

DIM = 10
LOW, HIGH = -5.0, 5.0
RESULTS = Path(__file__).resolve().parent / "results"
LIBRARIES = ("tpe_plugins", "optuna_tpe", "hyperopt_tpe")
LABELS = {"tpe_plugins": "tpe-plugins TPE", "optuna_tpe": "optuna TPESampler",
          "hyperopt_tpe": "hyperopt tpe.suggest"}
NAMES = [f"x{i}" for i in range(DIM)]

Step = tuple[float, float]  # (ask seconds, ask+evaluate+tell seconds) of one step


class Budget:
    """How many steps to time: `steps`, but stop after `min_steps` once `seconds` are spent."""

    def __init__(self, steps: int, min_steps: int, seconds: float):
        self.steps, self.min_steps, self.seconds = steps, min_steps, seconds
        self.start = time.perf_counter()

    def more(self, done: int) -> bool:
        if done >= self.steps:
            return False
        return done < self.min_steps or time.perf_counter() - self.start < self.seconds


def objective(params: dict) -> float:
    """Styblinski-Tang in 10-d."""
    x = np.array([params[n] for n in NAMES])
    return float(0.5 * np.sum(x**4 - 16.0 * x**2 + 5.0 * x))


def history(n: int, seed: int = 0) -> list[tuple[dict, float]]:
    rng = np.random.default_rng(seed)
    points = rng.uniform(LOW, HIGH, (n, DIM))
    out = []
    for row in points:
        params = {name: float(v) for name, v in zip(NAMES, row, strict=True)}
        out.append((params, objective(params)))
    return out


# ---------------------------------------------------------------------- tpe-plugins
def time_tpe_plugins(hist: list[tuple[dict, float]]) -> Iterator[Step]:
    space = {name: tp.Float(LOW, HIGH) for name in NAMES}
    opt = tp.TPE(space, seed=0)
    for params, value in hist:
        opt.add_trial(params, value)
    while True:
        t0 = time.perf_counter()
        trial = opt.ask()
        t1 = time.perf_counter()
        opt.tell(trial, objective(trial.params))
        yield t1 - t0, time.perf_counter() - t0


def time_tpe_plugins_batch(hist: list[tuple[dict, float]], batch: int, steps: int) -> list[float]:
    """Seconds per `opt.ask(batch)`; each batch is told before the next ask."""
    space = {name: tp.Float(LOW, HIGH) for name in NAMES}
    opt = tp.TPE(space, seed=0)
    for params, value in hist:
        opt.add_trial(params, value)
    asks = []
    for _ in range(steps):
        t0 = time.perf_counter()
        trials = opt.ask(batch)
        asks.append(time.perf_counter() - t0)
        for trial in trials:
            opt.tell(trial, objective(trial.params))
    return asks


# ---------------------------------------------------------------------- optuna
def time_optuna(hist: list[tuple[dict, float]]) -> Iterator[Step]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dist = optuna.distributions.FloatDistribution(LOW, HIGH)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.add_trials([optuna.trial.create_trial(params=params, value=value,
                                                distributions={n: dist for n in NAMES})
                      for params, value in hist])
    while True:
        t0 = time.perf_counter()
        trial = study.ask()
        params = {n: trial.suggest_float(n, LOW, HIGH) for n in NAMES}  # sampling happens here
        t1 = time.perf_counter()
        study.tell(trial, objective(params))
        yield t1 - t0, time.perf_counter() - t0


# ---------------------------------------------------------------------- hyperopt
def time_hyperopt(hist: list[tuple[dict, float]]) -> Iterator[Step]:
    from hyperopt import JOB_STATE_DONE, STATUS_OK, Domain, Trials, hp, tpe

    domain = Domain(objective, {n: hp.uniform(n, LOW, HIGH) for n in NAMES})
    trials = Trials()

    def done_doc(tid: int, params: dict, value: float) -> dict:
        misc = {"tid": tid, "cmd": domain.cmd, "workdir": domain.workdir,
                "idxs": {n: [tid] for n in NAMES}, "vals": {n: [params[n]] for n in NAMES}}
        doc = trials.new_trial_docs([tid], [None], [{"status": STATUS_OK, "loss": value}],
                                    [misc])[0]
        doc["state"] = JOB_STATE_DONE
        return doc

    trials.insert_trial_docs([done_doc(tid, p, v) for tid, (p, v) in enumerate(hist)])
    trials.refresh()
    for step in itertools.count():
        tid = len(hist) + step
        t0 = time.perf_counter()
        doc = tpe.suggest([tid], domain, trials, seed=step)[0]
        t1 = time.perf_counter()
        params = {n: float(doc["misc"]["vals"][n][0]) for n in NAMES}
        trials.insert_trial_docs([done_doc(tid, params, objective(params))])
        trials.refresh()
        yield t1 - t0, time.perf_counter() - t0


TIMERS: dict[str, Callable[[list[tuple[dict, float]]], Iterator[Step]]] = {
    "tpe_plugins": time_tpe_plugins, "optuna_tpe": time_optuna, "hyperopt_tpe": time_hyperopt,
}


def interleaved(hist: list[tuple[dict, float]], args: argparse.Namespace) -> dict[str, list[Step]]:
    """Every library's steps on `hist`, taken in turns (one step each per round). A library
    that is slow at 10,000 trials stops after `--slow-steps` once `--slow-seconds` passed."""
    libs = list(args.library_list)
    runs = {lib: TIMERS[lib](hist) for lib in libs}
    for run in runs.values():
        next(run)  # the first step after the prefill, untimed: one-time set-up in any library
    steps: dict[str, list[Step]] = {lib: [] for lib in libs}
    budgets = {lib: Budget(args.steps, args.slow_steps if lib != "tpe_plugins"
                           and len(hist) >= 10_000 else args.steps, args.slow_seconds)
               for lib in libs}
    active = list(libs)
    while active:
        for lib in list(active):
            steps[lib].append(next(runs[lib]))
            if not budgets[lib].more(len(steps[lib])):
                active.remove(lib)
    return steps


# ---------------------------------------------------------------------- report
def versions() -> str:
    out = []
    for name in ("tpe-plugins", "optuna", "hyperopt", "numpy", "scipy"):
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} not installed")
    return ", ".join(out)


def ms(seconds: float) -> str:
    value = seconds * 1e3
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def write_markdown(path: Path, results: dict[int, dict[str, dict[str, Any]]],
                   sizes: Sequence[int], command: str, revision: str,
                   batch: tuple[int, int, float, int] | None = None) -> None:
    libs = [lib for lib in LIBRARIES if lib in results[sizes[0]]]
    lines = [
        "# Speed: one step with a long history",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()} (a virtual machine whose host may be shared; the libraries take "
        "turns step by step, so a slow spell falls on all of them; timings are medians)",
        f"- date: {datetime.date.today().isoformat()}",
        f"- versions: {versions()}",
        f"- tpe_plugins core: git {revision}",
        f"- space: {DIM} continuous floats in [{LOW:g}, {HIGH:g}]; history: the same uniform "
        "random points with Styblinski-Tang values for every library, prefilled "
        "(`TPE.add_trial`, `study.add_trials`, `Trials.insert_trial_docs`)",
        "- ask: tpe-plugins `opt.ask()`; optuna `study.ask()` plus the 10 `trial.suggest_float` "
        "calls (optuna samples there); hyperopt one `tpe.suggest` call. "
        "step: ask + evaluate + tell (hyperopt: insert the result and `trials.refresh()`)",
        "",
        "## Median time per ask (ms)",
        "",
        "| finished trials | " + " | ".join(LABELS[lib] for lib in libs)
        + " | " + " | ".join(f"{LABELS[lib]} / ours" for lib in libs[1:]) + " | steps timed |",
        "|---|" + "---|" * (2 * len(libs) - 1) + "---|",
    ]
    for n in sizes:
        row = results[n]
        ours = row["tpe_plugins"]["ask"]
        cells = [ms(row[lib]["ask"]) for lib in libs]
        ratios = [f"{row[lib]['ask'] / ours:.1f}x" for lib in libs[1:]]
        steps = "/".join(str(row[lib]["steps"]) for lib in libs)
        lines.append(f"| {n:,} | " + " | ".join(cells + ratios) + f" | {steps} |")
    lines += [
        "",
        "## Median time per step, ask + evaluate + tell (ms)",
        "",
        "| finished trials | " + " | ".join(LABELS[lib] for lib in libs)
        + " | " + " | ".join(f"{LABELS[lib]} / ours" for lib in libs[1:]) + " |",
        "|---|" + "---|" * (2 * len(libs) - 1),
    ]
    for n in sizes:
        row = results[n]
        ours = row["tpe_plugins"]["step"]
        cells = [ms(row[lib]["step"]) for lib in libs]
        ratios = [f"{row[lib]['step'] / ours:.1f}x" for lib in libs[1:]]
        lines.append(f"| {n:,} | " + " | ".join(cells + ratios) + " |")
    lines += [
        "",
        "## Growth of the tpe-plugins step with history size",
        "",
        "Time per finished trial = median step time / finished trials. Linear growth keeps it "
        "flat; the growth factor between sizes is at most the size factor for linear cost.",
        "",
        "| finished trials | step (ms) | per finished trial (us) | growth vs previous size |",
        "|---|---|---|---|",
    ]
    previous: tuple[int, float] | None = None
    for n in sizes:
        step = results[n]["tpe_plugins"]["step"]
        growth = ""
        if previous is not None:
            growth = f"{step / previous[1]:.1f}x for {n / previous[0]:.0f}x the trials"
        lines.append(f"| {n:,} | {ms(step)} | {step / n * 1e6:.2f} | {growth} |")
        previous = (n, step)
    if batch is not None:
        size, k, seconds, steps = batch
        lines += [
            "",
            f"## Batch ask: tpe-plugins `opt.ask({k})` at {size:,} finished trials",
            "",
            f"Median {ms(seconds)} ms per batch ({steps} batches, each told before the next), "
            f"{ms(seconds / k)} ms per point.",
        ]
    path.write_text("\n".join(lines) + "\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="sizes 100 and 1,000, 5 steps each")
    ap.add_argument("--sizes", default=None, help="comma list of history sizes "
                    "(default 100,1000,10000)")
    ap.add_argument("--steps", type=int, default=None, help="steps timed per size (default 20)")
    ap.add_argument("--slow-steps", type=int, default=3,
                    help="optuna and hyperopt at 10,000 trials and more: time at least this "
                    "many steps, more (up to --steps) while under --slow-seconds")
    ap.add_argument("--slow-seconds", type=float, default=10.0,
                    help="time budget per library for the slow sizes (default 10 s)")
    ap.add_argument("--libraries", default=",".join(LIBRARIES), help="comma list")
    ap.add_argument("--batch", type=int, default=64,
                    help="also time tpe-plugins ask(BATCH) at 1,000 trials (0: skip)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="output folder")
    args = ap.parse_args(argv)
    if args.sizes is None:
        args.sizes = "100,1000" if args.quick else "100,1000,10000"
    args.size_list = [int(s) for s in args.sizes.split(",")]
    args.steps = args.steps or (5 if args.quick else 20)
    args.library_list = [s.strip() for s in args.libraries.split(",") if s.strip()]
    if "tpe_plugins" not in args.library_list:
        ap.error("tpe_plugins is the baseline of the ratios and must be in --libraries")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    revision = core_revision()
    warnings.filterwarnings("ignore")
    command = "python benchmarks/speed.py" + "".join(
        f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    results: dict[int, dict[str, dict[str, Any]]] = {}
    for n in args.size_list:
        hist = history(n)
        results[n] = {}
        for lib, steps in interleaved(hist, args).items():
            asks, totals = np.array(steps).T
            results[n][lib] = {"ask": float(np.median(asks)), "step": float(np.median(totals)),
                               "steps": len(steps)}
            print(f"{n:>6} trials  {lib:13s} ask {ms(results[n][lib]['ask']):>8} ms  "
                  f"step {ms(results[n][lib]['step']):>8} ms  ({len(steps)} steps)", flush=True)
    batch = None
    if args.batch > 0:
        size = 1000
        asks = time_tpe_plugins_batch(history(size), args.batch, max(args.steps // 2, 3))
        batch = (size, args.batch, float(np.median(asks)), len(asks))
        print(f"{size:>6} trials  tpe_plugins   ask({args.batch}) {ms(batch[2]):>8} ms  "
              f"({len(asks)} batches)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_markdown(args.out / "speed.md", results, args.size_list, command, revision, batch)
    print((args.out / "speed.md").read_text())


if __name__ == "__main__":
    main()
