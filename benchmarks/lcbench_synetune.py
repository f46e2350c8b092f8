"""Syne Tune's multi-fidelity methods on the LCBench simulation, each with its own scheduler.

`synetune(name, ...)` runs ASHA, BOHB, Hyper-Tune or DEHB from Syne Tune's legacy API
(`syne_tune.optimizer.legacy_baselines`) the way its `Tuner` would, against W simulated workers
at equal epochs (one epoch per time unit per worker), like `lcbench_sim.asha`:

- a free worker asks `suggest(trial_id)`: a new trial (`spawn_new_trial_id`), the resumption
  of a paused one (`checkpoint_trial_id`: it goes on from the epoch it reached, so only new
  epochs cost), or None (nothing to do now: the worker waits for the next event);
- every epoch is reported (`on_trial_result`); STOP ends the trial and PAUSE keeps it with its
  epoch (both then `on_trial_remove`, as the Tuner does); a trial that reaches its config's
  `max_epoch` (52, or the milestone DEHB sets) ends with `on_trial_complete`.

Settings as our own ASHA's: min resource 1, reduction factor 3 (rungs 1, 3, 9, 27, 52); Syne
Tune's defaults otherwise (stopping-type rungs), except that no midpoint configuration is
evaluated first (`points_to_evaluate=[]`, as random search has none) and Hyper-Tune samples
from all five brackets (its point; Syne Tune's default would be one).

Needs syne-tune 0.14 with its gpsearchers and kde extras (../shared/data/yahpo/README.md env).
"""

from __future__ import annotations

import heapq
import logging
import warnings
from datetime import datetime
from typing import TYPE_CHECKING

from lcbench_sim import MAX_EPOCH, RUNGS, SPACE_SPEC, Run, Surrogate

if TYPE_CHECKING:
    from syne_tune.backend.time_keeper import TimeKeeper
    from syne_tune.optimizer.legacy_scheduler import LegacyTrialScheduler

METHODS = ("asha", "bohb", "hypertune", "dehb")


def config_space() -> dict:
    """SPACE_SPEC in Syne Tune's terms, plus the fixed `max_epoch` (the maximum resource)."""
    from syne_tune.config_space import lograndint, loguniform, randint, uniform

    kinds = {("int", False): randint, ("int", True): lograndint,
             ("float", False): uniform, ("float", True): loguniform}
    space = {p: kinds[kind, log](lo, hi) for p, (kind, lo, hi, log) in SPACE_SPEC.items()}
    return {**space, "max_epoch": MAX_EPOCH}


def scheduler(name: str, seed: int, clock: TimeKeeper | None = None) -> LegacyTrialScheduler:
    """The legacy Syne Tune scheduler for `name` (one of METHODS)."""
    from syne_tune.optimizer import legacy_baselines as lb

    common = dict(metric="error", mode="min", resource_attr="epoch",
                  max_resource_attr="max_epoch", random_seed=seed, points_to_evaluate=[],
                  grace_period=1, reduction_factor=3)
    if name == "dehb":  # synchronous; pauses only in its first bracket
        return lb.DEHB(config_space(), **common)
    if name == "asha":
        sched = lb.ASHA(config_space(), **common)
    elif name == "bohb":
        sched = lb.BOHB(config_space(), **common)
    elif name == "hypertune":
        sched = lb.HyperTune(config_space(), brackets=len(RUNGS) + 1, **common)
    else:
        raise ValueError(f"unknown Syne Tune method {name!r}; known: {METHODS}")
    if clock is not None:  # simulated time, not the wall clock (the `time_keeper` argument
        sched.set_time_keeper(clock)  # fails in 0.14.2: it asserts an attribute not yet set)
    return sched


def _clock() -> TimeKeeper:
    """A Syne Tune TimeKeeper that reads the simulation's time."""
    from syne_tune.backend.time_keeper import TimeKeeper

    class Clock(TimeKeeper):
        now = 0.0

        def start_of_time(self) -> None:
            self.now = 0.0

        def time(self) -> float:
            return self.now

        def time_stamp(self) -> datetime:
            return datetime.fromtimestamp(self.now)

        def advance(self, step: float) -> None:
            self.now += step

    return Clock()


