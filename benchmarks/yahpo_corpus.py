"""Real HPO problems: YAHPO Gym's surrogates (rbv2_xgboost, rbv2_rpart, iaml_glmnet, lcbench),
every optimiser side by side, W simulated workers.

Problems (benchmarks/yahpo_problems.py): one instance of splits.json per problem, fidelities at
their maximum, loss in points of percent (100 - accuracy, or 100 * mmce) to minimise.

Workers: all evaluations take the same time, so W workers keep W trials pending: the run asks W
trials, then tells the oldest pending trial and asks a new one, until `--trials` are told.
tpe-plugins asks its first W at once (`opt.ask(W)`); the others ask one at a time. Pending
configs are evaluated together in one ONNX call when the oldest of them is told.

Setups (`--setups`, plus one per `--variant`):
- `tpe-plugins`: `tp.TPE(space, seed=s)`; `--variant multivariate=True,gamma=0.15` adds
  `tpe-plugins[multivariate=True,gamma=0.15]` (values are Python literals; benchmark-only
  variants of benchmark_variants.py are allowed too);
- `optuna-tpe`: `TPESampler(seed=s, constant_liar=True)`, define-by-run (the branch first, then
  its parameters); `optuna-tpe-mv`: the same with `multivariate=True, group=True`;
- `hyperopt`: hyperopt's `tpe.suggest` on its own `hp` space (`hp.choice` for the branches),
  driven directly through its `Trials` (pending trials count as unfinished, loss inf, as in
  hyperopt's own parallel mode);
- `random`: uniform (log-uniform on log scales) sampling;
- `optuna-gp`: optuna's `GPSampler(seed=s)`, W = 1 only (needs torch).

Figure: regret = best loss after `--trials` trials minus the instance's optimum (the best of
20,000 random configs, cached in benchmarks/cache/yahpo-reference.json, or any better value
found in the run), floored at 0.01 points; divided by random search's expected regret after the
same number of trials (computed from the 20,000 reference configs; `--baseline seeds` divides by
the `random` setup's mean over the run's seeds instead). Per W: geometric mean over instances
of (mean over seeds of regret) / random's, wins and the worst ratio against `optuna-tpe`.
Instances where random search already reaches the optimum (expected regret < 2 x the floor)
are listed and left out of the figures.

Protocol (benchmarks/README.md): choose on `--split tune`; `--split test` only confirms a
decision, and each test run is logged in benchmarks/results/yahpo_test_log.md. Instances in
neither list are refused.

Runs in the yahpo environment of ../shared/data/yahpo/README.md, e.g.

    OMP_NUM_THREADS=1 python benchmarks/yahpo_corpus.py --split tune --per-scenario 10 \\
        --seeds 0-4 --workers 1,8,32,64 --variant multivariate=True --jobs 2
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import math
import os
import sys
import time
import traceback
import warnings
from collections import deque
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import yahpo_problems as yp  # noqa: E402
from benchmark_variants import make_tpe  # noqa: E402
from problems import from_hyperopt, hyperopt_space, suggest_optuna  # noqa: E402
from report import core_revision, machine, run_tasks  # noqa: E402

RESULTS = HERE / "results"
CACHE = HERE / "cache" / "yahpo-reference.json"
TEST_LOG = RESULTS / "yahpo_test_log.md"
FLOOR = 0.01  # points of percent: regrets below count as 0.01 (the surrogate's resolution)
SATURATED = 2 * FLOOR  # random search's expected regret below this: the instance is too easy
BASE_SETUPS = ("tpe-plugins", "optuna-tpe", "optuna-tpe-mv", "hyperopt", "random", "optuna-gp")
PEER = "optuna-tpe"  # wins and worst ratio are counted against this one


# ====================================================================== optimisers
class TPEPlugins:
    def __init__(self, space: dict, seed: int, settings: dict):
        self.opt = make_tpe(space, seed=seed, **settings)

    def ask(self, k: int) -> list[tuple[Any, dict]]:
        trials = [self.opt.ask()] if k == 1 else self.opt.ask(k)
        return [(t, yp.flatten(t.params)) for t in trials]

    def tell(self, handle: Any, value: float) -> None:
        self.opt.tell(handle, value)


class OptunaTPE:
    def __init__(self, space: dict, seed: int, multivariate: bool = False, gp: bool = False):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if gp:
            sampler = optuna.samplers.GPSampler(seed=seed)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True,
                                                 multivariate=multivariate, group=multivariate)
        self.study = optuna.create_study(direction="minimize", sampler=sampler)
        self.space = space

    def ask(self, k: int) -> list[tuple[Any, dict]]:
        out = []
        for _ in range(k):
            trial = self.study.ask()
            out.append((trial, yp.flatten(suggest_optuna(trial, self.space))))
        return out

    def tell(self, handle: Any, value: float) -> None:
        self.study.tell(handle, value)


class Hyperopt:
    """hyperopt's TPE through its Trials: a suggestion is inserted as a new (running) trial,
    and a result marks it done."""

    def __init__(self, space: dict, seed: int):
        import hyperopt

        self.hyperopt = hyperopt
        self.space = space
        self.hp_space = hyperopt_space(space)
        self.domain = hyperopt.Domain(lambda _: 0.0, self.hp_space)
        self.trials = hyperopt.Trials()
        self.rng = np.random.default_rng([seed, 3])

    def ask(self, k: int) -> list[tuple[Any, dict]]:
        from hyperopt import tpe
        from hyperopt.base import spec_from_misc

        out = []
        for _ in range(k):
            ids = self.trials.new_trial_ids(1)
            docs = tpe.suggest(ids, self.domain, self.trials, int(self.rng.integers(2**31 - 1)))
            self.trials.insert_trial_docs(docs)
            self.trials.refresh()
            sample = self.hyperopt.space_eval(self.hp_space, spec_from_misc(docs[0]["misc"]))
            out.append((ids[0], yp.flatten(from_hyperopt(self.space, sample))))
        return out

    def tell(self, handle: Any, value: float) -> None:
        doc = next(t for t in self.trials._dynamic_trials if t["tid"] == handle)
        doc["state"] = self.hyperopt.JOB_STATE_DONE
        doc["result"] = {"loss": float(value), "status": self.hyperopt.STATUS_OK}
        self.trials.refresh()


class Random:
    def __init__(self, space: dict, seed: int):
        self.space = space
        self.rng = np.random.default_rng([seed, 1])

    def ask(self, k: int) -> list[tuple[Any, dict]]:
        return [(None, yp.flatten(yp.sample(self.space, self.rng))) for _ in range(k)]

    def tell(self, handle: Any, value: float) -> None:
        pass


def make_driver(setup: str, space: dict, seed: int) -> Any:
    if setup.startswith("tpe-plugins"):
        return TPEPlugins(space, seed, parse_settings(setup[len("tpe-plugins"):].strip("[]")))
    if setup in ("optuna-tpe", "optuna-tpe-mv"):
        return OptunaTPE(space, seed, multivariate=setup == "optuna-tpe-mv")
    if setup == "optuna-gp":
        return OptunaTPE(space, seed, gp=True)
    if setup == "hyperopt":
        return Hyperopt(space, seed)
    if setup == "random":
        return Random(space, seed)
    raise KeyError(setup)


def importable(setup: str) -> str | None:
    """None when the setup's library imports, else why not."""
    try:
        if setup.startswith("optuna"):
            import optuna  # noqa: F401
        if setup == "optuna-gp":
            import torch  # noqa: F401
        if setup == "hyperopt":
            import hyperopt  # noqa: F401
    except ImportError as e:
        return str(e)
    return None


