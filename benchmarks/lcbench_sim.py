"""LCBench learning curves through YAHPO Gym's surrogate, and the schedulers that spend them.

`Surrogate` evaluates whole learning curves (52 epochs of validation error, in %) for many
configurations in one ONNX call. The schedulers simulate a cluster at equal epochs: asynchronous
successive halving (ASHA) with W workers, synchronous successive halving (SHA) and Hyperband.
Searchers are `Driver`s (see lcbench_drivers.py): `ask`, `report` each epoch, `finish`.

Needs the environment of ../shared/data/yahpo/README.md (yahpo-gym pins numpy<2).
"""

from __future__ import annotations

import heapq
import json
import math

import numpy as np
from yahpo_problems import DATA, configure

MAX_EPOCH = 52
ETA = 3
RUNGS = (1, 3, 9, 27)  # ASHA's stopping points below MAX_EPOCH (min resource 1, eta 3)

SPACE_SPEC = {  # LCBench's configuration space, as YAHPO Gym states it
    "batch_size": ("int", 16, 512, True),
    "learning_rate": ("float", 1e-4, 1e-1, True),
    "max_dropout": ("float", 0.0, 1.0, False),
    "max_units": ("int", 64, 1024, True),
    "momentum": ("float", 0.1, 0.99, False),
    "num_layers": ("int", 1, 5, False),
    "weight_decay": ("float", 1e-5, 1e-1, False),
}


def allowed_tasks() -> dict[str, list[str]]:
    """The tune and test LCBench tasks of splits.json; nothing else may run."""
    splits = json.loads((DATA / "splits.json").read_text())
    return {"tune": splits["tune"]["lcbench"], "test": splits["test"]["lcbench"]}


class Surrogate:
    """Validation error (100 - val_accuracy) curves of one LCBench task."""

    def __init__(self, task: str):
        if not any(task in ids for ids in allowed_tasks().values()):
            raise ValueError(f"task {task} is in neither the tune nor the test split")
        from yahpo_gym import benchmark_set

        configure()
        bench = benchmark_set.BenchmarkSet("lcbench", multithread=False)
        bench.set_instance(task)
        names = bench.config.cont_names
        self._order = [names.index(p) for p in SPACE_SPEC]
        self._epoch = names.index("epoch")
        default = dict(bench.get_opt_space(drop_fidelity_params=True)
                       .get_default_configuration())
        _, self._cat = bench._config_to_xs({**default, "epoch": 1})
        self._session = bench.session
        self._inputs = [x.name for x in self._session.get_inputs()]
        self._output = self._session.get_outputs()[0].name
        self._target = bench.config.y_names.index("val_accuracy")
        self.task = task

    def curves(self, configs: list[dict], epochs: int = MAX_EPOCH) -> np.ndarray:
        """(n, epochs) validation errors, epochs 1..epochs, one ONNX call."""
        steps = np.arange(1, epochs + 1)
        return self._errors(configs, steps).reshape(len(configs), epochs)

    def final_errors(self, configs: list[dict]) -> np.ndarray:
        """The epoch-52 errors alone (one row per configuration)."""
        return self._errors(configs, np.array([MAX_EPOCH]))

    def _errors(self, configs: list[dict], steps: np.ndarray) -> np.ndarray:
        x = np.array([[c[p] for p in SPACE_SPEC] for c in configs], dtype=np.float32)
        cont = np.zeros((len(configs) * len(steps), len(self._order) + 1), dtype=np.float32)
        cont[:, self._order] = np.repeat(x, len(steps), axis=0)
        cont[:, self._epoch] = np.tile(steps, len(configs))
        cat = np.repeat(self._cat, len(cont), axis=0)
        out = self._session.run([self._output], {self._inputs[0]: cat, self._inputs[1]: cont})
        return 100.0 - out[0][:, self._target].astype(float)


def random_configs(rng: np.random.Generator, n: int) -> list[dict]:
    """Uniform draws (log-uniform where the space is on a log scale)."""
    cols = {}
    for p, (kind, lo, hi, log) in SPACE_SPEC.items():
        if log:
            v = np.exp(rng.uniform(math.log(lo), math.log(hi + (kind == "int")), n))
        else:
            v = rng.uniform(lo, hi + (kind == "int"), n)
        cols[p] = np.minimum(np.floor(v), hi).astype(int) if kind == "int" else v
    return [{p: (int(cols[p][i]) if SPACE_SPEC[p][0] == "int" else float(cols[p][i]))
             for p in SPACE_SPEC} for i in range(n)]


