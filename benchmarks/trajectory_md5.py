"""An md5 over seeded trajectories, to check that a refactor changes no suggestion.

Runs a few problems sequentially, with 4 concurrent workers and with ask(8) batches, and hashes
every suggested row (first line). The second line covers the other regimes: constraints, two
objectives, learning curves with pruning, a state_dict round trip in the middle of a run, and
other settings and the benchmark-only variants (set through their private hooks). Run it
before and after a change: the digests must match.

    python benchmarks/trajectory_md5.py
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tpe_plugins as tp  # noqa: E402

SPACES = {
    "mixed": {"x": tp.Float(-5, 5), "lr": tp.Float(1e-4, 1, log=True), "n": tp.Int(1, 8),
              "c": tp.Categorical(["a", "b", "c"])},
    "conditional": {"model": tp.Categorical([{"type": "a", "u": tp.Float(0, 1)},
                                             {"type": "b", "v": tp.Int(1, 9, step=2)}]),
                    "w": tp.Float(0, 1, step=0.05)},
    "branin": {"x": tp.Float(-5, 10), "y": tp.Float(0, 15)},
}


def value(params: dict) -> float:
    flat = []
    for v in params.values():
        if isinstance(v, dict):
            flat += [float(len(str(x))) if isinstance(x, str) else float(x) for x in v.values()]
        elif isinstance(v, str):
            flat.append(float(ord(v[0]) % 7))
        else:
            flat.append(float(v))
    x = np.array(flat)
    return float(np.sum((x - 0.3) ** 2) + np.sin(3 * x).sum())


def next_finished(opt: tp.TPE, running: list, workers: int, out: list) -> tp.Trial:
    """Fill the workers with new asks (recording them), then the oldest running trial."""
    while len(running) < workers:
        t = opt.ask()
        out.append(repr(t.params))
        running.append(t)
    return running.pop(0)


def trajectory(space: dict, seed: int, workers: int, batch: int, n: int = 60) -> bytes:
    opt = tp.TPE(space, seed=seed)
    out, running = [], []
    while len(out) < n:
        if batch > 1:
            trials = opt.ask(batch)
            for t in trials:
                out.append(repr(t.params))
                opt.tell(t, value(t.params))
            continue
        t = next_finished(opt, running, workers, out)
        opt.tell(t, value(t.params))
    return "\n".join(out).encode()


def constrained(space: dict, seed: int, workers: int, n: int = 50, **kw) -> bytes:
    """Two constraints on a value derived from the params; about half the space infeasible."""
    opt = tp.TPE(space, seed=seed, **kw)
    out, running = [], []
    while len(out) < n:
        t = next_finished(opt, running, workers, out)
        v = value(t.params)
        opt.tell(t, v, constraints=[math.sin(v) - 0.2, 0.5 - math.cos(2 * v)])
    out.append(repr([(t.id, t.state, t.value, t.constraints) for t in opt.pareto]))
    return "\n".join(out).encode()


def two_objectives(space: dict, seed: int, batch: int, n: int = 48,
                   constraints: bool = False) -> bytes:
    opt = tp.TPE(space, mode=["min", "max"], seed=seed)
    out = []
    while len(out) < n:
        for t in opt.ask(batch) if batch > 1 else [opt.ask()]:
            out.append(repr(t.params))
            v = value(t.params)
            c = [math.cos(v) - 0.5] if constraints else None
            opt.tell(t, [v, math.sin(v) + 0.1 * v * v], constraints=c)
    out.append(repr(sorted(t.id for t in opt.pareto)))
    return "\n".join(out).encode()


def curves(space: dict, seed: int, workers: int, n: int = 50, mode: str = "min",
           pruner: tp.Pruner | None = None) -> bytes:
    """Learning curves of 9 steps; trials that the pruner stops are pruned, some at a given
    value, some at their last report; one in eleven fails."""
    opt = tp.TPE(space, seed=seed, mode=mode, pruner=pruner or tp.MedianPruner(3, 1))
    sign = 1.0 if mode == "min" else -1.0
    out, running = [], []
    while len(out) < n:
        t = next_finished(opt, running, workers, out)
        v = value(t.params)
        if t.id % 11 == 5:
            opt.tell(t, None)
            continue
        for step in range(1, 10):
            opt.report(t, step, sign * (v + 2.0 / step + 0.01 * (t.id % 3)))
            if opt.should_prune(t):
                opt.prune(t, None if t.id % 2 else sign * (v + 1.0))
                break
        else:
            opt.tell(t, sign * v)
    out.append(repr([(t.id, t.state, t.value, sorted(t.intermediate.items()))
                     for t in opt.trials]))
    return "\n".join(out).encode()


def restored(space: dict, seed: int, n: int = 40) -> bytes:
    """A run saved and restored (through JSON) every 13 trials, with curves, constraints, a
    pending trial, a queued point and an added trial in the saved state."""
    opt = tp.TPE(space, seed=seed, n_startup_trials=6)
    opt.add_trial(opt.ask().params, 3.0, state="pruned", intermediate={1: 5.0, 2: 3.0})
    opt.enqueue(opt.ask().params)
    out, pending = [], opt.ask()
    while len(out) < n:
        if len(out) % 13 == 12:
            opt = tp.TPE.from_state_dict(json.loads(json.dumps(opt.state_dict())))
        t = opt.ask()
        out.append(repr(t.params))
        v = value(t.params)
        opt.report(t, 1, v + 1.0)
        opt.tell(t, v, constraints=[math.sin(v)] if len(out) % 3 else None)
    opt.tell(pending.id, 0.5)
    out.append(repr(opt.ask(3)))
    return "\n".join(out).encode()


def variant(space: dict, seed: int, batch: int, hooks: dict, n: int = 40, **kw) -> bytes:
    """A plain run with public settings `kw` and the benchmark-only variants `hooks`."""
    opt = tp.TPE(space, seed=seed, **kw)
    _set_hooks(opt, hooks)
    out = []
    while len(out) < n:
        for t in opt.ask(batch) if batch > 1 else [opt.ask()]:
            out.append(repr(t.params))
            v = value(t.params)
            opt.tell(t, round(v, 1))  # ties, for ties="first"
    return "\n".join(out).encode()


def ctpe(space: dict, seed: int) -> bytes:
    opt = tp.TPE(space, seed=seed)
    _set_hooks(opt, {"constraint_rule": "ctpe"})
    out = []
    for _ in range(40):
        t = opt.ask()
        out.append(repr(t.params))
        v = value(t.params)
        opt.tell(t, v, constraints=[math.sin(v) - 0.2, 0.5 - math.cos(2 * v)])
    return "\n".join(out).encode()


def _set_hooks(opt: tp.TPE, hooks: dict) -> None:
    """The losing variants, through the private hook that benchmarks use."""
    from benchmark_variants import set_variant

    for name, val in hooks.items():
        set_variant(opt, name, val)


def extended() -> str:
    digest = hashlib.md5()
    spaces = list(SPACES.values())
    for seed in range(2):
        for space in spaces:
            digest.update(constrained(space, seed, 1))
            digest.update(constrained(space, seed, 4))
            digest.update(two_objectives(space, seed, 1))
            digest.update(two_objectives(space, seed, 8, constraints=True))
            digest.update(curves(space, seed, 1))
            digest.update(curves(space, seed, 4, mode="max",
                                 pruner=tp.SuccessiveHalvingPruner()))
            digest.update(restored(space, seed))
        mixed = SPACES["mixed"]
        for kw in ({"gamma": "sqrt"}, {"startup": "random"}, {"constant_liar": False},
                   {"multivariate": False}, {"multivariate": True}, {"local_fraction": 0.0},
                   {"n_startup_trials": 3, "n_candidates": 8, "prior_weight": 2.0}):
            digest.update(variant(mixed, seed, 1, {}, **kw))
            digest.update(variant(mixed, seed, 4, {}, **kw))
        for hooks in ({"weights": "recent"}, {"ties": "first"}, {"jump_fraction": 0.1}):
            for space in spaces:
                digest.update(variant(space, seed, 1, hooks))
                digest.update(variant(space, seed, 8, hooks))
        for space in spaces:
            digest.update(ctpe(space, seed))
    return digest.hexdigest()


def main() -> None:
    digest = hashlib.md5()
    for space in SPACES.values():
        for seed in range(3):
            for workers, batch in ((1, 1), (4, 1), (1, 8)):
                digest.update(trajectory(space, seed, workers, batch))
    print(digest.hexdigest())
    print(extended())


if __name__ == "__main__":
    main()
