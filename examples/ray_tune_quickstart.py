"""Ray Tune + TPESearch quickstart: tune a small scikit-learn classifier in under a minute.

    pip install "tpe-plugins[ray]" scikit-learn
    python examples/ray_tune_quickstart.py            # 24 trials, 2 at a time
    python examples/ray_tune_quickstart.py --samples 64 --concurrent 8

What it shows: Tune domains in `param_space` (log scale, quantised, a conditional choice of
dicts), TPESearch as `search_alg` with metric and mode from TuneConfig, an ASHA scheduler that
stops weak trials early (TPESearch records them as pruned), one GPU per trial when the cluster
has GPUs, and reading the best result. On a cluster, start Ray there and call
`ray.init(address="auto")` instead of `ray.init()`; nothing else changes.
"""

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per trial: trials run side by side
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler  # noqa: E402

from tpe_plugins.integrations.ray_tune import TPESearch  # noqa: E402

EPOCHS = 10


def train(config: dict) -> None:
    """Train an SGD classifier epoch by epoch and report the validation error after each."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)

    penalty = config["penalty"]
    model = SGDClassifier(loss=config["loss"], alpha=config["alpha"], penalty=penalty["type"],
                          l1_ratio=penalty.get("l1_ratio", 0.15), learning_rate="constant",
                          eta0=config["eta0"], random_state=0)
    batch = config["batch_size"]
    for epoch in range(1, EPOCHS + 1):
        for start in range(0, len(X_train), batch):
            model.partial_fit(X_train[start:start + batch], y_train[start:start + batch],
                              classes=[0, 1])
        tune.report({"val_error": 1.0 - model.score(X_val, y_val), "epoch": epoch})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--concurrent", type=int, default=2)
    args = parser.parse_args()

    ray.init(include_dashboard=False, log_to_driver=False)  # on a cluster: address="auto"
    param_space = {
        "alpha": tune.loguniform(1e-6, 1e-1),
        "eta0": tune.loguniform(1e-4, 1.0),
        "batch_size": tune.qrandint(16, 128, 16),
        "loss": tune.choice(["hinge", "log_loss", "modified_huber"]),
        "penalty": tune.choice([  # a conditional space: l1_ratio exists only for elasticnet
            {"type": "l2"},
            {"type": "elasticnet", "l1_ratio": tune.uniform(0.0, 1.0)},
        ]),
    }
    resources_per_trial = {"cpu": 1, "gpu": 1} if ray.cluster_resources().get("GPU") else {
        "cpu": 1}
    tuner = tune.Tuner(
        tune.with_resources(train, resources_per_trial),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=TPESearch(seed=0),
            scheduler=ASHAScheduler(max_t=EPOCHS, grace_period=2, time_attr="epoch"),
            metric="val_error", mode="min", num_samples=args.samples,
            max_concurrent_trials=args.concurrent, reuse_actors=True),
        run_config=tune.RunConfig(verbose=0),
    )
    best = tuner.fit().get_best_result()
    print(f"best validation error {best.metrics['val_error']:.4f} after "
          f"{best.metrics['epoch']} epochs with")
    for key, value in best.config.items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
