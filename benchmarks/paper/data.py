"""The two data sets of the experiment, generated here (no download) and cached as .npz.

- ``convex``: 28x28 binary images of one white region, convex or not, as in Larochelle et al.
  (2007): a convex region is the intersection of random half-planes around a random centre; a
  non-convex one is the union of 2-4 smaller convex regions, kept only when the union is clearly
  not convex (it fills less than 85% of its own convex hull).
- ``mrbi``: "MNIST rotated background images" in miniature. The 8x8 digits of scikit-learn's
  ``load_digits`` are enlarged to 20x20, rotated by a random angle, centred on 28x28 and laid
  over a background that is uniform noise or a patch cut from one of 16 generated textures
  (gratings plus smoothed noise). Train, validation and test images come from disjoint sets of
  source digits, so no test digit has been seen in training, under any rotation.

Both are fixed by a seed; the splits are returned as float32 arrays in [0, 1], shape (n, 784).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

CACHE = Path(__file__).resolve().parent / "cache"
SIDE = 28
DATA_SEED = 2011  # the paper's year; any fixed value will do
VERSION = 1  # bump when a generator changes, so that stale caches are not reused


@dataclass(frozen=True)
class Sizes:
    """How many images per split (convex), or copies per source digit (mrbi)."""

    train: int
    valid: int
    test: int


# convex: images per split. mrbi: rotated copies of each source digit (about 1078 train, 270
# valid and 449 test source digits), so "full" gives about 3234 / 1080 / 2694 images.
SIZES = {
    "convex": {"full": Sizes(2500, 1000, 5000), "quick": Sizes(800, 400, 1000),
               "tiny": Sizes(300, 200, 300)},
    "mrbi": {"full": Sizes(3, 4, 6), "quick": Sizes(1, 1, 1), "tiny": Sizes(1, 1, 1)},
}
DATASETS = tuple(SIZES)


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(self.y_train.max()) + 1


# ----------------------------------------------------------------------------- convex shapes
_GRID = (np.stack(np.meshgrid(np.arange(SIDE), np.arange(SIDE), indexing="ij"), -1)
         .reshape(-1, 2).astype(np.float64) + 0.5) / SIDE  # pixel centres in (0, 1)


def _convex_region(rng: np.random.Generator, radius: tuple[float, float]) -> np.ndarray:
    """Intersection of 3-10 half-planes at random distances from a random centre."""
    centre = rng.uniform(0.25, 0.75, size=2)
    mask = np.ones(len(_GRID), dtype=bool)
    for _ in range(rng.integers(3, 11)):
        angle = rng.uniform(0.0, 2.0 * np.pi)
        normal = np.array([np.cos(angle), np.sin(angle)])
        mask &= (_GRID - centre) @ normal <= rng.uniform(*radius)
    return mask


def _hull_fill(mask: np.ndarray) -> float:
    """Fraction of the pixels inside the region's convex hull that belong to the region."""
    points = _GRID[mask]
    try:
        hull = ConvexHull(points)
    except QhullError:  # degenerate (a line of pixels): treat as convex
        return 1.0
    inside = np.all(_GRID @ hull.equations[:, :2].T + hull.equations[:, 2] <= 1e-9, axis=1)
    return mask.sum() / max(inside.sum(), 1)


def _convex_image(rng: np.random.Generator, convex: bool) -> np.ndarray:
    while True:
        if convex:
            mask = _convex_region(rng, (0.08, 0.4))
        else:
            mask = np.zeros(len(_GRID), dtype=bool)
            for _ in range(rng.integers(2, 5)):
                mask |= _convex_region(rng, (0.05, 0.25))
        if mask.sum() < 40:  # too small to tell
            continue
        if convex or _hull_fill(mask) < 0.85:
            return mask.astype(np.float32)


def make_convex(sizes: Sizes, seed: int = DATA_SEED) -> Split:
    rng = np.random.default_rng(seed)
    parts = []
    for n in (sizes.train, sizes.valid, sizes.test):
        y = rng.integers(0, 2, size=n)
        x = np.stack([_convex_image(rng, bool(label)) for label in y])
        parts += [x, y.astype(np.int64)]
    return Split(*parts)


