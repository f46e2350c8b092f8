"""Searchers as the LCBench simulation drives them (lcbench_sim.py), and DEHB's own loop.

A driver answers `ask() -> (trial, config)`, takes `report(trial, epoch, error)` after each
epoch and `finish(trial, epoch, error, complete)` when the trial ends (complete: it trained all
epochs; otherwise the scheduler stopped it). `own_pruner` drivers decide their stops themselves
(`wants_stop`, asked at each rung) instead of the scheduler's rule.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from functools import partial

import mf_rules
import numpy as np
from lcbench_sim import MAX_EPOCH, SPACE_SPEC, Run, Surrogate, random_configs

import tpe_plugins as tp
from tpe_plugins import budgets


def tp_space() -> dict:
    out = {}
    for p, (kind, lo, hi, log) in SPACE_SPEC.items():
        out[p] = tp.Int(lo, hi, log=log) if kind == "int" else tp.Float(lo, hi, log=log)
    return out


# The ways the model can read the rungs (issue 21's candidates); "default" is the core's rule.
# Variants measured against an older default ("final-bad", "min-top-3", the good-* sizes,
# "drop-*") build on that rule, "all-bad", so that their commands still rerun what they ran.
RULES = {
    "default": budgets.rank_final,
    "quantile": partial(mf_rules.rank_by_rungs, min_agreement=-2.0),
    "trusted": mf_rules.rank_by_rungs,
    "trusted-0.3": partial(mf_rules.rank_by_rungs, min_agreement=0.3),
    "trusted-0.7": partial(mf_rules.rank_by_rungs, min_agreement=0.7),
    "final-only": partial(mf_rules.rank_by_rungs, min_agreement=2.0),
    "bohb-rule": partial(mf_rules.bohb_rule, min_points=len(SPACE_SPEC) + 2),
    "budget-first": mf_rules.rank_by_budget,
    "all-bad": mf_rules.rank_final_all_bad,  # the default before 2026-12-08
    "final-bad": partial(mf_rules.rank_final_all_bad, min_top=0),
    "good-third": partial(mf_rules.rank_final_sized, size="third"),
    "good-half": partial(mf_rules.rank_final_sized, size="half"),
    "good-sqrt": partial(mf_rules.rank_final_sized, size="sqrt"),
    "min-top-3": partial(mf_rules.rank_final_all_bad, min_top=3),
    "ladder-0": partial(mf_rules.rank_ladder, floor=0.0),
    "ladder-0.15": partial(mf_rules.rank_ladder, floor=0.15),
    "ladder-0.5": partial(mf_rules.rank_ladder, floor=0.5),
    "ladder-0.5-m3": partial(mf_rules.rank_ladder, floor=0.5, min_top=3),
    "ladder-0.5-m8": partial(mf_rules.rank_ladder, floor=0.5, min_top=8),
    "ladder-0.5-drop": partial(mf_rules.rank_ladder, floor=0.5, early=budgets.EARLY),
    "ladder-0.15-drop": partial(mf_rules.rank_ladder, floor=0.15, early=budgets.EARLY),
    "drop-0.05": budgets.rank_final,  # the default's name while it was a candidate
    "drop-0.1": partial(mf_rules.rank_final_dropped, below=0.1),
    "drop-lowest": partial(mf_rules.rank_final_dropped, below=None),
    "running-top": None,  # mf_rules.RunningTop, made per optimiser (it reads the history)
}


# rank_final_sized returns a count that the linear gamma turns into its group size (the
# screen ran when linear was the default), so those variants keep it
RULE_SETTINGS = {rule: {"gamma": "linear"} for rule in ("good-third", "good-half", "good-sqrt")}


class Driver:
    own_pruner = False

    def report(self, trial, epoch: int, error: float) -> None:
        pass

    def wants_stop(self, trial, epoch: int) -> bool:
        return False

    def finish(self, trial, epoch: int, error: float, complete: bool) -> None:
        pass


class TPEDriver(Driver):
    """tpe-plugins' core loop: ask, report every epoch, tell (complete) or prune (stopped)."""

    def __init__(self, seed: int, rule: str = "default", **settings):
        self.opt = tp.TPE(tp_space(), seed=seed, **settings)
        # private hook: the variants are not settings
        self.opt._rank_rule = (mf_rules.RunningTop(self.opt.history) if rule == "running-top"
                               else RULES[rule])

    def ask(self):
        t = self.opt.ask()
        return t.id, t.params

    def report(self, trial, epoch, error):
        self.opt.report(trial, epoch, float(error))

    def finish(self, trial, epoch, error, complete):
        if complete:
            self.opt.tell(trial, float(error))
        else:
            self.opt.prune(trial, float(error))


