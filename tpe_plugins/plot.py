"""Pictures of a finished search: history, parameter importance, parallel coordinates, slices
and learning curves. Built on matplotlib (imported on first use: the core does not need it).

Every plotting function takes a `Run` (see `tpe_plugins.report.load_run`, or
`Run.from_optimizer`) and returns a matplotlib Figure.

Parameter importance: how much worse each trial's value is predicted from its 5 nearest
neighbours among the other trials when one parameter is ignored (values by rank; numeric
parameters scaled to [0, 1], on a log scale when they span more than two orders of
magnitude; a choice or "inactive" differs by 1). Why not a marginal measure, such as the
difference between TPE's l(x) and g(x) per parameter, or an analysis of variance per
parameter? The search samples near its good trials in every parameter, so late, good trials
agree even on parameters that do not matter; both marginal measures gave an unused parameter
about a quarter of the importance in a test. Neighbours see the other parameters too, so they
are not fooled by that, and they need no surrogate model (fANOVA would need a forest). Up to
1,000 trials are used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Run:
    """Finished trials in plain form: flat params ("a/b" for nested), value, state, curve."""

    trials: list[dict]
    mode: str | list[str] = "min"  # a list, and list values, with several objectives
    metric: str | list[str] = "value"
    source: str = ""
    params: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.params:
            names: dict[str, None] = {}
            for t in self.trials:
                names.update(dict.fromkeys(t["params"]))
            self.params = list(names)

    @classmethod
    def from_optimizer(cls, opt: Any, metric: str | list[str] = "value",
                       source: str = "") -> Run:
        """From a `tp.TPE` (its trials, values in the user's sign)."""
        trials = [{"id": t.id, "params": flatten(t.params), "value": t.value,
                   "state": str(t.state), "curve": dict(t.intermediate)} for t in opt.trials]
        return cls(trials, mode=opt.mode, metric=metric, source=source)

    @property
    def n_objectives(self) -> int:
        return len(self.mode) if isinstance(self.mode, list) else 1

    def objective(self, j: int) -> Run:
        """The same trials seen through objective j alone."""
        names = self.metric if isinstance(self.metric, list) else [
            f"objective {k}" for k in range(self.n_objectives)]
        trials = [{**t, "value": None if t["value"] is None else t["value"][j], "curve": {}}
                  for t in self.trials]
        return Run(trials, mode=self.mode[j], metric=names[j], source=self.source,
                   params=self.params)

    def finished(self) -> list[dict]:
        """Trials with a finite value (complete or pruned), in the order they were created."""
        return [t for t in self.trials
                if t["value"] is not None and np.all(np.isfinite(t["value"]))]

    def on_front(self, n_objectives: int | None = None) -> np.ndarray:
        """Mask over `finished()`: the trials no other dominates, on the first n_objectives
        (default all; several objectives only)."""
        from tpe_plugins.pareto import front_ranks

        m = n_objectives or self.n_objectives
        V = np.array([t["value"][:m] for t in self.finished()], dtype=float)
        signs = np.array([1.0 if mode == "min" else -1.0 for mode in self.mode[:m]])
        return front_ranks(V * signs) == 0

    def best(self, k: int = 10) -> list[dict]:
        sign = 1.0 if self.mode == "min" else -1.0
        return sorted(self.finished(), key=lambda t: sign * t["value"])[:k]


def flatten(params: Any, prefix: str = "") -> dict:
    """Nested params as one level, "model/kernel" for params["model"]["kernel"]."""
    if not isinstance(params, dict):
        return {prefix: params}
    out: dict = {}
    for key, value in params.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        out.update(flatten(value, name) if isinstance(value, dict) else {name: value})
    return out


# ====================================================================== figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def history(run: Run):
    """Every finished trial's value and the best so far, by trial number."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    done = run.finished()
    x = np.array([t["id"] for t in done])
    y = np.array([t["value"] for t in done], dtype=float)
    best = (np.minimum if run.mode == "min" else np.maximum).accumulate(y)
    ax.scatter(x, y, s=14, alpha=0.6, label="trial")
    ax.step(x, best, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(run.metric)
    ax.set_title("Optimisation history")
    ax.legend()
    fig.tight_layout()
    return fig


def importance(run: Run, k: int = 5) -> dict[str, float]:
    """Share of importance per parameter (see the module docstring); sums to 1."""
    done = run.finished()
    if len(done) > 1000:  # the newest 1,000: pairwise distances stay small
        done = done[-1000:]
    n = len(done)
    if n <= k + 1:
        return dict.fromkeys(run.params, 0.0)
    y = np.argsort(np.argsort([t["value"] for t in done], kind="stable")) / (n - 1)
    per_param = [_distances([t["params"].get(name) for t in done]) for name in run.params]
    total = np.sum(per_param, axis=0)
    np.fill_diagonal(total, np.inf)

    def error(dist: np.ndarray) -> float:
        near = np.argpartition(dist, k, axis=1)[:, :k]
        return float(np.mean((y[near].mean(axis=1) - y) ** 2))

    base = error(total)
    scores = {name: max(0.0, error(total - d) - base)
              for name, d in zip(run.params, per_param, strict=True)}
    s = sum(scores.values())
    return {name: (v / s if s > 0 else 0.0) for name, v in scores.items()}


def _distances(values: list) -> np.ndarray:
    """(n, n) squared distances between trials in one parameter: numbers scaled to [0, 1],
    choices and inactive (None) 0 or 1."""
    have = np.array([v is not None for v in values])
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        x = _numeric_column(values)
        d = (x[:, None] - x[None, :]) ** 2
    else:
        labels = np.array([str(v) for v in values])
        d = (labels[:, None] != labels[None, :]).astype(float)
    inactive = ~have[:, None] | ~have[None, :]
    return np.where(inactive, (have[:, None] != have[None, :]).astype(float), d)


def importance_plot(run: Run):
    plt = _plt()
    scores = importance(run)
    names = sorted(scores, key=scores.get)
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(names) + 1.2))
    ax.barh(names, [scores[n] for n in names], color="C0")
    ax.set_xlabel("share of importance (nearest-neighbour error without the parameter)")
    ax.set_title("Parameter importance")
    fig.tight_layout()
    return fig


def _numeric_column(values: list) -> np.ndarray:
    """Values as positions in [0, 1]: numbers min-max scaled (log10 when they span over two
    orders of magnitude), choices by index; None (inactive) stays NaN."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        x = np.array([np.nan if v is None else float(v) for v in values])
        positive = present and min(present) > 0 and max(present) / min(present) > 100
        if positive:  # spans orders of magnitude: a log axis, as the search saw it
            x = np.log10(x)
        lo, hi = np.nanmin(x), np.nanmax(x)
        return (x - lo) / (hi - lo) if hi > lo else np.full(len(x), 0.5)
    levels = sorted({str(v) for v in present})
    return np.array([np.nan if v is None else
                     (levels.index(str(v)) + 0.5) / len(levels) for v in values])


def parallel_coordinates(run: Run):
    """One line per finished trial across every parameter, coloured by its value."""
    plt = _plt()
    done = run.finished()
    names = run.params
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names) + 2), 4))
    cols = np.column_stack([_numeric_column([t["params"].get(n) for t in done])
                            for n in names])
    y = np.array([t["value"] for t in done], dtype=float)
    norm = plt.Normalize(np.nanmin(y), np.nanmax(y))
    cmap = plt.get_cmap("viridis" if run.mode == "min" else "viridis_r")
    for row, v in sorted(zip(cols, y, strict=True), key=lambda r: -r[1] if run.mode == "min"
                         else r[1]):  # best drawn last, on top
        ax.plot(np.arange(len(names)), row, color=cmap(norm(v)), alpha=0.6, lw=1)
    ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
    ax.set_yticks([])
    ax.set_title("Parallel coordinates (each axis scaled to its range; darker = better)")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=run.metric)
    fig.tight_layout()
    return fig


