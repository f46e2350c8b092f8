"""One self-contained, interactive HTML page for a search, also while it runs.

    python -m tpe_plugins.report state.json -o report.html       # json.dump(opt.state_dict())
    tpe-plugins report ~/ray_results/my_experiment -o report.html  # any Tune searcher

Metrics and modes come from the TPESearch state (or the Tuner's config) in a Tune folder; give
`--metric/--mode` otherwise. Several objectives show the Pareto front; constraints, feasible
and infeasible trials; ASHA/Hyperband runs, the curves by rung. Figures are plotly (plotly.js is
embedded, so the page works offline); importance is fANOVA on a scikit-learn random forest.
For a live page during a Tune run, see `tpe_plugins.integrations.ray_tune.ReportCallback`.

Nothing here is imported by the core; plotly and scikit-learn are imported on first use
(`pip install "tpe-plugins[plot]"`), Ray only to read a Tune folder.
"""

from .cli import main
from .importance import importance
from .page import payload, render, write_report
from .run import Run, flatten, load_run, space_info

__all__ = ["Run", "flatten", "importance", "load_run", "main", "payload", "render",
           "space_info", "write_report"]
