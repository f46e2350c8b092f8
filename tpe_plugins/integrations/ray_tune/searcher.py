"""`TPESearch`: the Ray Tune `Searcher` lifecycle around the core optimiser.

How trial endings are recorded. Tune does not tell a searcher who ended a trial (the trainable
itself, the run's stopper, or a scheduler such as ASHA), so TPESearch does not guess:

- any end with a usable final metric: complete, with the whole learning curve reported on the
  way (steps are the result's `time_attr`, by default `training_iteration`: give the
  scheduler's `time_attr` when it counts something else, e.g. epochs). The model judges every
  trial at the step it reached (see `tpe_plugins.budgets`), so a trial ASHA stopped at a rung
  counts by its value there against every other trial's value at that rung, and a trial ended
  early by a Stopper with a good value counts as good;
- error (exception, dead worker), NaN/inf, or a final result without the metric: failed, with a
  warning; failed trials do not enter the model;
- removed while paused (HyperBand ends a paused trial without a result, also one paused at
  max_t): complete at its last reported value, judged at that step like any other; removed
  before it reported anything: failed (it carries no information, and may be suggested again).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from typing import Any

from ray.tune.search import UNDEFINED_SEARCH_SPACE, Searcher
from ray.tune.utils.util import unflatten_dict

import tpe_plugins as tp

from . import checkpoint, experiment
from . import space as sp
from .persistence import Persistence, SearcherState

logger = logging.getLogger(__name__)


def _objectives(metric: Any, mode: Any) -> tuple[Any, Any]:
    """metric and mode checked: a name and "min"/"max", or equally long lists of them."""
    if isinstance(metric, (list, tuple)):
        if not metric or not all(isinstance(m, str) for m in metric):
            raise TypeError(f"metric must be a name or a list of names, got {metric!r}")
        if mode is not None and (not isinstance(mode, (list, tuple))
                                 or len(mode) != len(metric)):
            raise ValueError(f"metric={list(metric)} needs one mode per metric, e.g. "
                             f"mode={['min'] * len(metric)}; got mode={mode!r}")
        metric = list(metric)
    elif metric is not None and not isinstance(metric, str):
        raise TypeError(f"metric must be a name or a list of names, got {metric!r}")
    modes = mode if isinstance(mode, (list, tuple)) else [mode]
    if mode is not None and any(m not in ("min", "max") for m in modes):
        raise ValueError(f"mode must be 'min' or 'max' (one per metric), got {mode!r}")
    return metric, list(mode) if isinstance(mode, (list, tuple)) else mode

_FINITE_LIMIT = 10**6  # spaces with more configurations are treated as infinite


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
        metric, mode = _objectives(metric, mode)
        if not isinstance(time_attr, str) or not time_attr:
            raise TypeError(f"time_attr must be the name of a result field, such as "
                            f"'training_iteration', got {time_attr!r}")
        super().__init__(metric=metric, mode=mode)
        self.time_attr = time_attr
        if not isinstance(limit_running, bool):
            raise TypeError(f"limit_running must be True or False, got {limit_running!r}")
        self.limit_running = limit_running
        if constraints is not None and (isinstance(constraints, str) or not all(
                isinstance(c, str) for c in constraints)):
            raise TypeError(f"constraints must be a list of result field names, e.g. "
                            f"['memory_gb_over'], got {constraints!r}")
        self.constraints = list(constraints) if constraints is not None else None
        points = sp.plain(list(points_to_evaluate or []))
        rewards = None if evaluated_rewards is None else sp.plain(list(evaluated_rewards))
        if rewards is not None and len(rewards) != len(points):
            raise ValueError(f"evaluated_rewards has {len(rewards)} values but "
                             f"points_to_evaluate {len(points)} points")
        self._seed = sp.plain(seed)
        self._tpe_settings = tpe_settings
        tp.TPE.check_settings(seed=self._seed, **tpe_settings)  # bad settings fail now
        self._points, self._rewards = points, rewards
        self._space: sp._Node | None = None
        self._core: tp.Space | None = None
        self._opt: tp.TPE | None = None
        self._queue: list = []  # core params of points still to run
        self._live: dict[str, int] = {}  # Tune trial id -> core trial id, while running
        self._ids: dict[str, int] = {}  # every Tune trial id this searcher recorded
        self._last: dict[str, list] = {}  # Tune trial id -> [step, value] last reported
        self._paused: set[str] = set()
        self._max_running = 0  # set_max_concurrency's limit on running trials; 0 = none
        self._warned: set[str] = set()
        self._seen: Counter = Counter()
        self._n_configs = math.inf
        self._space_from_checkpoint = False
        self._persistence = Persistence()  # save/restore, catch-up with Tune, warm start
        if space:
            sp.refuse_functions(space, ())
            node = sp.convert(space)
            if not sp.tunable(node):
                raise ValueError("TPESearch found nothing to search in `space`: give at least "
                                 "one domain such as tune.uniform(0, 1) or tp.Float(0, 1)")
            self._set_space(node)

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
        if self._space is not None and not self._space_from_checkpoint:
            if sp.tunable(sp.convert(config)):
                return False  # Tune then tells the user to keep one space only
            self._adopt_settings(metric, mode)
            return True
        self._adopt_settings(metric, mode)
        node = sp.convert(config)
        hidden = sp.hidden_objects(node)
        if hidden:
            logger.warning(
                "TPESearch: Tune hides the objects at %s from searchers and passes them to the "
                "trainable as they are. A tpe_plugins type there is not searched: write the "
                "space with tune domains, wrap it in tpe_plugins.integrations.ray_tune.to_tune("
                "...), or pass it as TPESearch(space=...).", ", ".join(hidden))
        if not sp.tunable(node):
            raise ValueError("TPESearch found nothing to search in the config: give at least "
                             "one domain such as tune.uniform(0, 1); tpe_plugins types go in "
                             "TPESearch(space=...) or through to_tune(...)")
        if self._space is not None:  # restored first: the config must be the same space
            if tp.Space(sp.core_space(node)) != self._core:
                raise ValueError("the config is not the search space TPESearch was restored "
                                 "with; pass the same param_space")
        self._set_space(node)
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
        value, why = experiment.metric_value(result, self._metric)
        if value is None:
            self._warn_once(trial_id, f"TPESearch: trial {trial_id}: {why}; this result is not "
                                      "recorded")
            return
        step = self._step(trial_id, result)
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
        """Record how a trial ended: complete, failed or pruned (see the module docstring)."""
        if self._opt is not None and trial_id not in self._ids and result:
            config = unflatten_dict({k[len("config/"):]: v for k, v in result.items()
                                     if k.startswith("config/")})
            if config:  # Tune reran a trial that was suggested after our last checkpoint
                self._record_unknown([experiment.Record(trial_id, config, result,
                                               experiment.FAILED if error
                                               else experiment.FINISHED)])
                return
        if trial_id not in self._live or self._opt is None:
            logger.debug("TPESearch: ignoring completion of unknown or finished trial %s",
                         trial_id)
            return
        i = self._live.pop(trial_id)
        last = self._last.pop(trial_id, None)
        self._paused.discard(trial_id)
        self._warned.discard(trial_id)
        if error:
            warnings.warn(f"TPESearch: trial {trial_id} errored (an exception or a dead "
                          "worker); recorded as failed", RuntimeWarning, stacklevel=2)
            self._opt.tell(i, None)
            return
        if result is None:  # removed while pending or paused
            if last is not None:
                self._opt.tell(i, last[1])
            else:
                self._opt.tell(i, None)
                self._unsee(self._opt.trial(i).params)  # it never ran: it may come again
            return
        value, why = experiment.metric_value(result, self._metric)
        if value is None:
            warnings.warn(f"TPESearch: trial {trial_id}: {why}; recorded as failed",
                          RuntimeWarning, stacklevel=2)
            self._opt.tell(i, None)
            return
        limits = None
        if self.constraints:
            limits, why = experiment.metric_value(result, self.constraints)
            if limits is None:
                warnings.warn(f"TPESearch: trial {trial_id}: {why} (a constraint); recorded as "
                              "failed", RuntimeWarning, stacklevel=2)
                self._opt.tell(i, None)
                return
        step = self._step(trial_id, result)
        if step is not None and (last is None or last[0] < step) and not isinstance(value, list):
            self._opt.report(i, step, value)  # the final point of the learning curve
        self._opt.tell(i, value, constraints=limits)

    def _step(self, trial_id: str, result: dict) -> int | None:
        """The result's time_attr as a whole number of units, or None."""
        step = sp.plain(result.get(self.time_attr))
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if isinstance(step, int) and not isinstance(step, bool):
            return step
        if step is not None and "time_attr" not in self._warned:
            self._warned.add("time_attr")
            warnings.warn(f"TPESearch: time_attr {self.time_attr!r} is {step!r} in trial "
                          f"{trial_id}, not a whole number of units; learning curves count "
                          "results instead", RuntimeWarning, stacklevel=3)
        return None

    def _unsee(self, params: Any) -> None:
        key = sp.config_key(params)
        self._seen[key] -= 1
        if self._seen[key] <= 0:
            del self._seen[key]

    def _warn_once(self, trial_id: str, message: str) -> None:
        if trial_id not in self._warned:
            self._warned.add(trial_id)
            warnings.warn(message, RuntimeWarning, stacklevel=3)

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
        self._metric = self._metric or state.metric
        self._mode = self._mode or state.mode
        self._opt, self._queue, self._live = state.optimizer, state.queue, state.live
        self._ids, self._last, self._paused = state.ids, state.last, state.paused
        self._seen = state.seen()

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        """Restore from an experiment folder (Tuner.restore), then catch up with what Tune kept.

        A searcher file that a kill left empty or cut short is not fatal: the searcher is
        rebuilt from Tune's own record of every trial (configs and results), with a warning.
        """
        try:
            super().restore_from_dir(checkpoint_dir)
        except checkpoint.Unreadable as exc:
            if self._space is None:
                raise
            warnings.warn(f"TPESearch: {exc}; rebuilding the searcher from the trials in "
                          "Tune's experiment state (none is lost; the random stream restarts)",
                          RuntimeWarning, stacklevel=2)
            self._persistence.restore_error = None
            self._opt = None
            self._ensure_optimizer(required=True)
            self._catch_up(checkpoint_dir)
            # points_to_evaluate that Tune already ran are not queued again
            self._queue = [p for p in self._queue if sp.config_key(p) not in self._seen]
            return
        self._catch_up(checkpoint_dir)

    def _catch_up(self, experiment_dir: str) -> None:
        """Record what Tune finished after this searcher's last checkpoint, and end trials
        Tune lost (see `Persistence.catch_up`)."""
        if self._opt is None:
            return
        diff = self._persistence.catch_up(experiment_dir, list(self._live))
        if diff is None:
            return
        for record in diff.ended:
            self.on_trial_complete(record.trial_id, record.result,
                                   error=record.status == experiment.FAILED)
        self._record_unknown(diff.unknown)
        for trial_id in diff.lost:  # ends as if removed: its last value, or failed
            logger.warning("TPESearch: trial %s is not in Tune's experiment state (the driver "
                           "was killed while Tune saved it); Tune will not run it, so it is "
                           "ended here", trial_id)
            self.on_trial_complete(trial_id, None)

    def _record_unknown(self, records: list[experiment.Record],
                        metric: str | list[str] | None = None,
                        source: str = "Tune's experiment state") -> None:
        """Add the trials Tune ran that this searcher has not recorded (one per config)."""
        found = self._persistence.unknown(records, self._space, self._core,
                                          metric or self._metric, self._ids, set(self._seen),
                                          source)
        for unknown in found:
            trial = self._opt.add_trial(unknown.params, unknown.value)
            self._seen[sp.config_key(trial.params)] += 1
            self._ids.update(dict.fromkeys(unknown.trial_ids, trial.id))
        if found:
            logger.info("TPESearch: recorded %d trial(s) from %s", len(found), source)

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
        records = [r for r in experiment.records(trials_or_analysis)
                   if r.status != experiment.UNFINISHED]
        self._record_unknown(records, metric, source="an earlier experiment")

    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False,
                            pruned: bool = False,
                            intermediate_values: list[float] | None = None) -> None:
        """Add a configuration evaluated elsewhere (nested dicts or flat "a/b" keys)."""
        self._add_point(parameters, value, error, pruned, intermediate_values,
                        "add_evaluated_point")

    def _add_point(self, parameters: dict, value: Any, error: bool, pruned: bool,
                   intermediate_values: list | None, where: str) -> tp.Trial:
        self._ensure_optimizer(required=True)
        params = self._encode_point(parameters, where)
        value = sp.plain(value)
        if error:
            trial = self._opt.add_trial(params, None)
        else:
            curve = {step: float(v) for step, v in
                     enumerate(sp.plain(list(intermediate_values or [])), start=1)
                     if v is not None and math.isfinite(v)}
            trial = self._opt.add_trial(params, value, state="pruned" if pruned else "complete",
                                        intermediate=curve)
        self._seen[sp.config_key(trial.params)] += 1
        return trial

    # ------------------------------------------------------------------ internals
    def _adopt_settings(self, metric: str | None, mode: str | None) -> None:
        if isinstance(self._metric, list) and not isinstance(metric, list):
            return  # several objectives of our own; the run's single metric is the scheduler's
        metric, mode = _objectives(metric, mode)
        for key, given in (("metric", metric), ("mode", mode)):
            ours = getattr(self, "_" + key)
            if given is not None and ours is not None and given != ours:
                raise ValueError(f"TPESearch was built with {key}={ours!r} but the run asks "
                                 f"for {key}={given!r}; give it in one place only")
        self._metric = self._metric or metric
        self._mode = self._mode or mode

    def _set_space(self, node: sp._Node, from_checkpoint: bool = False) -> None:
        self._core = tp.Space(sp.core_space(node))  # validate now: errors name paths
        self._space = node
        self._space_from_checkpoint = from_checkpoint
        self._n_configs = sp.n_configs(node)
        if self._n_configs > _FINITE_LIMIT:
            self._n_configs = math.inf

    def _ensure_optimizer(self, required: bool = False) -> None:
        """Build the core once space and mode are known, and queue the starting points."""
        if self._opt is not None:
            return
        if self._space is None or not self._metric or not self._mode:
            if required:
                why = self._persistence.restore_error
                if self._space is None and why:
                    raise RuntimeError("TPESearch has no search space because restoring its "
                                       f"checkpoint failed: {why}")
                if self._space is None:
                    raise RuntimeError(UNDEFINED_SEARCH_SPACE.format(
                        cls=type(self).__name__, space="space"))
                raise RuntimeError(
                    f"TPESearch has no metric ({self._metric}) or mode ({self._mode}): pass "
                    "them to TPESearch(metric=..., mode=...) or to tune.run / TuneConfig. Tune "
                    "hands the run's metric and mode to a searcher only along with a non-empty "
                    "config / param_space, so with a space given to TPESearch, give them there.")
            return
        self._opt = tp.TPE(self._core.spec, mode=self._mode, seed=self._seed,
                           **self._tpe_settings)
        self._seen = Counter()
        points = [self._encode_point(p, f"points_to_evaluate[{i}]")
                  for i, p in enumerate(self._points)]
        if self._rewards is not None:
            for params, reward in zip(points, self._rewards, strict=True):
                trial = self._opt.add_trial(params, reward)
                self._seen[sp.config_key(trial.params)] += 1
        else:
            self._queue = points

    def _encode_point(self, point: dict, where: str) -> Any:
        return sp.encode_point(self._space, self._core, point, where)