def slices(run: Run):
    """The value against each parameter, one panel per parameter."""
    plt = _plt()
    done = run.finished()
    names = run.params
    cols = min(4, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    y = np.array([t["value"] for t in done], dtype=float)
    for ax, name in zip(axes.ravel(), names, strict=False):
        values = [t["params"].get(name) for t in done]
        keep = np.array([v is not None for v in values])
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           for v in present):
            x = np.array(present, dtype=float)
            ax.scatter(x, y[keep], s=10, alpha=0.6, c=np.flatnonzero(keep), cmap="Blues")
            if min(present) > 0 and max(present) / min(present) > 100:
                ax.set_xscale("log")
        else:
            levels = sorted({str(v) for v in present})
            x = np.array([levels.index(str(v)) for v in present], dtype=float)
            ax.scatter(x + np.random.default_rng(0).uniform(-0.15, 0.15, len(x)), y[keep],
                       s=10, alpha=0.6)
            ax.set_xticks(range(len(levels)), levels, rotation=20)
        ax.set_title(name, fontsize=9)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0][0].set_ylabel(run.metric)
    fig.suptitle("Slices: the value against each parameter (darker = later trial)")
    fig.tight_layout()
    return fig


def learning_curves(run: Run):
    """Intermediate values by step; the best trials highlighted."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    best_ids = {t["id"] for t in run.best(5)}
    for t in run.trials:
        curve = t.get("curve") or {}
        if not curve:
            continue
        steps = sorted(curve)
        top = t["id"] in best_ids
        ax.plot(steps, [curve[s] for s in steps], lw=1.8 if top else 0.8,
                alpha=0.9 if top else 0.35, color="C3" if top else "C0")
    ax.set_xlabel("step")
    ax.set_ylabel(run.metric)
    ax.set_title("Learning curves (red: the 5 best trials)")
    fig.tight_layout()
    return fig


def pareto_front(run: Run):
    """Every finished trial on the first two objectives, the non-dominated ones joined."""
    plt = _plt()
    V = np.array([t["value"][:2] for t in run.finished()], dtype=float)
    on_front = run.on_front(2)
    names = run.metric if isinstance(run.metric, list) else ["objective 0", "objective 1"]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.scatter(V[~on_front, 0], V[~on_front, 1], s=14, alpha=0.5, label="trial")
    F = V[on_front][np.argsort(V[on_front, 0])]
    ax.plot(F[:, 0], F[:, 1], "o-", color="C3", label="Pareto front")
    ax.set_xlabel(f"{names[0]} ({run.mode[0]})")
    ax.set_ylabel(f"{names[1]} ({run.mode[1]})")
    ax.set_title("Pareto front" + (" (first two objectives)" if run.n_objectives > 2 else ""))
    ax.legend()
    fig.tight_layout()
    return fig
