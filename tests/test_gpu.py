"""On a CUDA GPU: the Lightning callback and `tune_trainer` train on the device, read the
metrics Lightning keeps as CUDA tensors, record them as plain floats, and prune.

Skipped where torch sees no GPU (CI has none); run on a GPU machine with
`python -m pytest -q tests/test_gpu.py`. Needs no Ray.
"""

import json
import math
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

import tpe_plugins as tp  # noqa: E402
from tpe_plugins.integrations.lightning import TPECallback, tune_trainer  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SEGMENTATION = Path(__file__).resolve().parents[1] / "examples" / "segmentation"
QUIET = dict(enable_progress_bar=False, logger=False, enable_model_summary=False,
             enable_checkpointing=False, num_sanity_val_steps=0)


class Regressor(pl.LightningModule):
    """A small MLP; records the device each validation step ran on."""

    def __init__(self, lr: float):
        super().__init__()
        self.lr = lr
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(),
                                       torch.nn.Linear(64, 1))
        self.devices_seen: set[str] = set()

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.devices_seen.add(loss.device.type)
        self.log("val_loss", loss)  # a CUDA tensor in trainer.callback_metrics

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def regression_loaders():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 8, generator=g)
    y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:2] + 0.05 * torch.randn(512, 1, generator=g)
    data = torch.utils.data.TensorDataset(x, y)
    return (torch.utils.data.DataLoader(data, batch_size=64, shuffle=True, generator=g),
            torch.utils.data.DataLoader(data, batch_size=256))


def test_tune_trainer_on_the_gpu_records_floats_and_prunes():
    models = []

    def build(params):
        torch.manual_seed(0)
        models.append(Regressor(params["lr"]))
        return models[-1], regression_loaders(), {"max_epochs": 6, "accelerator": "gpu",
                                                  "devices": 1, **QUIET}

    result = tune_trainer(build, {"lr": tp.Float(1e-5, 1.0, log=True)}, monitor="val_loss",
                          n_trials=14, seed=0, n_startup_trials=4,
                          pruner=tp.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
    assert all(m.devices_seen == {"cuda"} for m in models)
    states = [t.state for t in result.trials]
    assert set(states) <= {"complete", "pruned"} and "pruned" in states
    for t in result.trials:
        assert t.intermediate and all(type(v) is float and math.isfinite(v)
                                      for v in t.intermediate.values())
        if t.state == "complete":
            assert len(t.intermediate) == 6 and t.value == t.intermediate[6]
    assert type(result.best_value) is float
    json.dumps(result.optimizer.state_dict())  # the state holds no tensors


def test_the_segmentation_unet_trains_on_the_gpu_through_the_callback():
    sys.path.insert(0, str(SEGMENTATION))
    import shapes_data
    import unet

    images, masks = shapes_data.make_shapes(120, size=32, seed=0)
    train, val, _ = shapes_data.split(len(images))

    def loader(part, shuffle):
        data = torch.utils.data.TensorDataset(torch.from_numpy(images[part]),
                                              torch.from_numpy(masks[part]))
        return torch.utils.data.DataLoader(data, batch_size=16, shuffle=shuffle)

    opt = tp.TPE({"lr": tp.Float(1e-3, 1e-1, log=True), "base_width": tp.Int(4, 8, step=4)},
                 seed=0)
    for _ in range(3):
        trial = opt.ask()
        config = {**trial.params, "weight_decay": 1e-5, "depth": 2, "dropout": 0.0,
                  "batch_size": 16, "optimizer": {"name": "adamw", "beta1": 0.9},
                  "epochs": 3, "image_size": 32}
        trainer = pl.Trainer(max_epochs=3, accelerator="gpu", devices=1, **QUIET,
                             callbacks=[TPECallback(opt, trial, monitor="val_loss")])
        trainer.fit(unet.SegModel(config), loader(train, True), loader(val, False))
        done = opt.trial(trial.id)
        assert done.state == "complete" and sorted(done.intermediate) == [1, 2, 3]
        assert type(done.value) is float and math.isfinite(done.value)
    assert opt.best is not None
