"""Tune a scikit-learn gradient-boosting classifier with `tpe_plugins.minimize`.

Runs on a laptop CPU in about a minute and prints a table of the best trials.
    python examples/minimize_sklearn.py --trials 40
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402

import tpe_plugins as tp  # noqa: E402

SPACE = {
    "learning_rate": tp.Float(1e-3, 1.0, log=True),
    "max_leaf_nodes": tp.Int(4, 64, log=True),
    "min_samples_leaf": tp.Int(2, 60),
    "l2_regularization": tp.Float(1e-6, 10.0, log=True),
    "max_iter": tp.Int(20, 200, step=20),
    "early_stopping": False,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    X, y = load_breast_cancer(return_X_y=True)

    def error(params: dict) -> float:
        model = HistGradientBoostingClassifier(random_state=0, **params)
        return 1.0 - float(np.mean(cross_val_score(model, X, y, cv=3)))

    start = time.perf_counter()
    result = tp.minimize(error, SPACE, n_trials=args.trials, seed=args.seed)
    elapsed = time.perf_counter() - start

    done = sorted((t for t in result.trials if t.state == "complete"), key=lambda t: t.value)
    print(f"\n{len(result.trials)} trials in {elapsed:.1f} s; best 5 by 3-fold CV error:\n")
    print(f"| trial | CV error | {' | '.join(k for k in SPACE if k != 'early_stopping')} |")
    print("|---:|---:|" + "---:|" * (len(SPACE) - 1))
    for t in done[:5]:
        cells = [f"{t.params[k]:.3g}" if isinstance(t.params[k], float) else str(t.params[k])
                 for k in SPACE if k != "early_stopping"]
        print(f"| {t.id} | {t.value:.4f} | {' | '.join(cells)} |")
    first10 = min(t.value for t in done if t.id < 10)
    print(f"\nbest after the 10 start-up trials: {first10:.4f}; after {args.trials}: "
          f"{result.best_value:.4f}")


if __name__ == "__main__":
    main()