class Run:
    """Epoch accounting of one simulated run: the best error of any trial trained in full."""

    def __init__(self, budget: int):
        self.budget = budget
        self.spent = 0
        self.trace: list[tuple[int, float]] = []  # (epochs spent, best full-budget error)
        self.n_trials = 0
        self.n_full = 0

    @property
    def done(self) -> bool:
        return self.spent >= self.budget

    def spend(self, epochs: int) -> None:
        self.spent += epochs

    def full(self, error: float) -> None:
        self.n_full += 1
        best = min(error, self.trace[-1][1]) if self.trace else error
        self.trace.append((self.spent, best))

    @property
    def best(self) -> float:
        return self.trace[-1][1] if self.trace else math.inf


def asha(driver, surrogate: Surrogate, budget: int, workers: int,
         rungs: tuple[int, ...] = RUNGS) -> Run:
    """Asynchronous successive halving, Ray's ASHAScheduler rule (stop at a rung unless in the
    top 1/ETA of the values recorded there), W workers, one epoch per time unit each. `rungs`:
    the stopping points (a grace period of 3 epochs: (3, 9, 27))."""
    run = Run(budget)
    recorded: dict[int, list[float]] = {r: [] for r in rungs}
    events: list[tuple[float, int, int]] = []  # (time, sequence, worker)
    state: dict[int, tuple] = {}
    sequence = 0

    def start(worker: int, now: float) -> None:
        nonlocal sequence
        trial, config = driver.ask()
        run.n_trials += 1
        curve = surrogate.curves([config])[0]
        state[worker] = (trial, curve, 0)
        heapq.heappush(events, (now + rungs[0], sequence, worker))
        sequence += 1

    for w in range(workers):
        start(w, 0.0)
    while events and not run.done:
        now, _, w = heapq.heappop(events)
        trial, curve, epoch = state[w]
        target = next((r for r in rungs if r > epoch), MAX_EPOCH)
        for e in range(epoch + 1, target + 1):
            driver.report(trial, e, curve[e - 1])
        run.spend(target - epoch)
        stop = False
        if target in recorded and driver.own_pruner:  # optuna + its HyperbandPruner
            stop = driver.wants_stop(trial, target)
        elif target in recorded:
            peers = recorded[target]
            peers.append(curve[target - 1])
            cut = np.quantile(peers, 1 / ETA) if len(peers) >= ETA else math.inf
            stop = curve[target - 1] > cut
        if target == MAX_EPOCH:
            run.full(curve[-1])
            driver.finish(trial, target, curve[-1], complete=True)
        elif stop:
            driver.finish(trial, target, curve[target - 1], complete=False)
        else:
            nxt = next((r for r in rungs if r > target), MAX_EPOCH)
            state[w] = (trial, curve, target)
            heapq.heappush(events, (now + nxt - target, sequence, w))
            sequence += 1
            continue
        if not run.done:
            start(w, now)
    return run


def brackets(hyperband: bool) -> list[list[tuple[int, int]]]:
    """Each bracket as [(n trials, epochs)] per rung. SHA: the most aggressive bracket
    (81 at 1 epoch, down to 1 at 52); Hyperband cycles through every bracket."""
    levels = [*RUNGS, MAX_EPOCH]
    out = []
    for s in range(len(levels) - 1, -1 if hyperband else len(levels) - 2, -1):
        n0 = math.ceil((len(levels)) / (s + 1) * ETA ** s)
        out.append([(max(n0 // ETA ** i, 1), levels[len(levels) - 1 - s + i])
                    for i in range(s + 1)])
    return out


def synchronous(driver, surrogate: Surrogate, budget: int, hyperband: bool) -> Run:
    """Synchronous SHA or Hyperband: a bracket asks all its trials at once, trains them to the
    rung, keeps the best 1/ETA, and so on; brackets repeat until the epochs run out."""
    run = Run(budget)
    plan = brackets(hyperband)
    b = 0
    while not run.done:
        rungs = plan[b % len(plan)]
        b += 1
        alive = []
        for _ in range(rungs[0][0]):
            trial, config = driver.ask()
            alive.append((trial, surrogate.curves([config])[0], 0))
        run.n_trials += len(alive)
        for i, (_, epochs) in enumerate(rungs):
            grown = []
            for trial, curve, epoch in alive:
                for e in range(epoch + 1, epochs + 1):
                    driver.report(trial, e, curve[e - 1])
                run.spend(epochs - epoch)
                grown.append((trial, curve, epochs))
                if epochs == MAX_EPOCH:
                    run.full(curve[-1])
                if run.done:
                    return run
            values = np.array([c[epochs - 1] for _, c, _ in grown])
            last = i == len(rungs) - 1
            keep = (set(np.argsort(values, kind="stable")[:rungs[i + 1][0]]) if not last
                    else set(range(len(grown))))
            for j, (trial, curve, epoch) in enumerate(grown):
                if j not in keep or last:
                    driver.finish(trial, epoch, curve[epoch - 1], complete=epoch == MAX_EPOCH)
            alive = [grown[j] for j in sorted(keep)] if not last else []
    return run
