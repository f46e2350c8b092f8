"""A search over a Lightning loop trained with 2 CPU processes (gloo), as a user script.

    python ddp_search.py OUT_DIR ddp|ddp_spawn callback|tune_trainer|unseeded

Under strategy="ddp" Lightning runs this script once more for rank 1. Every process writes
OUT_DIR/final-<pid>.json with its view of the search (or the error that refused it), and every
training process appends the trial it trains to OUT_DIR/trained.jsonl.
"""

import json
import os
import sys
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch

import tpe_plugins as tp
from tpe_plugins.integrations.lightning import TPECallback, tune_trainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the shared model
from helpers.lightning_model import regression_loaders, tiny_class  # noqa: E402

torch.set_num_threads(1)
OUT, STRATEGY, MODE = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
SPACE = {"lr": tp.Float(1e-3, 0.3, log=True)}


class Tiny(tiny_class(pl)):
    """The shared test model, logging across ranks; it records each training it starts."""

    def __init__(self, lr: float):
        super().__init__(lr, sync_dist=True)

    def on_train_start(self):
        with open(OUT / "trained.jsonl", "a") as f:
            f.write(json.dumps({"rank": self.global_rank, "lr": self.lr, "pid": os.getpid()})
                    + "\n")


TRAINER = dict(accelerator="cpu", devices=2, strategy=STRATEGY, max_epochs=3,
               enable_progress_bar=False, logger=False, enable_model_summary=False,
               enable_checkpointing=False)


def build(params):
    torch.manual_seed(0)
    return Tiny(params["lr"]), regression_loaders(noise=0.0), dict(TRAINER)


def view(opt: tp.TPE) -> dict:
    best = opt.best
    return {"trials": [{"params": t.params, "state": str(t.state), "value": t.value,
                        "intermediate": t.intermediate} for t in opt.trials],
            "best_params": best.params if best else None}


def main() -> None:
    out = {"rank": int(os.environ.get("LOCAL_RANK", 0)), "pid": os.getpid()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search(out)
    out["warnings"] = [str(w.message)[-2000:] for w in caught if "tpe" in str(w.message).lower()
                       or "trial" in str(w.message)]
    (OUT / f"final-{os.getpid()}.json").write_text(json.dumps(out))
    # Leave without interpreter teardown: gloo's sometimes aborts there ("terminate called
    # without an active exception"), after every result above is written.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def search(out: dict) -> None:
    try:
        if MODE == "tune_trainer":
            result = tune_trainer(build, SPACE, monitor="val_loss", n_trials=3, seed=0,
                                  n_startup_trials=2,
                                  pruner=tp.MedianPruner(n_startup_trials=1, n_warmup_steps=1))
            out.update(view(result.optimizer), result_best=result.best_params)
        else:
            opt = tp.TPE(SPACE, seed=None if MODE == "unseeded" else 0, n_startup_trials=2)
            for _ in range(2):
                trial = opt.ask()
                model, (train, val), kwargs = build(trial.params)
                pl.Trainer(callbacks=[TPECallback(opt, trial, monitor="val_loss")],
                           **kwargs).fit(model, train, val)
            out.update(view(opt))
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"


if __name__ == "__main__":
    main()
