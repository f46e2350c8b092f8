"""YAHPO Gym instances as tpe_plugins problems: spaces, a fast batched surrogate, references.

A `YahpoProblem` is one (scenario, instance) pair of ../shared/data/yahpo/splits.json. Its space
is read from YAHPO's ConfigSpace (fidelity parameters dropped; a conditional space becomes a
`tp.Categorical` of sub-spaces, one per value of the parent parameter). Its objective is a loss
in points of percent, to minimise, with every fidelity parameter at its maximum:

- rbv2_xgboost, rbv2_rpart: 100 * (1 - acc), trainsize 1, repl 10;
- iaml_glmnet: 100 * mmce, trainsize 1;
- lcbench: 100 - val_accuracy at epoch 52.

`losses(configs)` builds the surrogate's input arrays itself and evaluates a whole batch in one
ONNX call (yahpo's `objective_function` builds them row by row, about 50 ms a call);
`check(configs)` compares it with `objective_function`.

Needs the environment of ../shared/data/yahpo/README.md (yahpo-gym pins numpy<2, ConfigSpace
0.6.1). Call `configure()` once in the main process before forking workers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

import tpe_plugins as tp

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "yahpo"

# scenario -> (target, loss in points of percent from the target's values)
SCENARIOS: dict[str, tuple[str, Any]] = {
    "rbv2_xgboost": ("acc", lambda y: 100.0 * (1.0 - y)),
    "rbv2_rpart": ("acc", lambda y: 100.0 * (1.0 - y)),
    "iaml_glmnet": ("mmce", lambda y: 100.0 * y),
    "lcbench": ("val_accuracy", lambda y: 100.0 - y),
}


def splits() -> dict[str, dict[str, list[str]]]:
    """{"tune" | "test": {scenario: [instance, ...]}} from splits.json."""
    return json.loads((DATA / "splits.json").read_text())


def allowed(split: str) -> dict[str, list[str]]:
    """The instances of one split, per scenario (only the scenarios above)."""
    lists = splits()[split]
    return {sc: list(lists.get(sc, [])) for sc in SCENARIOS}


def split_of(scenario: str, instance: str) -> str | None:
    """"tune", "test" or None (reserved: never run)."""
    for split in ("tune", "test"):
        if instance in allowed(split).get(scenario, []):
            return split
    return None


_CONFIGURED = False


def configure() -> None:
    """Point yahpo-gym at the data once, in the main process (its config file is shared, and
    concurrent writes from worker processes corrupt it)."""
    global _CONFIGURED
    if not _CONFIGURED:
        from yahpo_gym import local_config

        local_config.init_config()
        local_config.set_data_path(str(DATA))
        _CONFIGURED = True


# ====================================================================== spaces
def space_from_configspace(cs: Any) -> dict:
    """A tpe_plugins space for a ConfigSpace (0.6) without fidelity parameters.

    Constants are left out (the instance is set by the problem). Conditions must hang one level
    deep from categorical parents that are themselves unconditional; each parent `p` becomes
    `p: tp.Categorical([{p: value, <params active for value>}, ...])`."""
    import ConfigSpace as CS  # noqa: N817

    hps = {hp.name: hp for hp in cs.get_hyperparameters()
           if not isinstance(hp, CS.Constant)}
    active: dict[str, tuple[str, set]] = {}  # child -> (parent, values it is active for)
    for cond in cs.get_conditions():
        if not isinstance(cond, (CS.EqualsCondition, CS.InCondition)):
            raise TypeError(f"{cond}: only EqualsCondition / InCondition are supported")
        values = set(cond.values) if isinstance(cond, CS.InCondition) else {cond.value}
        active[cond.child.name] = (cond.parent.name, values)
    parents = {parent for parent, _ in active.values()}
    if parents & set(active):
        raise TypeError(f"nested conditions ({parents & set(active)}) are not supported")

    def convert(hp: Any) -> Any:
        if isinstance(hp, CS.UniformFloatHyperparameter):
            return tp.Float(float(hp.lower), float(hp.upper), log=bool(hp.log))
        if isinstance(hp, CS.UniformIntegerHyperparameter):
            return tp.Int(int(hp.lower), int(hp.upper), log=bool(hp.log))
        if isinstance(hp, CS.CategoricalHyperparameter):
            return tp.Categorical(list(hp.choices))
        raise TypeError(f"{hp.name}: {type(hp).__name__} is not supported")

    space: dict = {}
    for name in sorted(hps):
        if name in active:
            continue
        if name in parents:
            branches = []
            for value in hps[name].choices:
                branch: dict = {name: value}
                for child in sorted(active):
                    if active[child][0] == name and value in active[child][1]:
                        branch[child] = convert(hps[child])
                branches.append(branch)
            space[name] = tp.Categorical(branches)
        else:
            space[name] = convert(hps[name])
    return space


def flatten(params: dict) -> dict:
    """A trial's params (branches as nested dicts) as one flat dict of active parameters."""
    flat: dict = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(flatten(value))
        else:
            flat[key] = value
    return flat


# ====================================================================== the surrogate
_BENCHES: dict[str, Any] = {}  # scenario -> BenchmarkSet (one ONNX session per process)


def _bench(scenario: str) -> Any:
    if scenario not in _BENCHES:
        from yahpo_gym import benchmark_set

        configure()
        _BENCHES[scenario] = benchmark_set.BenchmarkSet(scenario, multithread=False)
    return _BENCHES[scenario]


def forget_sessions() -> None:
    """Drop the ONNX sessions (before forking: each worker opens its own)."""
    _BENCHES.clear()


