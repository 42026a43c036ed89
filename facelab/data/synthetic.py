"""Translation tasks with a known ground truth, made from any photos.

A translator trained on (photo, f(photo)) pairs can be scored exactly on held-out photos, which
is how facelab shows that training learns (docs/translate.md) and what `facelab demo` trains.

- `sepia`: the classic sepia colour matrix with a gentle S-curve: global, learnable in minutes.
- `night`: "day to night": darker, blue-shifted, gamma 1.6, vignetted (spatially varying).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facelab.errors import ConfigError
from facelab.io.image import read_image, write_image

SEPIA = np.array([[0.393, 0.769, 0.189],
                  [0.349, 0.686, 0.168],
                  [0.272, 0.534, 0.131]], dtype=np.float32)


def sepia(img: np.ndarray) -> np.ndarray:
    """uint8 RGB -> uint8 RGB sepia with a mild contrast curve."""
    x = img.astype(np.float32) / 255.0
    y = np.clip(x @ SEPIA.T, 0, 1)
    y = y * y * (3 - 2 * y) * 0.5 + y * 0.5  # half smoothstep: more contrast in the mid-tones
    return np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8)


def night(img: np.ndarray) -> np.ndarray:
    """uint8 RGB -> a dark, blue, vignetted version."""
    x = img.astype(np.float32) / 255.0
    y = x ** 1.6 * np.array([0.55, 0.65, 1.0], dtype=np.float32) * 0.7
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    y = y * (1 - 0.35 * np.clip(r2, 0, 1))[..., None]
    return np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8)


TASKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"sepia": sepia, "night": night}


def get_task(name: str) -> Callable[[np.ndarray], np.ndarray]:
    if name not in TASKS:
        raise ConfigError(f"unknown synthetic task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def random_crops(img: np.ndarray, n: int, size: int, rng: random.Random) -> list[np.ndarray]:
    """`n` square crops of side `size` (the image is shrunk first if it is smaller than 2x `size`)."""
    import cv2

    h, w = img.shape[:2]
    scale = min(1.0, 2.5 * size / min(h, w))
    if scale < 1.0:
        img = cv2.resize(img, (max(size, int(w * scale)), max(size, int(h * scale))), interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
    out = []
    for _ in range(n):
        y, x = rng.randrange(0, h - size + 1), rng.randrange(0, w - size + 1)
        out.append(img[y:y + size, x:x + size])
    return out


def make_pairs(photos: list[Path], out: Path, task: str, *, crops_per_image: int = 8, size: int = 128,
               layout: str = "aligned", seed: int = 0) -> Path:
    """Write a training set of `task` from `photos`.

    layout `aligned`: `out/train/NNNN.png` with A|B side by side (pix2pix);
    layout `unaligned`: `out/trainA/` from the first half of the crops, `out/trainB/` the task
    applied to the other half, so no B is the translation of an A (CycleGAN).
    """
    fn, rng = get_task(task), random.Random(seed)
    crops: list[np.ndarray] = []
    for p in photos:
        crops += random_crops(read_image(p), crops_per_image, size, rng)
    if layout == "aligned":
        for i, c in enumerate(crops):
            write_image(out / "train" / f"{i:04d}.png", np.concatenate([c, fn(c)], 1), overwrite=True)
    elif layout == "unaligned":
        rng.shuffle(crops)
        half = len(crops) // 2
        for i, c in enumerate(crops[:half]):
            write_image(out / "trainA" / f"{i:04d}.png", c, overwrite=True)
        for i, c in enumerate(crops[half:]):
            write_image(out / "trainB" / f"{i:04d}.png", fn(c), overwrite=True)
    else:
        raise ConfigError(f"unknown layout {layout!r}; choose aligned or unaligned")
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
