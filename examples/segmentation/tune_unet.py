"""Tune a small U-Net for image segmentation with Ray Tune, TPESearch, ASHA and TPECallback.

The data set (random shapes on textured backgrounds) is made on the fly. Two searches run at
the same budget under the same ASHA scheduler: TPE (`TPESearch`) and Tune's random search
(`BasicVariantGenerator`). The best TPE model is then scored on held-out test images.

    python examples/segmentation/tune_unet.py                 # ~5 minutes on 2 CPU cores
    python examples/segmentation/tune_unet.py --trials 64 --epochs 30 --image-size 128 \\
        --n-images 4000 --gpus 4                              # one trial per GPU

Writes to --out (default out/demo/ at the repository root, git-ignored: a run regenerates it):
segmentations.png, loss_curves.png, search.png, metrics.json, metrics.md, and report.html (the
TPE search as one page: `python -m tpe_plugins.report`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per trial; trials run in parallel
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import shapes_data  # noqa: E402
import unet  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parents[1] / "out" / "demo"  # untracked: outputs are not committed


def search_space(epochs: int, image_size: int) -> dict:
    """Tune domains, so that the random-search baseline can sample the same space."""
    from ray import tune

    return {
        "lr": tune.loguniform(1e-4, 1e-1),
        "weight_decay": tune.loguniform(1e-6, 1e-2),
        "base_width": tune.qrandint(4, 16, 4),
        "depth": tune.randint(1, 4),  # 1, 2 or 3 poolings
        "dropout": tune.quniform(0.0, 0.3, 0.05),
        "batch_size": tune.choice([8, 16, 32]),
        "optimizer": tune.choice([  # conditional: each optimiser has its own parameter
            {"name": "sgd", "momentum": tune.uniform(0.5, 0.99)},
            {"name": "adamw", "beta1": tune.uniform(0.8, 0.95)},
        ]),
        "epochs": epochs,
        "image_size": image_size,
    }


def loaders(config: dict, data: dict, shuffle_seed: int = 0) -> tuple:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    def dataset(name: str) -> TensorDataset:
        return TensorDataset(torch.from_numpy(data[name + "_x"]),
                             torch.from_numpy(data[name + "_y"]))

    g = torch.Generator().manual_seed(shuffle_seed)
    return (DataLoader(dataset("train"), batch_size=config["batch_size"], shuffle=True,
                       generator=g),
            DataLoader(dataset("val"), batch_size=64))


def train_unet(config: dict, data: dict, accelerator: str = "cpu", seed: int = 0) -> None:
    """The Tune trainable: an ordinary Lightning loop with one extra callback."""
    import lightning.pytorch as pl
    import torch

    from tpe_plugins.integrations.lightning import TPECallback, tune_checkpoint

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    train, val = loaders(config, data, seed)
    callback = TPECallback(metrics=["val_loss", "train_loss", "val_iou", "val_dice"])
    trainer = pl.Trainer(max_epochs=config["epochs"], accelerator=accelerator, devices=1,
                         callbacks=[callback], logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False,
                         num_sanity_val_steps=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        with tune_checkpoint() as path:
            trainer.fit(unet.SegModel(config), train, val, ckpt_path=path)


def run_search(name: str, search_alg, args, data: dict, storage: str):
    """One Tune search; returns its ResultGrid."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    gpus = args.gpus
    trainable = tune.with_parameters(train_unet, data=data,
                                     accelerator="gpu" if gpus else "cpu", seed=args.seed)
    resources = {"cpu": 1, "gpu": 1} if gpus else {"cpu": 1}
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        param_space=search_space(args.epochs, args.image_size),
        tune_config=tune.TuneConfig(
            search_alg=search_alg, metric="val_loss", mode="min", num_samples=args.trials,
            max_concurrent_trials=gpus or args.cpus, reuse_actors=True,
            scheduler=ASHAScheduler(max_t=args.epochs, grace_period=max(1, args.epochs // 4),
                                    reduction_factor=2)),
        run_config=tune.RunConfig(
            name=name, storage_path=storage, verbose=0,
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=1, checkpoint_score_attribute="val_loss",
                checkpoint_score_order="min")))
    return tuner.fit()