# ------------------------------------------------------------------- rotated digits on background
def _textures(rng: np.random.Generator, n: int = 16, side: int = 128) -> np.ndarray:
    """Gratings at random frequency and angle, mixed with smoothed noise, scaled to [0, 1]."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    out = np.empty((n, side, side), dtype=np.float32)
    for i in range(n):
        img = ndimage.gaussian_filter(rng.normal(size=(side, side)), rng.uniform(1.0, 4.0))
        img /= img.std()
        for _ in range(rng.integers(1, 4)):
            angle, freq = rng.uniform(0, np.pi), rng.uniform(0.05, 0.5)
            phase = rng.uniform(0, 2 * np.pi)
            img += rng.uniform(0.5, 2.0) * np.sin(
                freq * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
        img -= img.min()
        out[i] = img / img.max()
    return out


def _digit_image(digit: np.ndarray, rng: np.random.Generator, textures: np.ndarray) -> np.ndarray:
    big = np.clip(ndimage.zoom(digit, 2.5, order=1), 0.0, 1.0)  # 8x8 -> 20x20
    canvas = np.zeros((SIDE, SIDE))
    offset = (SIDE - big.shape[0]) // 2
    canvas[offset:offset + big.shape[0], offset:offset + big.shape[1]] = big
    canvas = np.clip(ndimage.rotate(canvas, rng.uniform(0, 360), reshape=False, order=1), 0, 1)
    if rng.random() < 0.5:
        background = rng.uniform(0.0, 1.0, size=(SIDE, SIDE))
    else:
        tex = textures[rng.integers(len(textures))]
        r, c = rng.integers(0, tex.shape[0] - SIDE, size=2)
        background = tex[r:r + SIDE, c:c + SIDE]
    return (canvas + (1.0 - canvas) * background).astype(np.float32).ravel()


def make_mrbi(sizes: Sizes, seed: int = DATA_SEED) -> Split:
    from sklearn.datasets import load_digits  # ships with scikit-learn, no download

    digits = load_digits()
    images = digits.images / 16.0
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    n_train, n_valid = int(0.6 * len(order)), int(0.15 * len(order))
    sources = (order[:n_train], order[n_train:n_train + n_valid], order[n_train + n_valid:])
    textures = _textures(rng)
    parts = []
    for idx, copies in zip(sources, (sizes.train, sizes.valid, sizes.test), strict=True):
        idx = np.repeat(idx, copies)
        x = np.stack([_digit_image(images[i], rng, textures) for i in idx])
        parts += [x, digits.target[idx].astype(np.int64)]
    return Split(*parts)


# ------------------------------------------------------------------------------------ loading
def cache_path(name: str, size: str) -> Path:
    return CACHE / f"{name}-{size}-seed{DATA_SEED}-v{VERSION}.npz"


@functools.lru_cache(maxsize=4)
def load(name: str, size: str = "full") -> Split:
    """The data set `name` at `size`; generated on first use, then read from the cache."""
    if name not in SIZES:
        raise ValueError(f"unknown data set {name!r}; choose from {DATASETS}")
    if size not in SIZES[name]:
        raise ValueError(f"unknown size {size!r}; choose from {tuple(SIZES[name])}")
    path = cache_path(name, size)
    if path.exists():
        with np.load(path) as f:
            return Split(**{k: f[k] for k in Split.__dataclass_fields__})
    split = (make_convex if name == "convex" else make_mrbi)(SIZES[name][size])
    _save(path, split.__dict__)
    return split


def _save(path: Path, arrays: dict) -> None:
    """Uncompressed (fast to read in every new Ray worker), renamed into place atomically."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


@functools.lru_cache(maxsize=4)
def pca_basis(name: str, size: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, singular values and right singular vectors of the training inputs, cached on disk
    so that each worker does not redo the SVD; PCA of any size is then a slice."""
    path = CACHE / f"pca-{cache_path(name, size).name}"
    if path.exists():
        with np.load(path) as f:
            return f["mean"], f["s"], f["vt"]
    x = load(name, size).x_train.astype(np.float64)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    _save(path, {"mean": mean, "s": s, "vt": vt})
    return mean, s, vt