# ====================================================================== one run
def simulate(problem: yp.YahpoProblem, driver: Any, workers: int,
             n_trials: int) -> tuple[list[float], float, float]:
    """Keep `workers` trials pending; tell the oldest, ask a new one. Returns the losses in
    the order told, and the seconds spent in the optimiser and in the surrogate."""
    pending: deque = deque()  # [handle, config, loss or None], oldest first
    told: list[float] = []
    opt_s = eval_s = 0.0
    n_asked = 0

    def ask(k: int) -> None:
        nonlocal opt_s, n_asked
        t0 = time.perf_counter()
        new = driver.ask(k)
        opt_s += time.perf_counter() - t0
        pending.extend([h, c, None] for h, c in new)
        n_asked += len(new)

    ask(min(workers, n_trials))
    while len(told) < n_trials:
        if pending[0][2] is None:  # evaluate every pending config not yet evaluated
            todo = [p for p in pending if p[2] is None]
            t0 = time.perf_counter()
            for p, y in zip(todo, problem.losses([p[1] for p in todo]), strict=True):
                p[2] = float(y)
            eval_s += time.perf_counter() - t0
        handle, _, y = pending.popleft()
        t0 = time.perf_counter()
        driver.tell(handle, y)
        opt_s += time.perf_counter() - t0
        told.append(y)
        if n_asked < n_trials:
            ask(1)
    return told, opt_s, eval_s