class RandomDriver(Driver):
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def ask(self):
        return None, random_configs(self.rng, 1)[0]


class OptunaDriver(Driver):
    """optuna's TPESampler (constant liar) through ask/tell. With `hyperband`, optuna's own
    HyperbandPruner decides the stops (`trial.should_prune`)."""

    def __init__(self, seed: int, hyperband: bool = False):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        self.optuna = optuna
        pruner = (optuna.pruners.HyperbandPruner(min_resource=1, max_resource=MAX_EPOCH,
                                                 reduction_factor=3)
                  if hyperband else optuna.pruners.NopPruner())
        self.study = optuna.create_study(
            sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True), pruner=pruner)
        self.own_pruner = hyperband
        self.dists = {}
        for p, (kind, lo, hi, log) in SPACE_SPEC.items():
            self.dists[p] = (optuna.distributions.IntDistribution(lo, hi, log=log)
                             if kind == "int" else
                             optuna.distributions.FloatDistribution(lo, hi, log=log))

    def ask(self):
        t = self.study.ask(self.dists)
        return t, dict(t.params)

    def report(self, trial, epoch, error):
        trial.report(float(error), epoch)

    def wants_stop(self, trial, epoch):
        return trial.should_prune()

    def finish(self, trial, epoch, error, complete):
        state = (self.optuna.trial.TrialState.COMPLETE if complete
                 else self.optuna.trial.TrialState.PRUNED)
        self.study.tell(trial, float(error) if complete else None, state=state)


DRIVERS = {
    "tpe-plugins": lambda seed: TPEDriver(seed),
    "random": RandomDriver,
    "optuna-tpe": OptunaDriver,
    "optuna-tpe-hyperband": lambda seed: OptunaDriver(seed, hyperband=True),
    **{f"tpe-plugins[{rule}]": (lambda seed, rule=rule: TPEDriver(seed, rule,
                                                                  **RULE_SETTINGS.get(rule, {})))
       for rule in RULES if rule != "default"},
    # the gamma the single-fidelity corpus replaced, checked under the schedulers too
    "tpe-plugins[gamma=linear]": lambda seed: TPEDriver(seed, gamma="linear"),
}


def dehb(surrogate: Surrogate, budget: int, workers: int, seed: int) -> Run:
    """DEHB (Awad et al. 2021) with its own successive-halving brackets. It trains each
    configuration from scratch at the fidelity it asks for, so a job costs that many epochs.
    W workers: W jobs asked before the first is told, told in order of completion."""
    import ConfigSpace as CS
    from dehb import DEHB

    cs = CS.ConfigurationSpace(seed=seed)
    for p, (kind, lo, hi, log) in SPACE_SPEC.items():
        cls = CS.UniformIntegerHyperparameter if kind == "int" else CS.UniformFloatHyperparameter
        cs.add_hyperparameter(cls(p, lo, hi, log=log))
    out = tempfile.mkdtemp(prefix="dehb-")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = DEHB(cs=cs, dimensions=len(SPACE_SPEC), min_fidelity=1, max_fidelity=MAX_EPOCH,
                   eta=3, n_workers=1, seed=seed, output_path=out, log_level="ERROR")
    # n_workers > 1 starts a dask cluster; the W workers are simulated below instead
    run = Run(budget)
    running: list[tuple[float, int, dict, float]] = []  # (end time, seq, job, error)
    seq, now = 0, 0.0
    while not run.done:
        while len(running) < workers:
            job = opt.ask()
            fidelity = int(round(job["fidelity"]))
            error = surrogate.curves([dict(job["config"])], fidelity)[0, -1]
            running.append((now + fidelity, seq, job, error))
            seq += 1
            run.n_trials += 1
        running.sort(key=lambda r: (r[0], r[1]))
        end, _, job, error = running.pop(0)
        fidelity = int(round(job["fidelity"]))
        run.spend(fidelity)
        now = end
        if fidelity == MAX_EPOCH:
            run.full(error)
        opt.tell(job, {"fitness": float(error), "cost": float(fidelity)})
    for name in os.listdir(out):
        path = os.path.join(out, name)
        if os.path.isfile(path):
            os.remove(path)
    return run


def best_or_nan(run: Run) -> float:
    return run.best if math.isfinite(run.best) else float("nan")
