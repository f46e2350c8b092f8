"""`ReportCallback`: keeps the HTML report of a Tune run current while it runs.

    tune.Tuner(train, tune_config=tune.TuneConfig(search_alg=search, ...),
               run_config=tune.RunConfig(callbacks=[ReportCallback("report.html")]))

Why a thread: building the page (a forest for the importance, 2 MB of HTML) takes up to a
second or two, and the callback runs in Tune's driver loop. The driver only copies the trials'
results; a background thread renders and writes, atomically (a temporary file, then a rename),
at most every `every_s` seconds. A failed write is logged and never stops or slows the run.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback

from .experiment import report_data_from_trials

logger = logging.getLogger(__name__)


class ReportCallback(Callback):
    """Rewrite `path` as trials report and finish; "finished" at the end of the experiment.

    metric, mode: what to show; default what `searcher` names (pass your TPESearch to get its
    metrics, modes and constraints), else what the experiment folder's Tuner config names.
    every_s: the least time between two writes. refresh_s: how often the open page reloads.
    """

    def __init__(self, path: str | Path = "report.html", metric: str | list[str] | None = None,
                 mode: str | list[str] | None = None, searcher: Any = None,
                 every_s: float = 5.0, refresh_s: float = 5.0):
        self.path = Path(path)
        self.metric, self.mode, self.searcher = metric, mode, searcher
        self.every_s, self.refresh_s = float(every_s), float(refresh_s)
        self._results: dict[str, list[dict]] = {}
        self._last_write = -float("inf")
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._folder: str | None = None
        self.writes = 0  # pages written (for tests and curious users)

    def __getstate__(self) -> dict:
        """Tune pickles its RunConfig (tuner.pkl): leave out the thread and the lock."""
        state = dict(self.__dict__)
        state.update(_thread=None, _lock=None, _results={})
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ Tune hooks
    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        keep = {k: v for k, v in result.items() if k != "config"}
        self._results.setdefault(trial.trial_id, []).append(keep)
        self._maybe_write(trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._maybe_write(trials)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._maybe_write(trials)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self._thread is not None:
            self._thread.join(timeout=60)
        self._write(self._snapshot(trials), live=False)

    # ------------------------------------------------------------------ writing
    def _maybe_write(self, trials: list) -> None:
        now = time.monotonic()
        if now - self._last_write < self.every_s:
            return
        if self._thread is not None and self._thread.is_alive():
            return  # the last page is still being written; the next event tries again
        self._last_write = now
        snapshot = self._snapshot(trials)
        if snapshot is None:
            return
        self._thread = threading.Thread(target=self._write, args=(snapshot, True),
                                        name="tpe-report", daemon=True)
        self._thread.start()

    def _snapshot(self, trials: list) -> dict | None:
        """The plain data of the report, taken in the driver thread (Trials change there)."""
        try:
            if self._folder is None and trials:
                self._folder = _experiment_folder(trials[0])
            return report_data_from_trials(trials, self._results, metric=self.metric,
                                           mode=self.mode, searcher=self.searcher,
                                           folder=self._folder)
        except Exception as exc:  # noqa: BLE001 - a report never breaks the run
            self._warn("data", f"ReportCallback: cannot build the report yet: {exc}")
            return None

    def _write(self, data: dict | None, live: bool) -> None:
        if data is None:
            return
        try:
            from tpe_plugins.report import Run, write_report

            with self._lock:
                write_report(Run.from_dict(data), self.path, live=live,
                             refresh_s=self.refresh_s)
                self.writes += 1
        except Exception as exc:  # noqa: BLE001 - a report never breaks the run
            self._warn("write", f"ReportCallback: could not write {self.path}: {exc!r}")

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self._warned:  # once per kind: a full disk should not flood the log
            self._warned.add(kind)
            logger.warning(message)


def _experiment_folder(trial: Any) -> str | None:
    """Where Tune keeps this experiment (for its Tuner config), or None."""
    try:
        return str(Path(trial.local_path).parent)
    except Exception:  # noqa: BLE001
        return None
