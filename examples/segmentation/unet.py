"""A small U-Net as a plain LightningModule: it knows nothing of tuning.

Its hyperparameters come in one dict (the tuned config): base width, depth, dropout, learning
rate, weight decay and the optimiser, a conditional choice of {"name": "sgd", "momentum": ...}
or {"name": "adamw", "beta1": ...}. The loss is binary cross-entropy plus soft Dice.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import nn
from torch.nn import functional as F


def double_conv(c_in: int, c_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True),
        nn.Dropout2d(dropout))


class UNet(nn.Module):
    """depth poolings; the width doubles at each level, starting from `width`."""

    def __init__(self, width: int = 16, depth: int = 3, dropout: float = 0.0, channels: int = 3):
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([double_conv(channels, widths[0], 0.0)] + [
            double_conv(widths[i], widths[i + 1], dropout) for i in range(depth)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                 for i in reversed(range(depth))])
        self.merge = nn.ModuleList([
            double_conv(2 * widths[i], widths[i], dropout) for i in reversed(range(depth))])
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(F.max_pool2d(x, 2) if i else x)
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)  # logits


def seg_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BCE for every pixel plus soft Dice, which keeps small shapes from being ignored."""
    prob = torch.sigmoid(logits)
    inter = (prob * mask).sum((1, 2, 3))
    dice = (2 * inter + 1) / (prob.sum((1, 2, 3)) + mask.sum((1, 2, 3)) + 1)
    return F.binary_cross_entropy_with_logits(logits, mask) + (1 - dice).mean()


def confusion(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Pixel counts [true positives, false positives, false negatives] at threshold 0.5."""
    pred, truth = logits > 0, mask > 0.5
    return torch.stack([(pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()])


def scores(counts: torch.Tensor) -> dict[str, float]:
    """Precision, recall, IoU and Dice from summed pixel counts (micro-averaged)."""
    tp, fp, fn = (float(c) for c in counts)
    return {"precision": tp / max(tp + fp, 1.0), "recall": tp / max(tp + fn, 1.0),
            "iou": tp / max(tp + fp + fn, 1.0), "dice": 2 * tp / max(2 * tp + fp + fn, 1.0)}


class SegModel(pl.LightningModule):
    """Logs val_loss, val_iou and val_dice per validation epoch, and train_loss (the mean over
    the epoch's batches, logged at validation time so that both losses reach the same report)."""

    def __init__(self, config: dict):
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.config = config
        self.net = UNet(config["base_width"], config["depth"], config["dropout"])
        self._train_sum, self._train_n = 0.0, 0
        self._val_counts = torch.zeros(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = seg_loss(self(x), y)
        self._train_sum += float(loss.detach()) * len(x)
        self._train_n += len(x)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val_loss", seg_loss(logits, y), batch_size=len(x))
        self._val_counts += confusion(logits, y).cpu()

    def on_validation_epoch_end(self):
        if not self.trainer.sanity_checking:
            if self._train_n:
                self.log("train_loss", self._train_sum / self._train_n)
            s = scores(self._val_counts)
            self.log("val_iou", s["iou"])
            self.log("val_dice", s["dice"])
        self._train_sum, self._train_n = 0.0, 0
        self._val_counts = torch.zeros(3)

    def configure_optimizers(self):
        c, choice = self.config, self.config["optimizer"]
        if choice["name"] == "sgd":
            return torch.optim.SGD(self.parameters(), lr=c["lr"], momentum=choice["momentum"],
                                   weight_decay=c["weight_decay"], nesterov=True)
        return torch.optim.AdamW(self.parameters(), lr=c["lr"], betas=(choice["beta1"], 0.999),
                                 weight_decay=c["weight_decay"])
