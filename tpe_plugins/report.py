"""One HTML page that shows a finished search: the best trials and every picture of `plot`.

    python -m tpe_plugins.report state.json -o report.html
    python -m tpe_plugins.report ~/ray_results/my_experiment --metric val_loss -o report.html

The source is a saved optimiser state (`json.dump(opt.state_dict(), f)`), a TPESearch
checkpoint file, or a Ray Tune experiment folder (each trial's `params.json` and `result.json`
are read as plain JSON; Ray is not imported). The page is one file: the plots are embedded.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import sys
import time
from pathlib import Path

from tpe_plugins.plot import (
    Run,
    flatten,
    history,
    importance,
    importance_plot,
    learning_curves,
    parallel_coordinates,
    pareto_front,
    slices,
)


def load_run(source: str | Path, metric: str | None = None, mode: str | None = None) -> Run:
    """The trials of a saved state, a TPESearch checkpoint or a Tune experiment folder."""
    path = Path(source).expanduser()
    if path.is_dir():
        return _from_tune_folder(path, metric, mode or "min")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or folder; give a saved state (.json) "
                                "or a Ray Tune experiment folder")
    try:
        state = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: not JSON ({err}); give a saved state or a Tune folder") \
            from None
    if isinstance(state, dict) and isinstance(state.get("optimizer"), dict):
        metric = metric or state.get("metric")  # a TPESearch checkpoint names its metric(s)
        state = state["optimizer"]
    from tpe_plugins.optimizer import TPE

    opt = TPE.from_state_dict(state)
    return Run.from_optimizer(opt, metric=metric or "value", source=str(path))


def _from_tune_folder(path: Path, metric: str | None, mode: str) -> Run:
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    trial_dirs = sorted(p.parent for p in path.glob("*/result.json"))
    if not trial_dirs:
        raise ValueError(f"{path}: no trial folders with a result.json; give the experiment "
                         "folder that Tune wrote (storage_path/name)")
    if metric is None:
        raise ValueError(f"{path}: a Tune folder needs --metric, the reported value to show")
    trials, seen_metric = [], False
    for i, d in enumerate(trial_dirs):
        params = json.loads((d / "params.json").read_text()) if (d / "params.json").exists() \
            else {}
        curve, value = {}, None
        for line in (d / "result.json").read_text().splitlines():
            if not line.strip():
                continue
            result = json.loads(line)
            v = result.get(metric)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                seen_metric = True
                step = result.get("training_iteration", len(curve) + 1)
                curve[int(step)] = float(v)
                value = float(v)
        trials.append({"id": i, "params": flatten(params), "value": value,
                       "state": "complete" if value is not None else "failed", "curve": curve})
    if not seen_metric:
        raise ValueError(f"{path}: no trial reported the metric {metric!r}")
    return Run(trials, mode=mode, metric=metric, source=str(path))


# ====================================================================== the page
def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render(run: Run) -> str:
    """The report as one HTML string."""
    done = run.finished()
    if not done:
        raise ValueError(f"{run.source}: no trial has a finite value; nothing to report")
    states: dict[str, int] = {}
    for t in run.trials:
        states[t["state"]] = states.get(t["state"], 0) + 1
    figures = []
    several = run.n_objectives > 1
    if several:  # the front, then every other picture for the first objective
        figures.append(("Pareto front", pareto_front(run)))
        best = [t for t, f in zip(run.finished(), run.on_front(), strict=True) if f]
        run = run.objective(0)
    else:
        best = run.best(10)
    figures += [("Optimisation history", history(run)),
                ("Parameter importance", importance_plot(run)),
                ("Parallel coordinates", parallel_coordinates(run)),
                ("Slices", slices(run))]
    if any(t.get("curve") for t in run.trials):
        figures.append(("Learning curves", learning_curves(run)))
    esc = html.escape
    rows = "\n".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            t["id"], esc(_short(t["value"])), esc(t["state"]),
            esc(", ".join(f"{k}={_short(v)}" for k, v in t["params"].items())))
        for t in best)
    ranked = sorted(importance(run).items(), key=lambda kv: -kv[1])
    parts = [
        "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
        f"<title>tpe-plugins report: {esc(run.source)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
        "font-size:90%}img{max-width:100%}</style></head><body>",
        "<h1>Search report</h1>",
        f"<p>Source: <code>{esc(run.source)}</code>. {len(run.trials)} trials ("
        + ", ".join(f"{n} {esc(s)}" for s, n in sorted(states.items()))
        + (f"). Several objectives: {len(best)} trials on the Pareto front; the pictures after "
           f"the front show the first, {esc(run.metric)} ({esc(run.mode)}).</p>" if several
           else f"). Objective: {esc(run.metric)}, {esc(run.mode)}imised. "
           f"Best: {best[0]['value']:.6g} (trial {best[0]['id']}).</p>"),
        "<p>Most important parameters: "
        + ", ".join(f"{esc(n)} ({s:.0%})" for n, s in ranked[:5]) + ".</p>",
        "<h2>Pareto front</h2>" if several else "<h2>Best trials</h2>",
        "<table id='best'><tr><th>trial</th><th>value</th><th>state</th><th>params</th></tr>",
        rows, "</table>",
    ]
    for title, fig in figures:
        parts += [f"<h2>{esc(title)}</h2>",
                  f"<img alt='{esc(title)}' src='data:image/png;base64,{_png(fig)}'>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def _short(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tpe_plugins.report",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="saved state (.json), TPESearch checkpoint, or Tune folder")
    ap.add_argument("-o", "--output", default="report.html")
    ap.add_argument("--metric", help="the reported value to show (needed for a Tune folder)")
    ap.add_argument("--mode", choices=("min", "max"), help="for a Tune folder; default min")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    try:
        run = load_run(args.source, args.metric, args.mode)
        page = render(run)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    Path(args.output).write_text(page)
    print(f"wrote {args.output}: {len(run.trials)} trials in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