_PROBLEMS: dict[str, yp.YahpoProblem] = {}


def problem_of(scenario: str, instance: str) -> yp.YahpoProblem:
    key = f"{scenario}/{instance}"
    if key not in _PROBLEMS:
        _PROBLEMS[key] = yp.YahpoProblem(scenario, instance)
    return _PROBLEMS[key]


def run_one(job: dict) -> dict:
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    out = {**job, "error": None, "losses": [], "best": math.nan}
    try:
        problem = problem_of(job["scenario"], job["instance"])
        driver = make_driver(job["setup"], problem.space, job["seed"])
        losses, opt_s, eval_s = simulate(problem, driver, job["workers"], job["trials"])
        out.update(losses=losses, best=float(min(losses)), optimizer_seconds=opt_s,
                   eval_seconds=eval_s)
    except Exception:  # noqa: BLE001 - a failed run is reported, the others go on
        out["error"] = traceback.format_exc()
    out["seconds"] = time.perf_counter() - start
    return out


# ====================================================================== references
def load_references() -> dict:
    return json.loads(CACHE.read_text()) if CACHE.exists() else {}


def reference_job(key: str) -> dict:
    start = time.perf_counter()
    out = {"key": key, "error": None}
    try:
        scenario, instance = key.split("/")
        out["ref"] = yp.reference_sample(problem_of(scenario, instance))
    except Exception:  # noqa: BLE001
        out["error"] = traceback.format_exc()
    out["seconds"] = time.perf_counter() - start
    return out


def fill_references(keys: list[str], jobs: int) -> dict:
    """The 20,000-config reference of every instance, computed once and cached."""
    known = load_references()
    missing = [k for k in keys if k not in known]
    if missing:
        print(f"reference samples for {len(missing)} instances", flush=True)
        for r in run_tasks(missing, reference_job, jobs, lambda r: f"reference {r['key']}"):
            if r["error"]:
                raise SystemExit(f"reference of {r['key']} failed")
            known[r["key"]] = r["ref"]
        CACHE.parent.mkdir(exist_ok=True)
        CACHE.write_text(json.dumps(known, sort_keys=True, separators=(",", ":")))
    return known


# ====================================================================== analysis
def geomean(xs: list[float]) -> float:
    return float(np.exp(np.mean(np.log(xs)))) if xs else math.nan


