"""An md5 over seeded trajectories, to check that a refactor changes no suggestion.

Runs a few problems sequentially, with 4 concurrent workers and with ask(8) batches, and hashes
every suggested row. Run it before and after a change: the digests must match.

    python benchmarks/trajectory_md5.py
"""

from __future__ import annotations

import hashlib
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
        while len(running) < workers:
            t = opt.ask()
            out.append(repr(t.params))
            running.append(t)
        t = running.pop(0)
        opt.tell(t, value(t.params))
    return "\n".join(out).encode()


def main() -> None:
    digest = hashlib.md5()
    for space in SPACES.values():
        for seed in range(3):
            for workers, batch in ((1, 1), (4, 1), (1, 8)):
                digest.update(trajectory(space, seed, workers, batch))
    print(digest.hexdigest())


if __name__ == "__main__":
    main()
