"""The one small Lightning model the tests train, and its data.

A plain LightningModule that knows nothing of tuning: linear regression by default, a small MLP
with `hidden`. It is built on the Lightning package a test names (`lightning.pytorch` or
`pytorch_lightning`), so that this module imports torch only and a test can check which
package a program loaded. Tests get it from the `tiny_model` fixture (conftest.py), or call
`tiny_class` where they need it at import time (subclasses, Ray trainables, scripts).
"""

from __future__ import annotations

import functools
from types import ModuleType

import torch

WEIGHTS = torch.tensor([[1.0], [2.0], [-1.0], [0.5]])  # the linear target's coefficients


@functools.cache
def tiny_class(base: ModuleType) -> type:
    """The model class on `base` (one class per package, so isinstance checks hold)."""

    class Tiny(base.LightningModule):
        """Regression by SGD (or Adam); records the devices its validation steps ran on."""

        def __init__(self, lr: float, log_as: str = "val_loss", features: int = 4,
                     hidden: int = 0, optimizer: str = "sgd", sync_dist: bool = False):
            super().__init__()
            self.lr, self.log_as, self.optimizer_name = lr, log_as, optimizer
            self.sync_dist = sync_dist
            self.net = (torch.nn.Sequential(torch.nn.Linear(features, hidden), torch.nn.ReLU(),
                                            torch.nn.Linear(hidden, 1))
                        if hidden else torch.nn.Linear(features, 1))
            self.devices_seen: set[str] = set()

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x), y)

        def validation_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.devices_seen.add(loss.device.type)
            self.log(self.log_as, loss, sync_dist=self.sync_dist)

        def configure_optimizers(self):
            kind = torch.optim.Adam if self.optimizer_name == "adam" else torch.optim.SGD
            return kind(self.parameters(), lr=self.lr)

    return Tiny


def regression_loaders(n: int = 64, features: int = 4, noise: float = 0.01,
                       nonlinear: bool = False, batch_size: int = 16,
                       val_batch_size: int = 32, shuffle: bool = False
                       ) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Seeded train and validation loaders over the same data: y = x @ WEIGHTS (features <= 4),
    or sin(x0) + x1 / 2 when `nonlinear`, plus `noise` times a normal draw."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, features, generator=g)
    y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:2] if nonlinear else x @ WEIGHTS[:features]
    if noise:
        y = y + noise * torch.randn(n, 1, generator=g)
    data = torch.utils.data.TensorDataset(x, y)
    train = (torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, generator=g)
             if shuffle else torch.utils.data.DataLoader(data, batch_size=batch_size))
    return train, torch.utils.data.DataLoader(data, batch_size=val_batch_size)
