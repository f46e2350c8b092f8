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

from helpers.lightning_model import regression_loaders  # noqa: E402

import tpe_plugins as tp  # noqa: E402
from tpe_plugins.integrations.lightning import TPECallback, tune_trainer  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SEGMENTATION = Path(__file__).resolve().parents[1] / "examples" / "segmentation"
QUIET = dict(enable_progress_bar=False, logger=False, enable_model_summary=False,
             enable_checkpointing=False, num_sanity_val_steps=0)


def test_tune_trainer_on_the_gpu_records_floats_and_prunes(tiny_model):
    models = []

    def build(params):
        torch.manual_seed(0)
        # a small MLP; it records the device each validation step ran on, and logs val_loss,
        # a CUDA tensor in trainer.callback_metrics
        models.append(tiny_model(params["lr"], features=8, hidden=64, optimizer="adam"))
        loaders = regression_loaders(n=512, features=8, noise=0.05, nonlinear=True,
                                     batch_size=64, val_batch_size=256, shuffle=True)
        return models[-1], loaders, {"max_epochs": 6, "accelerator": "gpu", "devices": 1,
                                     **QUIET}

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