def trial_values(grid) -> np.ndarray:
    """Each trial's last val_loss (inf if it failed), in the order the trials were created."""

    def number(result) -> int:  # Tune names trial folders train_unet_<id>_<number>_<config>
        found = re.match(r"train_unet_[^_]+_(\d+)_", Path(result.path).name)
        return int(found.group(1)) if found else sys.maxsize

    return np.array([r.metrics.get("val_loss", np.inf) if r.error is None else np.inf
                     for r in sorted(grid, key=number)], float)


def evaluate(checkpoint, data: dict, accelerator: str) -> tuple[dict, np.ndarray, int]:
    """Test-set precision, recall, IoU and Dice of a checkpoint, and its validation predictions."""
    import torch

    with checkpoint.as_directory() as folder:
        state = torch.load(os.path.join(folder, "checkpoint.ckpt"), map_location="cpu",
                           weights_only=False)
    model = unet.SegModel(state["hyper_parameters"]["config"])
    model.load_state_dict(state["state_dict"])
    model.eval()
    device = "cuda" if accelerator == "gpu" else "cpu"
    model.to(device)

    def predict(x: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([model(torch.from_numpy(x[i:i + 64]).to(device)).cpu()
                              for i in range(0, len(x), 64)])

    counts = unet.confusion(predict(data["test_x"]), torch.from_numpy(data["test_y"]))
    metrics = unet.scores(counts)
    val_pred = (predict(data["val_x"][:10]) > 0).float().numpy()
    return metrics, val_pred, state["epoch"]


# ---------------------------------------------------------------------------------- pictures
def plot_segmentations(images, masks, preds, path: Path) -> None:
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(3, n, figsize=(1.6 * n, 5.2))
    for i in range(n):
        inter = float((preds[i] * masks[i]).sum())
        union = float(((preds[i] + masks[i]) > 0).sum())
        for row, (picture, title) in enumerate([
                (images[i].transpose(1, 2, 0), "image"), (masks[i, 0], "true mask"),
                (preds[i, 0], f"IoU {inter / max(union, 1):.2f}")]):
            ax = axes[row, i]
            ax.imshow(picture, cmap=None if row == 0 else "gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(["image", "truth", "prediction"][row])
            if row == 2:
                ax.set_title(title, fontsize=9)
    fig.suptitle("Validation images, true masks and the tuned U-Net's predictions")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_loss_curves(df, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(df["epoch"], df["train_loss"], "o-", label="training loss")
    ax.plot(df["epoch"], df["val_loss"], "s-", label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("BCE + Dice loss")
    ax.set_title("Best trial: loss vs epochs")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_search(values: dict[str, np.ndarray], path: Path) -> None:
    """Best-so-far lines, and each trial's own value as a faint dot."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (name, v), (colour, marker) in zip(values.items(), (("C0", "o"), ("C1", "s")),
                                           strict=False):
        x = np.arange(1, len(v) + 1)
        ax.plot(x, v, marker, color=colour, alpha=0.3, linestyle="none")
        ax.plot(x, np.minimum.accumulate(v), color=colour, marker=marker, label=name,
                drawstyle="steps-post")
    finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
    if finite.size:
        low, high = finite.min(), np.quantile(finite, 0.9)
        ax.set_ylim(low - 0.05 * (high - low + 1e-9), high + 0.05 * (high - low + 1e-9))
    ax.set_xlabel("trial (in start order)")
    ax.set_ylabel("validation loss (line: best so far)")
    ax.set_title("TPE against random search, same budget, both under ASHA")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_metrics(metrics: dict, out: Path) -> None:
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    test = metrics["test"]
    lines = ["# Tuned U-Net: held-out test metrics", "",
             f"Pixel-level scores on {metrics['n_test_images']} test images "
             f"({metrics['image_size']}x{metrics['image_size']}), threshold 0.5.", "",
             "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {test[k]:.4f} |" for k in ("precision", "recall", "iou", "dice")]
    random = metrics["random_best_val_loss"]
    lines += ["", f"Best validation loss after {metrics['trials']} trials: TPE "
              f"{metrics['tpe_best_val_loss']:.4f}"
              + (f", random search {random:.4f}." if random is not None else "."), "",
              "Best configuration (TPE):", "", "```json",
              json.dumps(metrics["best_config"], indent=2), "```", ""]
    (out / "metrics.md").write_text("\n".join(lines))


# ---------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=20, help="trials per search")
    p.add_argument("--epochs", type=int, default=8, help="most epochs of a trial (ASHA max_t)")
    p.add_argument("--image-size", type=int, default=32, help="pixels; a multiple of 8")
    p.add_argument("--n-images", type=int, default=500, help="70%% train, 15%% val, 15%% test")
    p.add_argument("--gpus", type=int, default=None,
                   help="GPUs to spread trials over, one each (default: all CUDA devices)")
    p.add_argument("--cpus", type=int, default=None, help="CPUs for Ray (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="folder for pictures, metrics and report (default: out/demo/)")
    p.add_argument("--tune-dir", type=Path, default=None,
                   help="keep Tune's results and checkpoints here (default: a temporary folder)")
    p.add_argument("--no-random", action="store_true", help="skip the random-search baseline")
    args = p.parse_args(argv)
    if args.image_size % 8:
        p.error("--image-size must be a multiple of 8 (three poolings)")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    start = time.perf_counter()
    import ray
    import torch
    from ray.tune.search import BasicVariantGenerator

    from tpe_plugins.integrations.ray_tune import TPESearch

    if args.gpus is None:
        args.gpus = torch.cuda.device_count()
    args.cpus = args.cpus or os.cpu_count() or 1
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(num_cpus=args.cpus, num_gpus=args.gpus, include_dashboard=False,
                 log_to_driver=False)
    # Ray workers cannot import this folder's modules: ship them with the trainable, by value.
    for module in (sys.modules[__name__], unet, shapes_data):
        ray.cloudpickle.register_pickle_by_value(module)

    images, masks = shapes_data.make_shapes(args.n_images, args.image_size, seed=args.seed)
    train, val, test = shapes_data.split(args.n_images)
    data = {"train_x": images[train], "train_y": masks[train], "val_x": images[val],
            "val_y": masks[val], "test_x": images[test], "test_y": masks[test]}
    args.out.mkdir(parents=True, exist_ok=True)
    accelerator = "gpu" if args.gpus else "cpu"

    with tempfile.TemporaryDirectory(prefix="tune-unet-") as tmp:
        storage = str(args.tune_dir.resolve()) if args.tune_dir else tmp
        n_startup = max(3, args.trials // 3)
        tpe_grid = run_search("tpe", TPESearch(seed=args.seed, n_startup_trials=n_startup),
                              args, data, storage)
        values = {"TPE (TPESearch)": trial_values(tpe_grid)}
        if not args.no_random:
            random_grid = run_search("random", BasicVariantGenerator(random_state=args.seed),
                                     args, data, storage)
            values["random search"] = trial_values(random_grid)
        if tpe_grid.num_errors == len(tpe_grid):
            raise RuntimeError(f"every TPE trial failed; the first: {tpe_grid[0].error}")
        best = tpe_grid.get_best_result(metric="val_loss", mode="min", scope="last")
        checkpoint = best.get_best_checkpoint("val_loss", "min")
        test_metrics, val_pred, best_epoch = evaluate(checkpoint, data, accelerator)
        history = best.metrics_dataframe
        # the same page `python -m tpe_plugins.report <experiment folder>` writes
        from tpe_plugins.report import load_run, write_report

        run = load_run(tpe_grid.experiment_path, metric="val_loss", mode="min")
        write_report(run, args.out / "report.html")  # interactive, plotly.js embedded

    plot_segmentations(data["val_x"][:10], data["val_y"][:10], val_pred,
                       args.out / "segmentations.png")
    plot_loss_curves(history, args.out / "loss_curves.png")
    plot_search(values, args.out / "search.png")
    metrics = {
        "test": test_metrics,
        "best_config": {k: v for k, v in best.config.items()},
        "best_val_loss": float(history["val_loss"].min()),
        "checkpoint_epoch": int(best_epoch) + 1,
        "tpe_best_val_loss": float(values["TPE (TPESearch)"].min()),
        "random_best_val_loss": (float(values["random search"].min())
                                 if "random search" in values else None),
        "trials": args.trials, "epochs": args.epochs, "image_size": args.image_size,
        "n_images": args.n_images, "n_test_images": int(len(data["test_x"])),
        "devices": f"{args.gpus} GPU(s)" if args.gpus else f"{args.cpus} CPU(s)",
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_metrics(metrics, args.out)
    print(json.dumps(metrics, indent=2))
    if started_ray:
        ray.shutdown()
    return metrics


if __name__ == "__main__":
    main()
