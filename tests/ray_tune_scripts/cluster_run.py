"""A Tune run with TPESearch on a local multi-node cluster: a head and two worker nodes.

    python cluster_run.py TMP_DIR

Prints one JSON line: the number of nodes, the node of every trial and the searcher's counts.
"""

import json
import os
import sys
import time

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from tpe_plugins.integrations.ray_tune import TPESearch  # noqa: E402

NUM_SAMPLES = 9


def train(config: dict) -> dict:
    """Wait until three trials have started (one per node; a fixed sleep let a loaded machine
    run the first trials one after another on two nodes), then report."""
    folder = config["started"]
    with open(os.path.join(folder, f"{os.getpid()}-{time.time()}"), "w"):
        pass
    deadline = time.time() + 120
    while len(os.listdir(folder)) < 3 and time.time() < deadline:
        time.sleep(0.05)
    return {"loss": (config["x"] - 0.5) ** 2, "node": ray.get_runtime_context().get_node_id()}


def main() -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        searcher = TPESearch(seed=0)
        started = os.path.join(sys.argv[1], "started")
        os.makedirs(started)
        analysis = tune.run(train, config={"x": tune.uniform(0, 1), "started": started},
                            search_alg=searcher, metric="loss", mode="min",
                            num_samples=NUM_SAMPLES, max_concurrent_trials=3,
                            resources_per_trial={"cpu": 1}, storage_path=sys.argv[1],
                            verbose=0)
        print(json.dumps({
            "n_nodes": len([n for n in ray.nodes() if n["Alive"]]),
            "trial_nodes": [t.last_result["node"] for t in analysis.trials],
            "num_samples": NUM_SAMPLES,
            "n_complete": [t.state for t in searcher.optimizer.trials].count("complete"),
        }))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
