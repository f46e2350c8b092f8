"""A synthetic segmentation data set made on the fly: random shapes on textured, noisy backgrounds.

Nothing is downloaded. Each RGB image holds 1-4 shapes (circles, ellipses, rectangles,
triangles), each filled with its own colour and stripes, over a background of random colour
gradients, gratings and noise; the mask marks every shape pixel. Colours are drawn
independently, so some shapes are faint against their background: the task is easy to learn and
hard to finish, which makes the hyperparameters matter.
"""

from __future__ import annotations

import numpy as np


def make_shapes(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, 3, size, size) in [0, 1] and their masks (n, 1, size, size) in {0, 1}."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    images = np.empty((n, 3, size, size), np.float32)
    masks = np.zeros((n, 1, size, size), np.float32)
    for i in range(n):
        image = _background(rng, xx, yy)
        mask = np.zeros((size, size), bool)
        for _ in range(rng.integers(1, 5)):
            shape = _shape(rng, xx, yy)
            colour = rng.uniform(0.0, 1.0, (3, 1, 1))
            angle, freq = rng.uniform(0, np.pi), rng.uniform(8, 30)
            stripes = 0.12 * np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) * np.pi)
            image = np.where(shape, colour + stripes, image)
            mask |= shape
        image += rng.normal(0.0, 0.08, image.shape)
        images[i] = np.clip(image, 0.0, 1.0)
        masks[i, 0] = mask
    return images, masks


def _background(rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """A colour gradient plus two gratings per channel: texture a model must learn to ignore."""
    base = rng.uniform(0.2, 0.8, (3, 1, 1))
    slope = rng.uniform(-0.3, 0.3, (3, 2, 1, 1))
    image = base + slope[:, 0] * (xx - 0.5) + slope[:, 1] * (yy - 0.5)
    for _ in range(2):
        angle, freq, phase = rng.uniform(0, np.pi), rng.uniform(3, 20), rng.uniform(0, 2 * np.pi)
        amplitude = rng.uniform(0.03, 0.15, (3, 1, 1))
        image = image + amplitude * np.sin(
            freq * (np.cos(angle) * xx + np.sin(angle) * yy) * np.pi + phase)
    return image.astype(np.float32)


def _shape(rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """A boolean mask of one random circle, ellipse, rotated rectangle or triangle."""
    cx, cy = rng.uniform(0.15, 0.85, 2)
    kind = rng.integers(4)
    if kind == 0:  # circle
        r = rng.uniform(0.06, 0.2)
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    angle = rng.uniform(0, np.pi)
    u = np.cos(angle) * (xx - cx) + np.sin(angle) * (yy - cy)
    v = -np.sin(angle) * (xx - cx) + np.cos(angle) * (yy - cy)
    a, b = rng.uniform(0.05, 0.22, 2)
    if kind == 1:  # ellipse
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0
    if kind == 2:  # rectangle
        return (np.abs(u) <= a) & (np.abs(v) <= b)
    # triangle: a pixel is inside when it lies on the same side of all three edges
    turns = rng.uniform(0, 2 * np.pi) + np.array([0.0, 2.1, 4.2]) + rng.uniform(-0.4, 0.4, 3)
    radii = rng.uniform(0.08, 0.22, 3)
    px, py = cx + radii * np.cos(turns), cy + radii * np.sin(turns)
    sides = [(px[j] - px[k]) * (yy - py[k]) - (py[j] - py[k]) * (xx - px[k])
             for k, j in ((0, 1), (1, 2), (2, 0))]
    return (np.minimum.reduce(sides) >= 0) | (np.maximum.reduce(sides) <= 0)


def split(n: int, fractions: tuple[float, float] = (0.7, 0.15)) -> tuple[slice, slice, slice]:
    """Train, validation and test slices of n images (the rest is test)."""
    n_train, n_val = int(n * fractions[0]), int(n * fractions[1])
    return slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n)
