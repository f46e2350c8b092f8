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

torch.set_num_threads(1)
OUT, STRATEGY, MODE = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
SPACE = {"lr": tp.Float(1e-3, 0.3, log=True)}


class Tiny(pl.LightningModule):
    def __init__(self, lr: float):
        super().__init__()
        self.lr = lr
        self.net = torch.nn.Linear(4, 1)

    def on_train_start(self):
        with open(OUT / "trained.jsonl", "a") as f:
            f.write(json.dumps({"rank": self.global_rank, "lr": self.lr, "pid": os.getpid()})
                    + "\n")

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def loaders():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = x @ torch.tensor([[1.0], [2.0], [-1.0], [0.5]])
    data = torch.utils.data.TensorDataset(x, y)
    return (torch.utils.data.DataLoader(data, batch_size=16),
            torch.utils.data.DataLoader(data, batch_size=32))


TRAINER = dict(accelerator="cpu", devices=2, strategy=STRATEGY, max_epochs=3,
               enable_progress_bar=False, logger=False, enable_model_summary=False,
               enable_checkpointing=False)


def build(params):
    torch.manual_seed(0)
    return Tiny(params["lr"]), loaders(), dict(TRAINER)


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
