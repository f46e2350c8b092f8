"""Static pictures of a search (matplotlib, imported on first use): history, parameter
importance, parallel coordinates, slices, learning curves and the Pareto front.

The HTML report (`python -m tpe_plugins.report`) is interactive and uses plotly instead; these
functions are for papers and notebooks. Each takes a `tpe_plugins.report.Run` (from
`load_run` or `Run.from_optimizer`) and returns a matplotlib Figure. Importance is the report's:
fANOVA main effects on a scikit-learn random forest (`tpe_plugins.report.importance`).
"""

from __future__ import annotations

import numpy as np

from tpe_plugins.report.importance import importance
from tpe_plugins.report.run import Run, flatten

__all__ = ["Run", "flatten", "importance", "history", "importance_plot",
           "parallel_coordinates", "slices", "learning_curves", "pareto_front"]


# ====================================================================== figures
def _subplots(*grid: int, figsize: tuple[float, float], squeeze: bool = True):
    """A new Figure and its axes through matplotlib's object API: no pyplot, no global backend
    switch, so importing or calling this never changes the caller's matplotlib state."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, squeeze=squeeze)


def history(run: Run):
    """Every finished trial's value and the best so far, by trial number."""
    fig, ax = _subplots(figsize=(7, 3.6))
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


def importance_plot(run: Run):
    scores = importance(run)
    names = sorted(scores, key=scores.get)
    fig, ax = _subplots(figsize=(7, 0.4 * len(names) + 1.2))
    ax.barh(names, [scores[n] for n in names], color="C0")
    ax.set_xlabel("share of importance (fANOVA main effects, random forest)")
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
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    done = run.finished()
    names = run.params
    fig, ax = _subplots(figsize=(max(6, 1.2 * len(names) + 2), 4))
    cols = np.column_stack([_numeric_column([t["params"].get(n) for t in done])
                            for n in names])
    y = np.array([t["value"] for t in done], dtype=float)
    norm = Normalize(np.nanmin(y), np.nanmax(y))
    cmap = colormaps["viridis" if run.mode == "min" else "viridis_r"]
    for row, v in sorted(zip(cols, y, strict=True), key=lambda r: -r[1] if run.mode == "min"
                         else r[1]):  # best drawn last, on top
        ax.plot(np.arange(len(names)), row, color=cmap(norm(v)), alpha=0.6, lw=1)
    ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
    ax.set_yticks([])
    ax.set_title("Parallel coordinates (each axis scaled to its range; darker = better)")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=run.metric)
    fig.tight_layout()
    return fig


def slices(run: Run):
    """The value against each parameter, one panel per parameter."""
    done = run.finished()
    names = run.params
    cols = min(4, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = _subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
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
    fig, ax = _subplots(figsize=(7, 3.6))
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
    V = np.array([t["value"][:2] for t in run.finished()], dtype=float)
    on_front = np.array(run.on_front(2), dtype=bool)
    names = run.metric if isinstance(run.metric, list) else ["objective 0", "objective 1"]
    fig, ax = _subplots(figsize=(6, 4.2))
    ax.scatter(V[~on_front, 0], V[~on_front, 1], s=14, alpha=0.5, label="trial")
    F = V[on_front][np.argsort(V[on_front, 0])]
    ax.plot(F[:, 0], F[:, 1], "o-", color="C3", label="Pareto front")
    ax.set_xlabel(f"{names[0]} ({run.mode[0]})")
    ax.set_ylabel(f"{names[1]} ({run.mode[1]})")
    ax.set_title("Pareto front" + (" (first two objectives)" if run.n_objectives > 2 else ""))
    ax.legend()
    fig.tight_layout()
    return fig
