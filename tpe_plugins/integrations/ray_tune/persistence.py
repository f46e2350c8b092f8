"""What carries a TPESearch across runs: save/restore, catch-up with Tune, warm start.

`Persistence` is a mixin of `TPESearch`: it reads and writes the searcher's bookkeeping
(`_opt`, `_space`, `_live`, `_ids`, `_last`, `_paused`, `_queue`, `_seen`) and calls its helpers
(`_ensure_optimizer`, `_encode_point`, `_set_space`, `on_trial_complete`). Kept apart so that
the searcher module shows the trial lifecycle and this one what survives a restart.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter, defaultdict
from typing import Any

from ray.tune.search import Searcher

import tpe_plugins as tp
from tpe_plugins.optimizer import SpaceMismatch

from . import checkpoint, experiment
from . import space as sp

logger = logging.getLogger(__name__)


class Persistence(Searcher):
    """Save/restore, catch-up and warm start for `TPESearch` (see the module docstring)."""

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
        self._record_unknown(records, metric or self._metric, source="an earlier experiment")

    def _record_unknown(self, records: list[experiment.Record],
                        metric: str | list[str] | None = None,
                        source: str = "Tune's experiment state") -> None:
        """Record trials Tune ran but this searcher has not recorded.

        A config this searcher already holds is not added again, and unknown trials that share
        a config (Repeater's hidden repeats) become one trial with their mean value.
        """
        metric = metric or self._metric
        known_keys = set(self._seen)
        top_level = set(getattr(self._space, "children", {}))  # drop keys Tune added
        groups: dict[str, list] = defaultdict(list)
        for record in records:
            if record.trial_id is not None and record.trial_id in self._ids:
                continue
            config = {k: v for k, v in sp.plain(record.config).items() if k in top_level}
            try:
                params = self._encode_point(config, f"trial {record.trial_id}")
            except (TypeError, ValueError) as exc:
                logger.warning("TPESearch: cannot record trial %s from %s: %s",
                               record.trial_id, source, exc)
                continue
            key = sp.config_key(params)
            if key in known_keys:
                continue
            value, _ = experiment.metric_value(record.result, metric)
            failed = record.status == experiment.FAILED or value is None
            groups[key].append((record.trial_id, params, None if failed else value))
        for members in groups.values():
            values = [v for _, _, v in members if v is not None]
            mean = None
            if values:  # one value, or one per objective
                mean = ([sum(c) / len(c) for c in zip(*values, strict=True)]
                        if isinstance(values[0], list) else sum(values) / len(values))
            trial = self._opt.add_trial(members[0][1], mean)
            self._seen[sp.config_key(trial.params)] += 1
            for trial_id, _, _ in members:
                if trial_id is not None:
                    self._ids[trial_id] = trial.id
        if groups:
            logger.info("TPESearch: recorded %d trial(s) from %s", len(groups), source)

    # ------------------------------------------------------------------ save / restore
    def save(self, checkpoint_path: str) -> None:
        """Write the searcher state as JSON (see `checkpoint`), atomically."""
        self._ensure_optimizer()
        checkpoint.write(checkpoint_path, checkpoint.dumps({
            "metric": self._metric,
            "mode": self._mode,
            "optimizer": self._opt.state_dict() if self._opt is not None else None,
            "space": checkpoint.encode_space(self._space),
            "queue": self._queue,
            "live": self._live,
            "ids": self._ids,
            "last": self._last,
            "paused": sorted(self._paused),
        }))

    def restore(self, checkpoint_path: str) -> None:
        """Continue from `save`. A file that is not a TPESearch checkpoint, or one made for
        another space, metric or mode, raises a ValueError that says so (and changes nothing)."""
        try:
            self._restore(checkpoint.read(checkpoint_path), checkpoint_path)
        except ValueError as exc:
            # Tune logs a failed resume and starts afresh; without a space we cannot, so
            # `suggest` repeats this reason instead of a puzzling "no search space".
            self._restore_error = str(exc)
            raise
        self._restore_error = None

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
            self._restore_error = None
            self._opt = None
            self._ensure_optimizer(required=True)
            self._catch_up(checkpoint_dir)
            # points_to_evaluate that Tune already ran are not queued again
            self._queue = [p for p in self._queue if sp.config_key(p) not in self._seen]
            return
        self._catch_up(checkpoint_dir)

    def _catch_up(self, experiment_dir: str) -> None:
        """Record trials that Tune finished after this searcher's last checkpoint.

        Why: Tune writes its experiment state and the searcher state one after the other and
        copies them to storage separately. A driver killed in between leaves trials that Tune
        records as finished, so it never reruns them, while the searcher has them pending or
        never saw them. Trials still running are rerun by Tune, which reports them as usual.
        """
        if self._opt is None:
            return
        try:
            records = experiment.records(experiment_dir)
        except Exception as exc:  # best effort: the searcher state itself is intact
            logger.warning("TPESearch: could not read Tune's experiment state in %s to catch "
                           "up with trials finished after the last checkpoint: %r",
                           experiment_dir, exc)
            return
        unknown = []
        for record in records:
            if record.status == experiment.UNFINISHED:
                continue
            if record.trial_id in self._live:
                error = record.status == experiment.FAILED
                self.on_trial_complete(record.trial_id, record.result, error=error)
            else:
                unknown.append(record)
        self._record_unknown(unknown)
        self._end_trials_tune_lost({record.trial_id for record in records})

    def _end_trials_tune_lost(self, tune_ids: set[str | None]) -> None:
        """End live trials that Tune's experiment state does not hold at all.

        Why: Tune copies its experiment state and this searcher's file to storage one after the
        other, while the driver keeps saving; a kill in between can leave this file a trial
        ahead. Tune will never run or report that trial, so left live it would stay pending for
        good. It ends as a trial removed before it finished: its last reported value if it
        reported one, otherwise failed (never ran) and free to be suggested again.
        """
        for trial_id in [t for t in self._live if t not in tune_ids]:
            logger.warning("TPESearch: trial %s is not in Tune's experiment state (the driver "
                           "was killed while Tune saved it); Tune will not run it, so it is "
                           "ended here", trial_id)
            self.on_trial_complete(trial_id, None)

    def _restore(self, state: dict, path: str) -> None:
        saved_space = checkpoint.decode_space(state["space"], path)
        if saved_space is not None and not sp.tunable(saved_space):
            raise ValueError(f"{path}: corrupt TPESearch checkpoint: the saved space holds no "
                             "parameter")
        node = self._space if self._space is not None else saved_space
        opt = None
        if state["optimizer"] is not None:
            if node is None:
                raise ValueError(f"{path}: corrupt TPESearch checkpoint: an optimizer state "
                                 "without a space")
            try:
                opt = tp.TPE.from_state_dict(state["optimizer"], space=sp.core_space(node))
            except SpaceMismatch:
                raise ValueError(f"{path}: the TPESearch checkpoint was made for a different "
                                 "search space; restore with the space it was saved with"
                                 ) from None
            except Exception as exc:
                raise ValueError(f"{path}: corrupt TPESearch checkpoint: {exc!r}") from None
        for key, ours in (("metric", self._metric), ("mode", self._mode)):
            if ours is not None and state[key] is not None and ours != state[key]:
                raise ValueError(f"{path} was saved with {key}={state[key]!r}, "
                                 f"this searcher has {key}={ours!r}")
        if self._space is None and saved_space is not None:
            self._set_space(saved_space, from_checkpoint=True)
        self._metric = self._metric or state["metric"]
        self._mode = self._mode or state["mode"]
        self._queue = state["queue"]
        self._live = {str(k): int(v) for k, v in state["live"].items()}
        self._ids = {str(k): int(v) for k, v in state["ids"].items()}
        self._last = {str(k): list(v) for k, v in state["last"].items()}
        self._paused = set(state["paused"])
        self._opt = opt
        self._seen = Counter(sp.config_key(t.params) for t in opt.trials) if opt else Counter()