class YahpoProblem:
    """One YAHPO instance: `space`, and `losses(flat configs)` to minimise."""

    def __init__(self, scenario: str, instance: str):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario}; known: {sorted(SCENARIOS)}")
        if split_of(scenario, instance) is None:
            raise ValueError(f"{scenario}/{instance} is in neither the tune nor the test split")
        self.scenario, self.instance = scenario, instance
        self.name = f"{scenario}/{instance}"
        bench = _bench(scenario)
        bench.set_instance(instance)
        self._bench = bench
        cfg = bench.config
        self.fidelity = {hp.name: hp.upper for hp in
                         bench.get_fidelity_space().get_hyperparameters()}
        self.space = space_from_configspace(bench.get_opt_space(drop_fidelity_params=True))
        self._cont = list(cfg.cont_names)
        self._cats = [c for c in cfg.cat_names if c not in cfg.drop_predict]
        encoding = bench.encoding
        self._codes = {c: encoding[c] for c in self._cats}
        self._instance_name = cfg.instance_names
        target, self._to_loss = SCENARIOS[scenario]
        self._target = list(cfg.y_names).index(target)
        self._inputs = [x.name for x in bench.session.get_inputs()]
        self._output = bench.session.get_outputs()[0].name

    def arrays(self, configs: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        """(x_cat int32, x_cont float32) as yahpo's `_config_to_xs` builds them: inactive
        continuous parameters are 0, inactive categoricals '#na#'."""
        n = len(configs)
        cont = np.zeros((n, len(self._cont)), dtype=np.float32)
        for j, name in enumerate(self._cont):
            if name in self.fidelity:
                cont[:, j] = self.fidelity[name]
            else:
                cont[:, j] = [c.get(name, 0.0) for c in configs]
        cat = np.zeros((n, len(self._cats)), dtype=np.int32)
        for j, name in enumerate(self._cats):
            codes = self._codes[name]
            if name == self._instance_name:
                cat[:, j] = codes[self.instance]
            else:
                cat[:, j] = [codes[c.get(name, "#na#")] for c in configs]
        return cat, cont

    def losses(self, configs: list[dict]) -> np.ndarray:
        """The loss of each flat config, in one ONNX call."""
        if not configs:
            return np.zeros(0)
        cat, cont = self.arrays(configs)
        out = self._bench.session.run([self._output], {self._inputs[0]: cat,
                                                       self._inputs[1]: cont})[0]
        return self._to_loss(out[:, self._target].astype(float))

    def slow_losses(self, configs: list[dict]) -> np.ndarray:
        """The same through yahpo's own `objective_function` (for checks only)."""
        target = list(self._bench.config.y_names)[self._target]
        full = [{**c, **self.fidelity, self._instance_name: self.instance} for c in configs]
        self._bench.set_instance(self.instance)  # the BenchmarkSet is shared per scenario
        ys = self._bench.objective_function(full, multithread=False)
        return self._to_loss(np.array([y[target] for y in ys], dtype=float))

    def check(self, n: int = 20, seed: int = 0) -> float:
        """Max abs difference between `losses` and `objective_function` on n random configs."""
        rng = np.random.default_rng(seed)
        configs = [flatten(sample(self.space, rng)) for _ in range(n)]
        return float(np.max(np.abs(self.losses(configs) - self.slow_losses(configs))))


def sample(space: Any, rng: np.random.Generator) -> Any:
    """A uniform random point of a tpe_plugins space made by `space_from_configspace`
    (log-uniform on log scales; integers uniform over their values, log-uniform if log)."""
    if isinstance(space, dict):
        return {k: sample(v, rng) for k, v in space.items()}
    if isinstance(space, tp.Float):
        if space.log:
            return float(math.exp(rng.uniform(math.log(space.low), math.log(space.high))))
        return float(rng.uniform(space.low, space.high))
    if isinstance(space, tp.Int):
        if space.log:
            x = math.exp(rng.uniform(math.log(space.low - 0.5), math.log(space.high + 0.5)))
            return int(min(max(round(x), space.low), space.high))
        return int(rng.integers(space.low, space.high + 1))
    if isinstance(space, tp.Categorical):
        return sample(space.choices[int(rng.integers(len(space.choices)))], rng)
    return space  # a constant


# ====================================================================== references
N_REFERENCE = 20_000
_RANKS = np.unique(np.round(np.geomspace(1, N_REFERENCE, 120)).astype(int))


def reference_sample(problem: YahpoProblem, n: int = N_REFERENCE,
                     seed: int = 20220701) -> dict:
    """n random configs of the instance: their best loss and their sorted losses at ~100 ranks
    (enough to compute random search's expected regret for any number of trials)."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([
        problem.losses([flatten(sample(problem.space, rng)) for _ in range(min(2000, n - i))])
        for i in range(0, n, 2000)])
    values.sort()
    ranks = _RANKS[_RANKS <= n]
    return {"best": float(values[0]), "n": n, "ranks": ranks.tolist(),
            "sorted": [round(float(v), 6) for v in values[ranks - 1]]}


def random_expected_regret(ref: dict, optimum: float, n_trials: int, floor: float) -> float:
    """E[max(min of n_trials random losses - optimum, floor)], drawing with replacement from the
    reference sample (its sorted losses interpolated between the stored ranks)."""
    m = ref["n"]
    i = np.arange(1, m + 1)
    v = np.interp(i, ref["ranks"], ref["sorted"])
    p = ((m - i + 1) / m) ** n_trials - ((m - i) / m) ** n_trials  # P(min is the i-th)
    return float(np.sum(p * np.maximum(v - optimum, floor)))