def summarise(runs: list[dict], refs: dict, baseline: str) -> dict:
    """Per W: {"setups": {setup: {...}}, "saturated": [...], "instances": [...]}."""
    ok = [r for r in runs if not r["error"]]
    optimum = {}
    for r in ok:
        key = f"{r['scenario']}/{r['instance']}"
        optimum[key] = min(optimum.get(key, refs[key]["best"]), r["best"])
    regret: dict = {}  # (W, setup, key) -> [regret per seed]
    for r in ok:
        key = f"{r['scenario']}/{r['instance']}"
        regret.setdefault((r["workers"], r["setup"], key), []).append(
            max(r["best"] - optimum[key], FLOOR))
    n_trials = {r["trials"] for r in runs}.pop() if runs else 0
    table: dict = {}
    for w in sorted({r["workers"] for r in runs}):
        keys = sorted({k for (ww, _, k) in regret if ww == w})
        expected = {k: yp.random_expected_regret(refs[k], optimum[k], n_trials, FLOOR)
                    for k in keys}
        saturated = [k for k in keys if expected[k] < SATURATED]
        if baseline == "seeds":
            base = {k: float(np.mean(regret[(w, "random", k)])) for k in keys
                    if (w, "random", k) in regret}
        else:
            base = expected
        used = [k for k in keys if k not in saturated and k in base]
        setups: dict = {}
        for setup in sorted({s for (ww, s, _) in regret if ww == w}):
            mean = {k: float(np.mean(regret[(w, setup, k)])) for k in used
                    if (w, setup, k) in regret}
            ratios = {k: mean[k] / base[k] for k in mean}
            peer = {k: float(np.mean(regret[(w, PEER, k)])) for k in mean
                    if (w, PEER, k) in regret}
            vs = {k: mean[k] / peer[k] for k in peer}
            by_scenario = {}
            for sc in yp.SCENARIOS:
                xs = [v for k, v in ratios.items() if k.startswith(sc + "/")]
                if xs:
                    by_scenario[sc] = geomean(xs)
            times = [r["seconds"] for r in ok if r["workers"] == w and r["setup"] == setup]
            opt_times = [r["optimizer_seconds"] for r in ok
                         if r["workers"] == w and r["setup"] == setup]
            setups[setup] = {
                "ratio": geomean(list(ratios.values())), "ratios": ratios,
                "by_scenario": by_scenario,
                "wins": sum(v < 1.0 for v in vs.values()),
                "ties": sum(v == 1.0 for v in vs.values()), "n_vs": len(vs),
                "worst_vs_peer": max(vs.values()) if vs else math.nan,
                "seconds": float(np.mean(times)) if times else math.nan,
                "optimizer_seconds": float(np.mean(opt_times)) if opt_times else math.nan,
                "seeds": sorted({r["seed"] for r in ok if r["workers"] == w
                                 and r["setup"] == setup}),
            }
        table[w] = {"setups": setups, "saturated": saturated, "instances": used}
    return table


