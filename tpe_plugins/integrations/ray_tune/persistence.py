"""What carries a TPESearch across runs: save/restore, and catch-up with Tune's own records.

`Persistence` is a part that `TPESearch` owns (composition, not a mixin): the searcher hands it
what each call needs as arguments (a `SearcherState`, Tune's records, the space) and applies
what comes back. It reads and writes no attribute of the searcher, so either side can change
its insides alone, and this module shows on its own what survives a restart. Trials that Tune
ran but the searcher never recorded (`add_unknown`) also serve the warm start from an earlier
experiment (`TPESearch.add_evaluated_trials`).
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ray.tune.utils.util import unflatten_dict

import tpe_plugins as tp
from tpe_plugins.optimizer import SpaceMismatch

from . import checkpoint, experiment
from . import space as sp

logger = logging.getLogger(__name__)


@dataclass
class SearcherState:
    """Everything a checkpoint holds: the objective, the space (a converted Tune space, or
    None), the core optimiser, and the searcher's record of Tune trials (`queue`: core params
    of points still to run; `live`: Tune trial id -> core trial id while running; `ids`: every
    Tune trial id recorded; `last`: Tune trial id -> [step, value] last reported; `paused`)."""

    metric: Any
    mode: Any
    space: Any
    optimizer: tp.TPE | None
    queue: list = field(default_factory=list)
    live: dict[str, int] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    last: dict[str, list] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)

    def seen(self) -> Counter:
        """How often each configuration was tried, counted from the optimiser's trials."""
        if self.optimizer is None:
            return Counter()
        return Counter(sp.config_key(t.params) for t in self.optimizer.trials)


@dataclass
class CatchUp:
    """How Tune's record of a run differs from the searcher's (see `Persistence.compare`)."""

    ended: list[experiment.Record]  # live here, finished or errored in Tune
    unknown: list[experiment.Record]  # finished in Tune, never recorded here
    lost: list[str]  # live here, absent from Tune's experiment state


@dataclass
class Unknown:
    """One configuration Tune ran that the searcher had not recorded, with its mean value
    (None: failed) and the Tune trial ids that ran it."""

    params: Any
    value: Any
    trial_ids: list[str]


