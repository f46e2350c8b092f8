"""Ray Tune integration: `TPESearch`, a `search_alg` driven by the tpe_plugins core.

Swap it in where `HyperOptSearch` or `OptunaSearch` stood::

    from ray import tune
    from tpe_plugins.integrations.ray_tune import TPESearch

    tune.run(train_fn, config={"lr": tune.loguniform(1e-5, 1e-1)},
             search_alg=TPESearch(seed=0), metric="val_loss", mode="min", num_samples=64)

One module per job: `space` translates Tune spaces (every bounded domain, with exactly the values
Tune samples; a choice of dicts is a conditional sub-space), `checkpoint` is the JSON format of
the searcher's state, `experiment` reads what Tune kept of a run, and `searcher` holds the
lifecycle of `TPESearch`, calling on what it owns: `settings` (its arguments checked),
`outcomes` (how each result and each end of a trial is recorded, described there),
`warm_start` (results known beforehand) and `persistence` (saves, restores and catches up with
Tune); `ReportCallback` keeps the HTML report (`tpe_plugins.report`) current while a run goes.
"""

try:
    import ray.tune  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        'tpe_plugins.integrations.ray_tune needs Ray Tune: pip install "tpe-plugins[ray]"'
    ) from exc

from .report_callback import ReportCallback
from .searcher import TPESearch
from .space import convert_search_space, to_tune

__all__ = ["ReportCallback", "TPESearch", "convert_search_space", "to_tune"]
