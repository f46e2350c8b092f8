"""`TPESearch`: the Ray Tune `Searcher` lifecycle around the core optimiser.

It owns parts that do one job each and takes their answers: `settings` checks what it is set
up with, `outcomes` decides how each result and each end of a trial is recorded (the rules are
described there), `warm_start` adds results known beforehand, and `persistence` saves, restores
and catches up with Tune's own record of the run.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from ray.tune.search import Searcher

import tpe_plugins as tp

from . import checkpoint, experiment, persistence, settings, warm_start
from . import space as sp
from .outcomes import Outcomes
from .persistence import Persistence, SearcherState

logger = logging.getLogger(__name__)


class TPESearch(Searcher):
    """Ray Tune searcher backed by the tpe_plugins TPE.

    space: Tune domains and/or tpe_plugins types; or None to take Tune's `config`/`param_space`
    (there, use Tune domains: Tune hides other objects from searchers; see `to_tune`).
    metric, mode: the objective; or None to take them from tune.run / TuneConfig. Several
    objectives: metric=["val_loss", "latency"], mode=["min", "min"] (as OptunaSearch takes
    them); the optimiser then keeps a Pareto front (`searcher.optimizer.pareto`), and learning
    curves are not used.
    points_to_evaluate: configs (nested dicts, or flat "a/b" keys) to run first.
    evaluated_rewards: metric values already known for points_to_evaluate (then not rerun).
    seed, **tpe_settings: passed to `tp.TPE` (n_startup_trials, gamma, constant_liar, ...).
    constraints: result fields that must be <= 0 for a trial to be feasible (e.g.
    ["memory_gb_over"]); read from each trial's final result, see `tp.TPE.tell`.
    time_attr: the result field that counts the budget a trial has used, the step of its
    learning curve (use the scheduler's time_attr). It must count in whole units (iterations,
    epochs); for one that does not, such as time_total_s, the results are counted instead.
    limit_running: under a concurrency limit (`max_concurrent_trials`, a ConcurrencyLimiter),
    keep it here and count running trials only, so that trials a scheduler paused hold no
    slot (True, the default); False leaves the limit to Ray's ConcurrencyLimiter, which
    `ConcurrencyLimiter(..., batch=True)` needs (see `set_max_concurrency`).
    """

    def __init__(self, space: dict | None = None, metric: str | list[str] | None = None,
                 mode: str | list[str] | None = None,
                 points_to_evaluate: list[dict] | None = None,
                 evaluated_rewards: list[float] | None = None, seed: int | None = None,
                 time_attr: str = "training_iteration", constraints: list[str] | None = None,
                 limit_running: bool = True, **tpe_settings: Any):
        metric, mode = settings.objectives(metric, mode)
        self.time_attr, self.limit_running, self.constraints = settings.options(
            time_attr, limit_running, constraints)
        super().__init__(metric=metric, mode=mode)
        self._points, self._rewards = warm_start.starting_points(points_to_evaluate,
                                                                 evaluated_rewards)
        self._seed, self._tpe_settings = sp.plain(seed), tpe_settings
        tp.TPE.check_settings(seed=self._seed, **tpe_settings)  # bad settings fail now
        self._space: sp._Node | None = None
        self._core: tp.Space | None = None
        self._opt: tp.TPE | None = None
        self._queue: list = []  # core params of points still to run
        self._live: dict[str, int] = {}  # Tune trial id -> core trial id, while running
        self._ids: dict[str, int] = {}  # every Tune trial id this searcher recorded
        self._last: dict[str, list] = {}  # Tune trial id -> [step, value] last reported
        self._paused: set[str] = set()
        self._max_running = 0  # set_max_concurrency's limit on running trials; 0 = none
        self._warned: set[str] = set()  # searcher-wide warnings given ("exhausted")
        self._seen: Counter = Counter()
        self._n_configs = math.inf
        self._space_from_checkpoint = False
        self._persistence = Persistence()  # save/restore and catch-up with Tune
        self._outcomes = Outcomes()  # how results and trial ends are recorded
        if space:
            self._set_space(settings.own_space(space))

    # ------------------------------------------------------------------ properties
    @property
    def optimizer(self) -> tp.TPE | None:
        """The core optimiser (its trials, `best`, `state_dict`), once space and mode are known."""
        self._ensure_optimizer()
        return self._opt

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict,
                              **spec: Any) -> bool:
        """Take metric, mode and the search space from tune.run / Tuner (only for a non-empty
        config); returns False when this searcher already has a space of its own."""
        own = self._space is not None and not self._space_from_checkpoint
        if own and sp.tunable(sp.convert(config)):
            return False  # Tune then tells the user to keep one space only
        self._metric, self._mode = settings.adopt((self._metric, self._mode), (metric, mode))
        if not own:  # restored first (self._core set): the config must be the same space
            self._set_space(settings.config_space(config, self._core))
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """Keep the limit here, on running trials, not paused ones (returns True); with
        `limit_running=False`, leave it to the limiter (returns False).

        Why: Ray's `ConcurrencyLimiter` (what `max_concurrent_trials` wraps a searcher in)
        counts a trial that HyperBandForBOHB paused as live until it ends, so paused trials
        blocked new suggestions: a bracket could not fill, and through real Tune a 540-epoch
        run started 28 trials where TuneBOHB, which counts only running trials, started 93
        (benchmarks/multifidelity_tune.py). A limiter whose searcher keeps the limit passes
        every call straight through, so it no longer batches; Ray tells a searcher the limit
        but not `batch`, hence the explicit `TPESearch(limit_running=False)` for
        `ConcurrencyLimiter(..., batch=True)`.
        """
        if not self.limit_running:
            return False
        self._max_running = int(max_concurrent)
        return True

    # ------------------------------------------------------------------ the trial loop
    def suggest(self, trial_id: str) -> dict | str | None:
        """A full config for a new trial; FINISHED once a finite space has been tried."""
        self._ensure_optimizer(required=True)
        if trial_id in self._live:  # asked again for the same trial: same answer
            return sp.decode(self._space, self._opt.trial(self._live[trial_id]).params)
        if not self._queue and len(self._seen) >= self._n_configs:
            if "exhausted" not in self._warned:
                self._warned.add("exhausted")
                logger.warning("TPESearch: all %d configurations of this finite space have "
                               "been tried; no more trials will be started", self._n_configs)
            return Searcher.FINISHED
        if self._max_running and len(self._live) - len(self._paused) >= self._max_running:
            return None  # paused trials do not count: they hold no worker
        if self._queue:
            self._opt.enqueue(self._queue.pop(0))
        trial = self._opt.ask()
        self._live[trial_id] = self._ids[trial_id] = trial.id
        self._seen[sp.config_key(trial.params)] += 1
        return sp.decode(self._space, trial.params)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Record an intermediate metric value (the learning curve) of a running trial."""
        if trial_id not in self._live or self._opt is None or isinstance(self._metric, list):
            return  # several objectives: the final results only
        value = self._outcomes.value(trial_id, result, self._metric)
        if value is None:
            return
        step = self._outcomes.step(trial_id, result, self.time_attr)
        if step is None:
            step = len(self._opt.trial(self._live[trial_id]).intermediate) + 1
        self._opt.report(self._live[trial_id], step, value)
        self._last[trial_id] = [step, value]

    def on_pause(self, trial_id: str) -> None:
        """A scheduler (HyperBandForBOHB) paused the trial: it stays pending in the model."""
        if trial_id in self._live:
            self._paused.add(trial_id)

    def on_unpause(self, trial_id: str) -> None:
        self._paused.discard(trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        """Record how a trial ended: complete, failed or pruned (the rules: see `outcomes`)."""
        if self._opt is not None and trial_id not in self._ids:
            rerun = persistence.rerun(trial_id, result, error)
            if rerun is not None:  # suggested after our last checkpoint, rerun by Tune
                self._record_unknown([rerun])
                return
        if trial_id not in self._live or self._opt is None:
            logger.debug("TPESearch: ignoring completion of unknown or finished trial %s", trial_id)
            return
        i = self._live.pop(trial_id)
        last = self._last.pop(trial_id, None)
        self._paused.discard(trial_id)
        end = self._outcomes.ending(trial_id, result, error, last, self._metric,
                                    self.constraints, self.time_attr)
        if end.step is not None:
            self._opt.report(i, end.step, end.value)  # the final point of the learning curve
        self._opt.tell(i, end.value, constraints=end.limits)
        if end.unsee:  # it never ran: it may come again (a Counter keeps counts above 0)
            self._seen -= Counter([sp.config_key(self._opt.trial(i).params)])

    # ------------------------------------------------------------------ save / restore
    def save(self, checkpoint_path: str) -> None:
        """Write the searcher state as JSON (see `checkpoint`), atomically."""
        self._ensure_optimizer()
        self._persistence.save(checkpoint_path, SearcherState(
            self._metric, self._mode, self._space, self._opt, self._queue, self._live,
            self._ids, self._last, self._paused))

    def restore(self, checkpoint_path: str) -> None:
        """Continue from `save`. A file that is not a TPESearch checkpoint, or one made for
        another space, metric or mode, raises a ValueError that says so (and changes nothing)."""
        state = self._persistence.restore(checkpoint_path, self._space, self._metric,
                                          self._mode)
        if self._space is None and state.space is not None:
            self._set_space(state.space, from_checkpoint=True)
        self._metric, self._mode = self._metric or state.metric, self._mode or state.mode
        self._opt, self._queue, self._live = state.optimizer, state.queue, state.live
        self._ids, self._last, self._paused = state.ids, state.last, state.paused
        self._seen = state.seen()

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        """Restore from an experiment folder (Tuner.restore), then catch up with what Tune kept.

        A searcher file that a kill left empty or cut short is not fatal: the searcher is
        rebuilt from Tune's own record of every trial (configs and results), with a warning.
        """
        rebuilt = False
        try:
            super().restore_from_dir(checkpoint_dir)
        except checkpoint.Unreadable as exc:
            if self._space is None:
                raise
            self._persistence.rebuilding(exc)
            self._opt, rebuilt = None, True
            self._ensure_optimizer(required=True)
        if self._opt is not None:  # what Tune finished after the last checkpoint, or lost
            self._persistence.catch_up(checkpoint_dir, list(self._live),
                                       end=self.on_trial_complete, add=self._record_unknown)
        if rebuilt:  # points_to_evaluate that Tune already ran are not queued again
            self._queue = [p for p in self._queue if sp.config_key(p) not in self._seen]

    def _record_unknown(self, records: list[experiment.Record],
                        metric: str | list[str] | None = None,
                        source: str = "Tune's experiment state") -> None:
        """Add the trials Tune ran that this searcher has not recorded (one per config)."""
        trials, ids = self._persistence.add_unknown(
            self._opt, records, self._space, self._core, metric or self._metric, self._ids,
            set(self._seen), source)
        self._count(trials)
        self._ids.update(ids)

    # ------------------------------------------------------------------ outside results
    def add_evaluated_trials(self, trials_or_analysis: Any, metric: str | None = None) -> None:
        """Warm-start from an earlier experiment, whichever searcher ran it.

        trials_or_analysis: a ResultGrid (`tuner.fit()`), an experiment folder, an
        ExperimentAnalysis, Tune Trials, or a DataFrame with "config/..." columns
        (`ResultGrid.get_dataframe()`). metric: the column to read; default this run's metric.
        Finished trials are added as complete, errored ones as failed; unfinished ones and
        trials whose config does not fit this space are skipped with a log line.
        """
        self._ensure_optimizer(required=True)
        self._record_unknown(warm_start.finished(trials_or_analysis), metric,
                             source="an earlier experiment")

    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False,
                            pruned: bool = False,
                            intermediate_values: list[float] | None = None) -> None:
        """Add a configuration evaluated elsewhere (nested dicts or flat "a/b" keys)."""
        self._ensure_optimizer(required=True)
        self._count([warm_start.add_point(
            self._opt, self._space, self._core, parameters, value, error=error, pruned=pruned,
            intermediate_values=intermediate_values, where="add_evaluated_point")])

    # ------------------------------------------------------------------ internals
    def _set_space(self, node: sp._Node, from_checkpoint: bool = False) -> None:
        self._core = tp.Space(sp.core_space(node))  # validate now: errors name paths
        self._space, self._space_from_checkpoint = node, from_checkpoint
        self._n_configs = settings.n_configs(node)

    def _ensure_optimizer(self, required: bool = False) -> None:
        """Build the core once space and mode are known, and queue the starting points."""
        if self._opt is not None:
            return
        if self._space is None or not self._metric or not self._mode:
            if required:
                raise settings.not_ready(self._space, self._metric, self._mode,
                                         self._persistence.restore_error, type(self).__name__)
            return
        self._opt = tp.TPE(self._core.spec, mode=self._mode, seed=self._seed,
                           **self._tpe_settings)
        self._seen = Counter()
        queue, trials = warm_start.start(self._opt, self._space, self._core, self._points,
                                         self._rewards)
        self._queue = self._queue if queue is None else queue
        self._count(trials)

    def _count(self, trials: Iterable[tp.Trial]) -> None:
        """Count the configs of trials added outside `suggest`, so a finite space ends on time."""
        self._seen.update(sp.config_key(trial.params) for trial in trials)
