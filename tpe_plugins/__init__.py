"""tpe-plugins: a fast, parallel-safe Tree-structured Parzen Estimator.

The core needs only numpy and scipy. Framework integrations live in `tpe_plugins.integrations`.
"""

from tpe_plugins.minimize import MinimizeResult, minimize
from tpe_plugins.optimizer import TPE, Trial, TrialState
from tpe_plugins.pruners import MedianPruner, NopPruner, Pruner, SuccessiveHalvingPruner
from tpe_plugins.settings import Settings
from tpe_plugins.space import Categorical, Float, Int, Space

__all__ = [
    "TPE", "Settings", "Trial", "TrialState", "Space", "Float", "Int", "Categorical", "minimize",
    "MinimizeResult",
    "Pruner", "MedianPruner", "SuccessiveHalvingPruner", "NopPruner",
]
__version__ = "0.1.0"
