"""Learning-curve problems with real training, tabulated so that a search costs no training.

Each problem is a small PyTorch MLP trained on one scikit-learn data set: digits,
breast_cancer, and two generated with make_classification (4 classes; 2 classes with 15% of
the labels flipped). Wine was tried and dropped: its 36 validation samples let many
configurations reach a loss of zero. Every configuration of a 4,032-point grid (below) is
trained for MAX_EPOCHS epochs, and its validation cross-entropy after every epoch is stored: a
search, a scheduler or a pruner then reads the curve of the configuration it asks for, epoch by
epoch, as a trainable would report it. The tables are built once (0.5-6 minutes per data set
on 2 CPU cores: the 84 configurations that share an architecture, a batch size and an
optimiser train together as one batched network) and cached in benchmarks/cache/.

    python benchmarks/learning_curves.py             # build (or load) every table, summarise
    python benchmarks/learning_curves.py --rebuild   # train again

The grid, in the encoding every optimiser searches (see SPACE):
log10 learning rate -4 to -1 in steps of 0.5; log10 weight decay -6 to -3; width 16, 32, 64,
128; 1 or 2 hidden layers; dropout 0, 0.2, 0.4; batch size 16, 64, 256; Adam or SGD with
momentum 0.9. A diverged run (NaN or a loss above LOSS_CAP) reads LOSS_CAP from then on.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import tpe_plugins as tp  # noqa: E402

CACHE = Path(__file__).resolve().parent / "cache"
VERSION = 1
MAX_EPOCHS = 27  # 1, 3, 9, 27: rungs of successive halving with reduction factor 3
LOSS_CAP = 5.0
EARLY_PICKS = 4  # about the full trainings that finish in a third of a 540-epoch search
DATASETS = ("digits", "breast_cancer", "synthetic", "noisy_binary")

LR = tuple(-4.0 + 0.5 * i for i in range(7))
WD = (-6.0, -5.0, -4.0, -3.0)
WIDTH = (4, 5, 6, 7)  # log2
LAYERS = (1, 2)
DROPOUT = (0.0, 0.2, 0.4)
BATCH = (4, 6, 8)  # log2
OPTIMIZER = ("adam", "sgd")

SPACE = {
    "log10_lr": tp.Float(-4.0, -1.0, step=0.5),
    "log10_wd": tp.Float(-6.0, -3.0, step=1.0),
    "log2_width": tp.Int(4, 7),
    "layers": tp.Int(1, 2),
    "dropout": tp.Float(0.0, 0.4, step=0.2),
    "log2_batch": tp.Int(4, 8, step=2),
    "optimizer": tp.Categorical(list(OPTIMIZER)),
}
AXES = {"log10_lr": LR, "log10_wd": WD, "log2_width": WIDTH, "layers": LAYERS,
        "dropout": DROPOUT, "log2_batch": BATCH, "optimizer": OPTIMIZER}
SHAPE = tuple(len(v) for v in AXES.values())


@dataclass(frozen=True)
class CurveTable:
    """Validation loss of every grid configuration after every epoch: (*SHAPE, MAX_EPOCHS)."""

    dataset: str
    loss: np.ndarray

    def index(self, params: dict) -> tuple[int, ...]:
        """Grid position of a configuration (values snapped to the nearest grid point)."""
        out = []
        for name, axis in AXES.items():
            v = params[name]
            if name == "optimizer":
                out.append(OPTIMIZER.index(v))
            else:
                out.append(int(np.argmin(np.abs(np.asarray(axis, dtype=float) - float(v)))))
        return tuple(out)

    def curve(self, params: dict) -> np.ndarray:
        """The configuration's validation loss after epochs 1..MAX_EPOCHS."""
        return self.loss[self.index(params)]

    @property
    def best(self) -> float:
        """The lowest validation loss any configuration has after the full budget."""
        return float(self.loss[..., -1].min())