def synetune(name: str, surrogate: Surrogate, budget: int, workers: int, seed: int) -> Run:
    """Syne Tune's `name` (asha, bohb, hypertune or dehb) with W asynchronous workers until
    `budget` epochs are spent; `run.n_trials` counts new trials (resumptions are not new)."""
    from syne_tune.backend.trial_status import Trial
    from syne_tune.optimizer.scheduler import SchedulerDecision

    logging.getLogger("syne_tune").setLevel(logging.ERROR)
    clock = _clock()
    clock.start_of_time()
    sched = scheduler(name, seed, clock)
    run = Run(budget)
    trials: dict[int, Trial] = {}
    curves: dict = {}  # trial id -> its 52 errors
    epochs: dict[int, int] = {}  # trial id -> epochs trained so far
    running: dict[int, int] = {}  # worker -> trial id
    events: list[tuple[float, int, int]] = []  # (time its next epoch ends, sequence, worker)
    idle: list[int] = list(range(workers))
    sequence = 0

    def assign(worker: int, now: float) -> bool:
        """Give `worker` the scheduler's next suggestion; False if it has none."""
        nonlocal sequence
        suggestion = sched.suggest(len(trials))
        if suggestion is None:
            return False
        if suggestion.spawn_new_trial_id:  # a new trial (from another's checkpoint, maybe)
            tid = len(trials)
            trials[tid] = Trial(tid, dict(suggestion.config), datetime.fromtimestamp(now))
            curves[tid] = surrogate.curves([suggestion.config])[0]
            epochs[tid] = epochs.get(suggestion.checkpoint_trial_id, 0)
            run.n_trials += 1
            sched.on_trial_add(trials[tid])
        else:  # resume a paused trial, perhaps with a new config (a new max_epoch)
            tid = suggestion.checkpoint_trial_id
            if suggestion.config is not None:
                trials[tid].config = dict(suggestion.config)
        running[worker] = tid
        heapq.heappush(events, (now + 1, sequence, worker))
        sequence += 1
        return True

    def fill(now: float) -> None:
        for worker in list(idle):
            if run.done or not assign(worker, now):
                break  # the scheduler has nothing now: the others wait too
            idle.remove(worker)

    fill(0.0)
    while events and not run.done:
        now, _, worker = heapq.heappop(events)
        clock.now = now
        tid = running[worker]
        trial = trials[tid]
        epochs[tid] += 1
        epoch = epochs[tid]
        error = float(curves[tid][epoch - 1])
        run.spend(1)
        if epoch == MAX_EPOCH:
            run.full(error)
        result = {"epoch": epoch, "error": error}
        decision = sched.on_trial_result(trial, result)
        if decision in (SchedulerDecision.STOP, SchedulerDecision.PAUSE):
            sched.on_trial_remove(trial)  # PAUSE: kept in `epochs`, resumable
            ended = True
        elif epoch >= min(int(trial.config.get("max_epoch", MAX_EPOCH)), MAX_EPOCH):
            sched.on_trial_complete(trial, result)
            ended = True
        else:  # CONTINUE: the next epoch
            heapq.heappush(events, (now + 1, sequence, worker))
            sequence += 1
            ended = False
        if ended:  # the trial ended or paused: its worker is free
            del running[worker]
            idle.append(worker)
            idle.sort()
        if idle:  # free workers (and any that waited) ask again
            fill(now)
        # Every worker waiting on a scheduler that has nothing: no event can change that (the
        # Tuner itself ends the experiment at the first None).
        if not events and not run.done:
            warnings.warn(f"syne-tune {name}: no suggestion with every worker idle; the run "
                          f"ends at {run.spent} of {budget} epochs", RuntimeWarning, stacklevel=2)
            break
    return run
