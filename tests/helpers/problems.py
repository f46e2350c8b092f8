"""The mixed conditional test problem several core test modules share."""

import math

import tpe_plugins as tp

SPACE = {
    "x": tp.Float(-5.0, 10.0),
    "y": tp.Float(0.0, 15.0),
    "n": tp.Int(1, 8),
    "opt": tp.Categorical(["adam", "sgd"]),
    "model": tp.Categorical([{"kind": "a", "u": tp.Float(1e-3, 1.0, log=True)},
                             {"kind": "b", "k": tp.Int(3, 7, step=2)}]),
    "epochs": 5,
}


def branin(p: dict) -> float:
    x, y = p["x"], p["y"]
    b = 5.1 / (4 * math.pi**2)
    r, t = 6.0, 1 / (8 * math.pi)
    return (y - b * x * x + 5 / math.pi * x - r) ** 2 + 10 * (1 - t) * math.cos(x) + 10


def objective(p: dict) -> float:
    extra = p["n"] / 8 + (p["opt"] == "sgd")
    extra += abs(math.log10(p["model"]["u"]) + 2) if p["model"]["kind"] == "a" else 1.5
    return branin(p) + extra


def run(opt: tp.TPE, n: int) -> None:
    for _ in range(n):
        t = opt.ask()
        opt.tell(t, objective(t.params))