# ====================================================================== data
def load_data(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardised train and validation split (60/20 of the data; 20% left for a test)."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    if name == "digits":
        X, y = datasets.load_digits(return_X_y=True)
    elif name == "breast_cancer":
        X, y = datasets.load_breast_cancer(return_X_y=True)
    elif name == "synthetic":
        X, y = datasets.make_classification(n_samples=2000, n_features=20, n_informative=10,
                                            n_redundant=4, n_classes=4, flip_y=0.05,
                                            class_sep=1.0, random_state=0)
    elif name == "noisy_binary":  # 15% flipped labels: no configuration gets near zero loss
        X, y = datasets.make_classification(n_samples=1500, n_features=30, n_informative=6,
                                            n_redundant=6, n_classes=2, flip_y=0.15,
                                            class_sep=0.8, random_state=1)
    else:
        raise ValueError(f"unknown data set {name!r}; choose from {DATASETS}")
    X_rest, _, y_rest, _ = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    X_tr, X_va, y_tr, y_va = train_test_split(X_rest, y_rest, test_size=0.25, stratify=y_rest,
                                              random_state=0)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    std = np.where(std > 1e-6, std, 1.0)  # a pixel constant in training (digits) stays put
    return ((X_tr - mean) / std).astype(np.float32), y_tr, ((X_va - mean) / std).astype(
        np.float32), y_va


# ====================================================================== training
def train_group(X_tr: np.ndarray, y_tr: np.ndarray, X_va: np.ndarray, y_va: np.ndarray, *,
                width: int, layers: int, batch: int, optimizer: str, seed: int) -> np.ndarray:
    """Validation loss curves, (len(LR), len(WD), len(DROPOUT), MAX_EPOCHS), of the networks
    that share this architecture, batch size and optimiser, trained side by side: each has
    its own weights, learning rate, weight decay and dropout; all see the same batches."""
    import torch

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    grid = list(itertools.product(LR, WD, DROPOUT))
    K = len(grid)
    lr = torch.tensor([10.0 ** g[0] for g in grid]).view(K, 1, 1)
    wd = torch.tensor([10.0 ** g[1] for g in grid]).view(K, 1, 1)
    keep = torch.tensor([1.0 - g[2] for g in grid]).view(K, 1, 1)
    n_classes = int(y_tr.max()) + 1
    sizes = [X_tr.shape[1]] + [width] * layers + [n_classes]
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = 1.0 / math.sqrt(fan_in)  # PyTorch's default Linear initialisation
        params.append((torch.rand(K, fan_in, fan_out, generator=gen) * 2 - 1) * bound)
        params.append((torch.rand(K, 1, fan_out, generator=gen) * 2 - 1) * bound)
    for p in params:
        p.requires_grad_(True)
    state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    Xt, yt = torch.from_numpy(X_tr), torch.from_numpy(y_tr).long()
    Xv, yv = torch.from_numpy(X_va), torch.from_numpy(y_va).long()

    def forward(x: torch.Tensor, train: bool) -> torch.Tensor:
        h = x.unsqueeze(0).expand(K, -1, -1)
        for j in range(0, len(params) - 2, 2):
            h = torch.relu(torch.baddbmm(params[j + 1], h, params[j]))
            if train:
                h = h * (torch.rand(h.shape, generator=gen) < keep) / keep
        return torch.baddbmm(params[-1], h, params[-2])  # (K, B, classes)

    def losses(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        flat = logits.reshape(-1, n_classes)
        ce = torch.nn.functional.cross_entropy(flat, target.repeat(K), reduction="none")
        return ce.view(K, -1).mean(dim=1)

    out = np.empty((K, MAX_EPOCHS))
    step = 0
    for epoch in range(MAX_EPOCHS):
        order = torch.randperm(len(Xt), generator=gen)
        for start in range(0, len(Xt), batch):
            idx = order[start:start + batch]
            loss = losses(forward(Xt[idx], True), yt[idx]).sum()
            grads = torch.autograd.grad(loss, params)
            step += 1
            with torch.no_grad():
                for p, g, (m, v) in zip(params, grads, state, strict=True):
                    g = torch.nan_to_num(g + wd * p, nan=0.0, posinf=0.0, neginf=0.0)
                    if optimizer == "adam":
                        m.mul_(0.9).add_(0.1 * g)
                        v.mul_(0.999).add_(0.001 * g * g)
                        m_hat, v_hat = m / (1 - 0.9**step), v / (1 - 0.999**step)
                        p.sub_(lr * m_hat / (v_hat.sqrt() + 1e-8))
                    else:
                        m.mul_(0.9).add_(g)
                        p.sub_(lr * m)
        with torch.no_grad():
            val = losses(forward(Xv, False), yv).numpy()
        out[:, epoch] = val
    out = np.where(np.isfinite(out), np.minimum(out, LOSS_CAP), LOSS_CAP)
    diverged = np.maximum.accumulate(out == LOSS_CAP, axis=1)  # diverged stays diverged
    out = np.where(diverged, LOSS_CAP, out)
    return out.reshape(len(LR), len(WD), len(DROPOUT), MAX_EPOCHS)


def build(dataset: str) -> CurveTable:
    X_tr, y_tr, X_va, y_va = load_data(dataset)
    loss = np.empty((*SHAPE, MAX_EPOCHS), dtype=np.float32)
    groups = list(itertools.product(range(len(WIDTH)), range(len(LAYERS)), range(len(BATCH)),
                                    range(len(OPTIMIZER))))
    for g, (w, nl, b, o) in enumerate(groups):
        curves = train_group(X_tr, y_tr, X_va, y_va, width=2 ** WIDTH[w], layers=LAYERS[nl],
                             batch=2 ** BATCH[b], optimizer=OPTIMIZER[o], seed=1000 + g)
        loss[:, :, w, nl, :, b, o, :] = curves
    return CurveTable(dataset, loss)


def load(dataset: str, rebuild: bool = False) -> CurveTable:
    """The cached table of a data set, built first if missing."""
    path = CACHE / f"curves-{dataset}-v{VERSION}.npz"
    if path.exists() and not rebuild:
        with np.load(path) as f:
            return CurveTable(dataset, f["loss"])
    start = time.perf_counter()
    table = build(dataset)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, loss=table.loss)
    os.replace(tmp, path)
    print(f"built {path.name} in {time.perf_counter() - start:.0f} s", flush=True)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    for name in args.datasets.split(","):
        t = load(name, args.rebuild)
        final = t.loss[..., -1]
        diverged = float(np.mean(final >= LOSS_CAP))
        at1 = t.loss[..., 0].ravel()
        corr = np.corrcoef(np.argsort(np.argsort(at1)), np.argsort(np.argsort(final.ravel())))
        print(f"{name:14s} best final val loss {t.best:.4f}, median {np.median(final):.3f}, "
              f"diverged {diverged:.1%}, rank correlation epoch 1 vs {MAX_EPOCHS}: "
              f"{corr[0, 1]:.2f}")
        print(" " * 15 + "share in the final top 10% of: " + ", ".join(
            f"{what} {share:.0%}" for what, share in short_horizon(t.loss).items()))
        print(" " * 15 + f"final regret of training in full the {EARLY_PICKS} best by the loss "
              "at epoch " + ", ".join(f"{e}: {r:.4f}" for e, r in early_picks(t.loss).items()))


def short_horizon(loss: np.ndarray) -> dict[str, float]:
    """How well the configurations that successive halving (rungs 1, 3, 9 of 27 epochs,
    reduction factor 3) keeps or stops at each rung end, over the whole grid.

    Why: a searcher that learns from early epochs learns what is good early. Where fast
    starters plateau, the trials that win the first rung and then lose the next are the worst
    finishers, while those just below the first rung's cut often end well.
    """
    curves = loss.reshape(-1, loss.shape[-1])
    q = (np.argsort(np.argsort(curves, axis=0), axis=0) + 0.5) / len(curves)  # per epoch
    q1, q3, q9, final = q[:, 0], q[:, 2], q[:, 8], q[:, -1]
    top = final < 0.1
    groups = {
        "all": np.ones(len(curves), dtype=bool),
        "epoch-1 top 1%": q1 < 0.01,
        "stopped at epoch 1 just below the cut": (q1 > 1 / 3) & (q1 < 0.45),
        "kept at epoch 1, stopped at 3 just below the cut": (q1 < 1 / 3) & (q3 > 1 / 3)
        & (q3 < 0.45),
        "kept at epochs 1, 3 and 9": (q1 < 1 / 3) & (q3 < 1 / 3) & (q9 < 1 / 3),
    }
    return {what: float(top[mask].mean()) for what, mask in groups.items()}


def early_picks(loss: np.ndarray, k: int = EARLY_PICKS) -> dict[int, float]:
    """Final regret of the best of the k configurations with the lowest loss at epochs 1, 3, 9.

    Why: early in a search, a searcher that trains in full what looks best at an early epoch
    gets this at most, even if it knew that epoch's loss for every configuration of the grid
    (a real one has seen a few dozen). Where it is far above what a long search reaches, the
    early epochs cannot find the end's winners early.
    """
    curves = loss.reshape(-1, loss.shape[-1])
    final = curves[:, -1]
    return {epoch: float(final[np.argsort(curves[:, epoch - 1], kind="stable")[:k]].min()
                         - final.min()) for epoch in (1, 3, 9)}


if __name__ == "__main__":
    main()
