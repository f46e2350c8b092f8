"""A Tuner run that a test kills with SIGKILL (`run`), then resumes with Tuner.restore (`restore`).

    python killable_tuner.py STORAGE_DIR run|restore

`restore` prints one JSON line: the Tune trials' final losses and the searcher's final state.
"""

import json
import os
import sys
import time
from pathlib import Path

os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = "0"  # save the experiment state at every step
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import ray  # noqa: E402
from ray import tune  # noqa: E402

from tpe_plugins.integrations.ray_tune import TPESearch  # noqa: E402

NAME = "killable"
NUM_SAMPLES = 16


def train(config: dict) -> dict:
    time.sleep(0.4)
    return {"loss": (config["x"] - 0.3) ** 2 + 0.1 * config["n"]}


def main() -> None:
    storage, mode = Path(sys.argv[1]), sys.argv[2]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    if mode == "run":
        tuner = tune.Tuner(
            train, param_space={"x": tune.uniform(0, 1), "n": tune.randint(0, 4)},
            tune_config=tune.TuneConfig(search_alg=TPESearch(seed=0), metric="loss",
                                        mode="min", num_samples=NUM_SAMPLES,
                                        max_concurrent_trials=2, reuse_actors=True),
            run_config=tune.RunConfig(name=NAME, storage_path=str(storage), verbose=0))
    else:
        tuner = tune.Tuner.restore(str(storage / NAME), trainable=train)
    results = tuner.fit()
    if mode == "restore":
        state = json.loads(sorted((storage / NAME).glob("searcher-state-*.pkl"))[-1].read_text())
        opt = state["optimizer"]
        print(json.dumps({
            "num_samples": NUM_SAMPLES,
            "n_trials": len(results),
            "tune_values": {r.metrics["trial_id"]: r.metrics["loss"] for r in results},
            "searcher": {"states": opt["state"],
                         "values": {tid: opt["y"][i] for tid, i in state["ids"].items()}},
        }))


if __name__ == "__main__":
    main()
