"""PyTorch Lightning integration: `TPECallback` (report, checkpoint, prune) and `tune_trainer`.

`callbacks` holds the Trainer callbacks; `search` runs a whole core search over a Lightning
loop and depends on `callbacks`, never the other way round. Importing this package without
Lightning installed raises an ImportError that names the extra:
`pip install "tpe-plugins[lightning]"`.
"""

from tpe_plugins.integrations.lightning.callbacks import (
    DEFAULT_PRUNER,
    MissingMetricError,
    TPECallback,
    TrialCallback,
    TuneReportCallback,
    lightning_modules,
    tune_checkpoint,
)
from tpe_plugins.integrations.lightning.search import TuneTrainerResult, tune_trainer

__all__ = ["TPECallback", "TrialCallback", "TuneReportCallback", "MissingMetricError",
           "DEFAULT_PRUNER", "lightning_modules", "tune_checkpoint", "tune_trainer",
           "TuneTrainerResult"]