class Persistence:
    """Save/restore and reconciliation with Tune's records for one `TPESearch`."""

    def __init__(self) -> None:
        # why the last restore failed, so that `suggest` can repeat it instead of a puzzling
        # "no search space" (Tune logs a failed resume and starts afresh)
        self.restore_error: str | None = None

    def save(self, path: str, state: SearcherState) -> None:
        """Write `state` as a JSON checkpoint (see `checkpoint`), atomically."""
        opt = state.optimizer
        checkpoint.write(path, checkpoint.dumps({
            "metric": state.metric,
            "mode": state.mode,
            "optimizer": opt.state_dict() if opt is not None else None,
            "space": checkpoint.encode_space(state.space),
            "queue": state.queue,
            "live": state.live,
            "ids": state.ids,
            "last": state.last,
            "paused": sorted(state.paused),
        }))

    def restore(self, path: str, space: Any, metric: Any, mode: Any) -> SearcherState:
        """The state saved at `path`, checked against the searcher's own space, metric and mode
        (None where it has none yet). A file that is not a TPESearch checkpoint, or one made
        for another space, metric or mode, raises a ValueError that says so."""
        try:
            state = self._read(path, space, metric, mode)
        except ValueError as exc:
            self.restore_error = str(exc)
            raise
        self.restore_error = None
        return state

    def rebuilding(self, exc: Exception) -> None:
        """Warn that an unreadable searcher file gives way to Tune's record of the trials, and
        forget the failure, since the searcher is about to be rebuilt from that record."""
        warnings.warn(f"TPESearch: {exc}; rebuilding the searcher from the trials in "
                      "Tune's experiment state (none is lost; the random stream restarts)",
                      RuntimeWarning, stacklevel=3)
        self.restore_error = None

    def _read(self, path: str, space: Any, metric: Any, mode: Any) -> SearcherState:
        state = checkpoint.read(path)
        saved_space = checkpoint.decode_space(state["space"], path)
        if saved_space is not None and not sp.tunable(saved_space):
            raise ValueError(f"{path}: corrupt TPESearch checkpoint: the saved space holds no "
                             "parameter")
        node = space if space is not None else saved_space
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
        for key, ours in (("metric", metric), ("mode", mode)):
            if ours is not None and state[key] is not None and ours != state[key]:
                raise ValueError(f"{path} was saved with {key}={state[key]!r}, "
                                 f"this searcher has {key}={ours!r}")
        return SearcherState(
            metric=state["metric"], mode=state["mode"], space=saved_space, optimizer=opt,
            queue=state["queue"],
            live={str(k): int(v) for k, v in state["live"].items()},
            ids={str(k): int(v) for k, v in state["ids"].items()},
            last={str(k): list(v) for k, v in state["last"].items()},
            paused=set(state["paused"]))

    def catch_up(self, experiment_dir: str, live: Collection[str],
                 end: Callable[[str, dict | None, bool], None],
                 add: Callable[[list[experiment.Record]], None]) -> None:
        """Bring the searcher up to date with Tune's experiment state (see `compare` for why):
        `end(trial_id, final result or None, error)` the trials it holds as `live` that Tune
        finished, `add` the finished ones it never recorded, and end the ones Tune lost as if
        removed (their last value, or failed). Nothing happens when Tune's state is unreadable.
        """
        diff = self.compare(experiment_dir, live)
        if diff is None:
            return
        for record in diff.ended:
            end(record.trial_id, record.result, record.status == experiment.FAILED)
        add(diff.unknown)
        for trial_id in diff.lost:
            logger.warning("TPESearch: trial %s is not in Tune's experiment state (the driver "
                           "was killed while Tune saved it); Tune will not run it, so it is "
                           "ended here", trial_id)
            end(trial_id, None, False)

    def compare(self, experiment_dir: str, live: Collection[str]) -> CatchUp | None:
        """Compare Tune's experiment state with the trials the searcher holds as `live`.

        Why: Tune writes its experiment state and the searcher state one after the other and
        copies them to storage separately. A driver killed in between leaves trials that Tune
        records as finished, so it never reruns them, while the searcher has them pending or
        never saw them (`ended`, `unknown`); or it leaves the searcher's file a trial ahead, a
        trial that Tune will never run or report (`lost`). Trials still running are rerun by
        Tune, which reports them as usual. None when Tune's state cannot be read (logged).
        """
        try:
            records = experiment.records(experiment_dir)
        except Exception as exc:  # best effort: the searcher state itself is intact
            logger.warning("TPESearch: could not read Tune's experiment state in %s to catch "
                           "up with trials finished after the last checkpoint: %r",
                           experiment_dir, exc)
            return None
        finished = [r for r in records if r.status != experiment.UNFINISHED]
        tune_ids = {r.trial_id for r in records}
        return CatchUp(ended=[r for r in finished if r.trial_id in live],
                       unknown=[r for r in finished if r.trial_id not in live],
                       lost=[t for t in live if t not in tune_ids])

    def add_unknown(self, opt: tp.TPE, records: list[experiment.Record], space: Any,
                    core: tp.Space, metric: str | list[str], recorded: Mapping[str, int],
                    known_keys: Collection[str],
                    source: str) -> tuple[list[tp.Trial], dict[str, int]]:
        """Add to `opt` the trials among `records` that the searcher has not recorded (see
        `unknown`, one per config). Returns the new trials, and the Tune trial ids that ran them
        (-> core trial id), for the searcher to enter in its own record."""
        found = self.unknown(records, space, core, metric, recorded, known_keys, source)
        trials, ids = [], {}
        for unknown in found:
            trial = opt.add_trial(unknown.params, unknown.value)
            trials.append(trial)
            ids.update(dict.fromkeys(unknown.trial_ids, trial.id))
        if found:
            logger.info("TPESearch: recorded %d trial(s) from %s", len(found), source)
        return trials, ids

    def unknown(self, records: list[experiment.Record], space: Any, core: tp.Space,
                metric: str | list[str], recorded: Mapping[str, int],
                known_keys: Collection[str], source: str) -> list[Unknown]:
        """The trials among `records` to add to the optimiser: not `recorded` by Tune trial
        id, their config in this space and not already held (`known_keys`). Trials that share
        a config (Repeater's hidden repeats) become one, with their mean value."""
        top_level = set(getattr(space, "children", {}))  # drop keys Tune added
        groups: dict[str, list] = defaultdict(list)
        for record in records:
            if record.trial_id is not None and record.trial_id in recorded:
                continue
            config = {k: v for k, v in sp.plain(record.config).items() if k in top_level}
            try:
                params = sp.encode_point(space, core, config, f"trial {record.trial_id}")
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
        out = []
        for members in groups.values():
            values = [v for _, _, v in members if v is not None]
            mean = None
            if values:  # one value, or one per objective
                mean = ([sum(c) / len(c) for c in zip(*values, strict=True)]
                        if isinstance(values[0], list) else sum(values) / len(values))
            out.append(Unknown(members[0][1], mean,
                               [t for t, _, _ in members if t is not None]))
        return out


def rerun(trial_id: str, result: dict | None, error: bool) -> experiment.Record | None:
    """A final result for a Tune trial the searcher never recorded, as a record to add; None
    when the result holds no config. Why: Tune reruns, after a restore, trials that were
    suggested after the searcher's last checkpoint, so their results arrive unannounced."""
    if not result:
        return None
    config = unflatten_dict({k[len("config/"):]: v for k, v in result.items()
                             if k.startswith("config/")})
    if not config:
        return None
    return experiment.Record(trial_id, config, result,
                             experiment.FAILED if error else experiment.FINISHED)