def markdown(table: dict, runs: list[dict], args: argparse.Namespace, n_test: int) -> str:
    split = args.split
    keys = sorted({f"{r['scenario']}/{r['instance']}" for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    failed = [r for r in runs if r["error"]]
    lines = [
        f"# YAHPO Gym corpus, {split} instances", "",
        f"- split: **{split}** ("
        + ("instances that choose the defaults" if split == "tune"
           else "held-out confirmation; these instances never chose anything") + ")",
        f"- command: `python benchmarks/yahpo_corpus.py {' '.join(sys.argv[1:])}`",
        f"- instances ({len(keys)}): " + ", ".join(keys),
        f"- seeds: {','.join(map(str, seeds))}; trials per run: {args.trials}; "
        f"runs: {len(runs)}, failed: {len(failed)}",
        f"- core: {core_revision()}; {datetime.date.today()}",
        f"- machine: {machine(('numpy', 'optuna', 'hyperopt', 'onnxruntime', 'yahpo-gym'))}; "
        f"{args.jobs} runs at a time",
        "- figure: regret of the best loss after the run (points of percent over the "
        "instance's optimum, floored at 0.01), mean over seeds, / "
        + ("random search's expected regret after as many trials (from 20,000 random "
           "configs)" if args.baseline == "expected" else
           "the `random` setup's mean regret over the same seeds")
        + "; geometric mean over instances; lower is better. "
        f"`wins` and `worst` compare each instance's mean regret with `{PEER}`'s.",
        f"- check: the fast batched surrogate path vs yahpo's `objective_function`, max abs "
        f"difference of the loss on 10 random configs of one instance per scenario: "
        f"{args.check:.3g}",
    ]
    if split == "test":
        lines.insert(3, f"- test runs made so far, this one included: **{n_test}** "
                        f"(log: benchmarks/results/{TEST_LOG.name})")
    for w, cell in table.items():
        scen = [sc for sc in yp.SCENARIOS
                if any(sc in s["by_scenario"] for s in cell["setups"].values())]
        lines += ["", f"## {w} worker{'s' if w > 1 else ''} ({split})", ""]
        if cell["saturated"]:
            lines.append(f"Left out, random search reaches the optimum: "
                         f"{', '.join(cell['saturated'])}.\n")
        lines += ["| setup | regret / random | wins vs optuna-tpe | worst vs optuna-tpe | "
                  + " | ".join(scen) + " | s / run (optimiser) |",
                  "|---|---|---|---|" + "---|" * len(scen) + "---|"]
        for setup, s in sorted(cell["setups"].items(), key=lambda kv: kv[1]["ratio"]):
            wins = (f"{s['wins']}/{s['n_vs']}" + (f" ({s['ties']} tied)" if s["ties"] else "")
                    if setup != PEER else "-")
            worst = f"{s['worst_vs_peer']:.2f}x" if setup != PEER else "-"
            per = " | ".join(f"{s['by_scenario'][sc]:.3f}" if sc in s["by_scenario"] else "-"
                             for sc in scen)
            lines.append(f"| {setup} | {s['ratio']:.3f} | {wins} | {worst} | {per} | "
                         f"{s['seconds']:.1f} ({s['optimizer_seconds']:.1f}) |")
    if failed:
        lines += ["", "## Failed runs", ""]
        lines += [f"- {r['setup']} W={r['workers']} {r['scenario']}/{r['instance']} "
                  f"s{r['seed']}: {r['error'].strip().splitlines()[-1]}" for r in failed]
    return "\n".join(lines) + "\n"


# ====================================================================== CLI
def parse_settings(text: str) -> dict:
    """'multivariate=True,gamma=0.15' -> {'multivariate': True, 'gamma': 0.15}; commas inside
    brackets or quotes stay with their value."""
    parts, depth, cur, quote = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    settings: dict = {}
    for part in filter(str.strip, parts):
        key, eq, value = part.partition("=")
        if not eq:
            raise SystemExit(f"setting {part!r} is not key=value")
        try:
            settings[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            try:
                settings[key.strip()] = float(value)  # 'inf'
            except ValueError:
                settings[key.strip()] = value.strip()
    return settings


def parse_ints(text: str) -> list[int]:
    """'0-4' -> 0..4; '1,8,32' -> those; ranges and lists may be mixed."""
    out: list[int] = []
    for part in filter(str.strip, text.split(",")):
        lo, _, hi = part.strip().partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def select_instances(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(scenario, instance) pairs of the chosen split; anything outside it is refused."""
    lists = yp.allowed(args.split)
    scenarios = args.scenarios.split(",")
    unknown = set(scenarios) - set(yp.SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; known: {sorted(yp.SCENARIOS)}")
    if args.instances:
        pairs = []
        for item in args.instances.split(","):
            sc, _, inst = item.rpartition("/")
            if not sc and len(scenarios) > 1:  # ids repeat across scenarios (and splits)
                raise SystemExit(f"instance {item}: write scenario/{item} when several "
                                 "scenarios are chosen")
            hits = [(s, inst) for s in ([sc] if sc else scenarios) if inst in lists.get(s, [])]
            if not hits or (sc and sc not in scenarios):
                raise SystemExit(f"instance {item} is not in the {args.split} split of "
                                 f"{sc or ','.join(scenarios)}: refused")
            pairs += [h for h in hits if h not in pairs]
        return pairs
    pairs = []
    for sc in scenarios:
        chosen = lists[sc][:args.per_scenario] if args.per_scenario else lists[sc]
        pairs += [(sc, inst) for inst in chosen]
    return pairs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("tune", "test"), default="tune")
    ap.add_argument("--scenarios", default=",".join(yp.SCENARIOS))
    ap.add_argument("--instances", default="",
                    help="comma-separated subset of the split: 'scenario/id' ('id' with one "
                         "scenario)")
    ap.add_argument("--per-scenario", type=int, default=0,
                    help="the first K instances of each scenario's split list (0: all)")
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--workers", default="1,8,32,64")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--setups", default="tpe-plugins,optuna-tpe,optuna-tpe-mv,hyperopt,random,"
                                        "optuna-gp")
    ap.add_argument("--variant", action="append", default=[],
                    help="tpe-plugins settings, e.g. multivariate=True,gamma=0.15 (repeatable)")
    ap.add_argument("--baseline", choices=("expected", "seeds"), default="expected")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    return ap.parse_args(argv)


def test_runs() -> int:
    return sum(line.startswith("- ") for line in TEST_LOG.read_text().splitlines()) \
        if TEST_LOG.exists() else 0


def log_test_run(argv: list[str]) -> None:
    RESULTS.mkdir(exist_ok=True)
    if not TEST_LOG.exists():
        TEST_LOG.write_text("# YAHPO corpus: test-split runs\n\n"
                            "Every run on the test instances, in order.\n\n")
    with TEST_LOG.open("a") as f:
        f.write(f"- {datetime.datetime.now():%Y-%m-%d %H:%M}, core {core_revision()}: "
                f"`python benchmarks/yahpo_corpus.py {' '.join(argv)}`\n")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pairs = select_instances(args)
    setups = [s for s in args.setups.split(",") if s]
    unknown = set(setups) - set(BASE_SETUPS)
    if unknown:
        raise SystemExit(f"unknown setups {sorted(unknown)}; known: {list(BASE_SETUPS)}")
    for text in args.variant:
        parse_settings(text)  # fail early on a bad literal
        setups.append(f"tpe-plugins[{text}]")
    for s in list(setups):
        why = importable(s)
        if why:
            print(f"skipping {s}: {why}", flush=True)
            setups.remove(s)
    if args.baseline == "seeds" and "random" not in setups:
        raise SystemExit("--baseline seeds needs the random setup")
    workers, seeds = parse_ints(args.workers), parse_ints(args.seeds)
    jobs = [dict(scenario=sc, instance=inst, setup=st, seed=s, workers=w, trials=args.trials)
            for sc, inst in pairs for w in workers for st in setups for s in seeds
            if not (st == "optuna-gp" and w > 1)]
    out = args.out or RESULTS / f"yahpo_{args.split}"
    yp.configure()
    if args.split == "test":
        log_test_run(sys.argv[1:] if argv is None else argv)
    refs = fill_references([f"{sc}/{inst}" for sc, inst in pairs], args.jobs)
    firsts = {sc: inst for sc, inst in reversed(pairs)}  # one instance per scenario
    args.check = max(problem_of(sc, inst).check(10) for sc, inst in firsts.items())
    print(f"fast surrogate path vs objective_function, max abs diff of the loss on "
          f"{', '.join(f'{sc}/{inst}' for sc, inst in firsts.items())}: {args.check:.3g}",
          flush=True)
    _PROBLEMS.clear()
    yp.forget_sessions()  # each worker process opens its own ONNX session
    print(f"{len(jobs)} runs: {len(pairs)} instances x {len(setups)} setups x "
          f"{len(seeds)} seeds x W {workers}", flush=True)
    runs = run_tasks(jobs, run_one, args.jobs,
                     lambda r: f"{r['setup']} W={r['workers']} {r['scenario']}/"
                               f"{r['instance']} s{r['seed']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(runs))  # raw: git-ignored, regenerated
    table = summarise(runs, refs, args.baseline)
    text = markdown(table, runs, args, test_runs())
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
