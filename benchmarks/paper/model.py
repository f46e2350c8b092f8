"""Build, train and score the small PyTorch network that one configuration describes.

A configuration is a dict shaped like `space.SPACE`. Training is deterministic for a given
(configuration, seed) and runs on one CPU thread, so that two trials can share two cores.
"""

from __future__ import annotations

import math
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from data import Split, load, pca_basis  # noqa: E402
from torch import nn  # noqa: E402

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def preprocess(cfg: dict, split: Split, name: str, size: str) -> tuple[np.ndarray, ...]:
    """Inputs of the three splits after the configuration's preprocessing, fitted on train."""
    xs = (split.x_train, split.x_valid, split.x_test)
    kind = cfg["kind"]
    if kind == "none":
        return xs
    if kind == "standardise":
        mean, std = split.x_train.mean(axis=0), split.x_train.std(axis=0) + 1e-6
        return tuple(((x - mean) / std).astype(np.float32) for x in xs)
    if kind == "pca":
        mean, s, vt = pca_basis(name, size)
        k = min(int(cfg["components"]), len(s))
        proj = vt[:k].T
        if cfg["whiten"]:
            proj = proj * (math.sqrt(len(split.x_train) - 1) / (s[:k] + 1e-6))
        return tuple(((x - mean) @ proj).astype(np.float32) for x in xs)
    raise ValueError(f"preprocessing.kind: unknown {kind!r}")


def _init(linear: nn.Linear, cfg: dict) -> None:
    """`uniform`: Glorot-uniform times `scale`; `normal`: He-normal times `scale`; `default`:
    PyTorch's own. Biases start at zero for the first two."""
    scheme = cfg["scheme"]
    if scheme == "default":
        return
    fan_out, fan_in = linear.weight.shape
    with torch.no_grad():
        if scheme == "uniform":
            bound = cfg["scale"] * math.sqrt(6.0 / (fan_in + fan_out))
            linear.weight.uniform_(-bound, bound)
        elif scheme == "normal":
            linear.weight.normal_(0.0, cfg["scale"] * math.sqrt(2.0 / fan_in))
        else:
            raise ValueError(f"init.scheme: unknown {scheme!r}")
        linear.bias.zero_()


def build(cfg: dict, n_in: int, n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for i in range(1, cfg["layers"]["n"] + 1):
        spec = cfg["layers"][f"l{i}"]
        linear = nn.Linear(width, int(spec["width"]))
        _init(linear, cfg["init"])
        layers += [linear, ACTIVATIONS[spec["activation"]]()]
        if spec["dropout"] > 0:
            layers.append(nn.Dropout(spec["dropout"]))
        width = int(spec["width"])
    head = nn.Linear(width, n_out)
    _init(head, cfg["init"])
    return nn.Sequential(*layers, head)


def _error(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(x[i:i + 2048]).argmax(1) for i in range(0, len(x), 2048)])
    return float((pred != y).float().mean())


def evaluate(cfg: dict, dataset: str, size: str, epochs: int, seed: int) -> dict:
    """Train with the configuration and return its validation and test errors.

    A run whose loss becomes NaN or infinite stops there and is scored as it stands (usually at
    chance), so that a bad configuration costs little and never crashes the search.
    """
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    start = time.perf_counter()
    split = load(dataset, size)
    x_train, x_valid, x_test = (torch.from_numpy(x)
                                for x in preprocess(cfg["preprocessing"], split, dataset, size))
    y_train, y_valid, y_test = (torch.from_numpy(y)
                                for y in (split.y_train, split.y_valid, split.y_test))
    net = build(cfg, x_train.shape[1], split.n_classes)
    opt_cfg = cfg["optimizer"]
    if opt_cfg["name"] == "sgd":
        optimizer = torch.optim.SGD(net.parameters(), lr=cfg["lr"], momentum=opt_cfg["momentum"],
                                    weight_decay=cfg["weight_decay"])
    else:
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg["lr"],
                                     weight_decay=cfg["weight_decay"])
    loss_fn = nn.CrossEntropyLoss()
    batch = int(cfg["batch_size"])
    generator = torch.Generator().manual_seed(seed)
    diverged = False
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x_train), generator=generator)
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            loss = loss_fn(net(x_train[idx]), y_train[idx])
            if not torch.isfinite(loss):
                diverged = True
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if diverged:
            break
    return {"val_error": _error(net, x_valid, y_valid), "test_error": _error(net, x_test, y_test),
            "diverged": diverged, "train_seconds": time.perf_counter() - start}
