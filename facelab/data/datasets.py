"""Training data sets for the translators, laid out as in pytorch-CycleGAN-and-pix2pix.

- aligned (pix2pix): `ROOT/[train/]*.jpg` with A and B side by side in one file (the official
  layout), or `ROOT/A/` and `ROOT/B/` holding same-named files.
- unaligned (CycleGAN): `ROOT/trainA/` and `ROOT/trainB/` (or `ROOT/A/`, `ROOT/B/`), any counts.
- single: one folder of images (inference, or a one-sided data set).

Every item is a dict of float tensors (3, H, W) in [-1, 1] plus the source paths. The geometric
preprocessing (`resize_and_crop` 286 -> 256, `crop`, `scale_width`, `scale_width_and_crop`,
`none`) and the flips run through albumentations with the same random draw for A and B, so
aligned pairs stay aligned.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from facelab.errors import ConfigError, InputError
from facelab.io.image import IMAGE_EXTS, image_to_tensor, read_image

PREPROCESS = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
AUGMENT = ("none", "light", "strong")


def find_images(root: str | Path) -> list[Path]:
    """Every image below `root`, recursively, in a stable (sorted) order."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower().lstrip(".") in IMAGE_EXTS)


@dataclass(frozen=True)
class Preprocess:
    """Geometric preprocessing and augmentation; the official defaults are for 256x256 training."""

    preprocess: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    augment: str = "none"

    def __post_init__(self) -> None:
        if self.preprocess not in PREPROCESS:
            raise ConfigError(f"unknown preprocess {self.preprocess!r}; choose one of {', '.join(PREPROCESS)}")
        if self.augment not in AUGMENT:
            raise ConfigError(f"unknown augment {self.augment!r}; choose one of {', '.join(AUGMENT)}")
        if self.crop_size > self.load_size and "crop" in self.preprocess and self.preprocess != "crop":
            raise ConfigError(f"crop size {self.crop_size} is larger than load size {self.load_size}")


def _scale_width(target: int, min_height: int) -> A.Lambda:
    """Resize so the width is `target` keeping the aspect ratio (height at least `min_height`)."""

    def fn(img: np.ndarray, **_: Any) -> np.ndarray:
        h, w = img.shape[:2]
        if w == target and h >= min_height:
            return img
        nh = max(int(round(target * h / w)), min_height)
        return cv2.resize(img, (target, nh), interpolation=cv2.INTER_CUBIC)

    return A.Lambda(image=fn, name="scale_width")


def _to_multiple(base: int = 4) -> A.Lambda:
    """`none` preprocess: round sizes to a multiple of `base` (the official `__make_power_2`)."""

    def fn(img: np.ndarray, **_: Any) -> np.ndarray:
        h, w = img.shape[:2]
        nh, nw = max(base, int(round(h / base) * base)), max(base, int(round(w / base) * base))
        return img if (nh, nw) == (h, w) else cv2.resize(img, (nw, nh), interpolation=cv2.INTER_CUBIC)

    return A.Lambda(image=fn, name="to_multiple")


def build_transform(p: Preprocess, paired: bool) -> A.Compose:
    """The albumentations pipeline for one side (or both sides of an aligned pair: `image`, `image_b`)."""
    ops: list[A.BasicTransform] = []
    if p.preprocess == "resize_and_crop":
        ops += [A.Resize(p.load_size, p.load_size, interpolation=cv2.INTER_CUBIC),
                A.RandomCrop(p.crop_size, p.crop_size)]
    elif p.preprocess == "crop":
        ops += [A.PadIfNeeded(p.crop_size, p.crop_size, border_mode=cv2.BORDER_REFLECT_101),
                A.RandomCrop(p.crop_size, p.crop_size)]
    elif p.preprocess == "scale_width":
        ops += [_scale_width(p.load_size, p.crop_size)]
    elif p.preprocess == "scale_width_and_crop":
        ops += [_scale_width(p.load_size, p.crop_size), A.RandomCrop(p.crop_size, p.crop_size)]
    else:
        ops += [_to_multiple(4)]
    if p.flip:
        ops.append(A.HorizontalFlip(p=0.5))
    if p.augment in ("light", "strong"):
        strength = 0.1 if p.augment == "light" else 0.25
        ops += [A.ColorJitter(brightness=strength, contrast=strength, saturation=strength, hue=strength / 5, p=0.8),
                A.Affine(scale=(1 - strength / 2, 1 + strength / 2), rotate=(-10 * strength, 10 * strength),
                         border_mode=cv2.BORDER_REFLECT_101, p=0.5)]
    if p.augment == "strong":
        ops += [A.GaussNoise(std_range=(0.01, 0.05), p=0.3), A.ImageCompression(quality_range=(40, 95), p=0.3)]
    return A.Compose(ops, additional_targets={"image_b": "image"} if paired else {})


class EpochSampler(torch.utils.data.Sampler[int]):
    """Shuffles `n` items with a permutation fixed by (seed, epoch), and can resume mid-epoch.

    It yields keys `epoch * n + index`, so a data set (even one copied into DataLoader workers)
    knows the epoch of each item and can draw its augmentation from (seed, epoch, index): runs are
    reproducible with any number of workers, and `--resume` replays exactly the batches that were left.
    """

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Start `epoch`, leaving out its first `skip` items (already trained on before a resume)."""
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        base = self.epoch * self.n
        return iter([base + i for i in order[self.skip:]])


def item_rng(seed: int, key: int, n: int) -> tuple[int, np.random.Generator]:
    """(index, generator) for a sampler key: the draw depends only on (seed, epoch, index)."""
    epoch, index = divmod(int(key), n)
    return index, np.random.default_rng([seed, epoch, index])


def _seeded(transform: A.Compose, rng: np.random.Generator) -> A.Compose:
    transform.set_random_seed(int(rng.integers(2**31 - 1)))
    return transform


def _ab_dirs(root: Path, phase: str) -> tuple[Path, Path] | None:
    for a, b in ((f"{phase}A", f"{phase}B"), ("A", "B")):
        if (root / a).is_dir() and (root / b).is_dir():
            return root / a, root / b
    return None


def _nonempty(paths: list[Path], where: Path) -> list[Path]:
    if not paths:
        raise InputError(where, f"no images found (looked for {', '.join(sorted(IMAGE_EXTS))})")
    return paths


class AlignedDataset(Dataset):
    """Pairs (A, B) for pix2pix; `direction="BtoA"` swaps them."""

    def __init__(self, root: str | Path, pre: Preprocess, direction: str = "AtoB", phase: str = "train",
                 max_items: int | None = None) -> None:
        root = Path(root)
        if not root.is_dir():
            raise InputError(root, "data folder does not exist")
        self.pre, self.direction, self.seed = pre, direction, 0
        self.transform = build_transform(pre, paired=True)
        dirs = _ab_dirs(root, phase) or _ab_dirs(root, "")
        if dirs is not None:  # two folders of same-named files
            a_files = {p.relative_to(dirs[0]).with_suffix(""): p for p in find_images(dirs[0])}
            b_files = {p.relative_to(dirs[1]).with_suffix(""): p for p in find_images(dirs[1])}
            common = sorted(set(a_files) & set(b_files))
            if not common:
                raise InputError(root, f"no same-named image pairs in {dirs[0].name}/ and {dirs[1].name}/")
            self.items: list[tuple[Path, Path | None]] = [(a_files[k], b_files[k]) for k in common]
        else:  # official combined layout: A|B side by side
            folder = root / phase if (root / phase).is_dir() else root
            self.items = [(p, None) for p in _nonempty(find_images(folder), folder)]
        if max_items:
            self.items = self.items[:max_items]

    def __len__(self) -> int:
        return len(self.items)

    def load_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        pa, pb = self.items[index]
        if pb is None:
            ab = read_image(pa)
            w2 = ab.shape[1] // 2
            if w2 == 0:
                raise InputError(pa, "too narrow to hold an A|B pair side by side")
            a, b = ab[:, :w2], ab[:, w2:2 * w2]
        else:
            a, b = read_image(pa), read_image(pb)
            if a.shape[:2] != b.shape[:2]:
                b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_CUBIC)
        return (b, a) if self.direction == "BtoA" else (a, b)

    def __getitem__(self, key: int) -> dict[str, Any]:
        index, rng = item_rng(self.seed, key, len(self))
        a, b = self.load_pair(index)
        out = _seeded(self.transform, rng)(image=np.ascontiguousarray(a), image_b=np.ascontiguousarray(b))
        return {"A": image_to_tensor(out["image"]), "B": image_to_tensor(out["image_b"]),
                "path": str(self.items[index][0])}


class UnalignedDataset(Dataset):
    """Unpaired A and B for CycleGAN: item i is A[i % |A|] with a random B (official `serial_batches` off)."""

    def __init__(self, root: str | Path, pre: Preprocess, phase: str = "train", serial: bool = False,
                 max_items: int | None = None, root_b: str | Path | None = None) -> None:
        root = Path(root)
        for folder in (root, Path(root_b)) if root_b is not None else (root,):
            if not folder.is_dir():
                raise InputError(folder, "data folder does not exist")
        dirs = (root, Path(root_b)) if root_b is not None else _ab_dirs(root, phase)
        if dirs is None:
            raise InputError(root, f"expected {phase}A/ and {phase}B/ (or A/ and B/) folders of images")
        self.a_paths = _nonempty(find_images(dirs[0]), dirs[0])[:max_items or None]
        self.b_paths = _nonempty(find_images(dirs[1]), dirs[1])[:max_items or None]
        self.transform = build_transform(pre, paired=False)
        self.serial, self.seed = serial, 0

    def __len__(self) -> int:
        return max(len(self.a_paths), len(self.b_paths))

    def __getitem__(self, key: int) -> dict[str, Any]:
        index, rng = item_rng(self.seed, key, len(self))
        pa = self.a_paths[index % len(self.a_paths)]
        pb = self.b_paths[index % len(self.b_paths) if self.serial else int(rng.integers(len(self.b_paths)))]
        a = _seeded(self.transform, rng)(image=read_image(pa))["image"]
        b = _seeded(self.transform, rng)(image=read_image(pb))["image"]
        return {"A": image_to_tensor(a), "B": image_to_tensor(b), "path_A": str(pa), "path_B": str(pb)}


class SingleDataset(Dataset):
    """One folder of images, one side only."""

    def __init__(self, root: str | Path, pre: Preprocess) -> None:
        root = Path(root)
        self.paths = _nonempty(find_images(root), root)
        self.transform = build_transform(pre, paired=False)
        self.seed = 0

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: int) -> dict[str, Any]:
        index, rng = item_rng(self.seed, key, len(self))
        img = _seeded(self.transform, rng)(image=read_image(self.paths[index]))["image"]
        return {"A": image_to_tensor(img), "path": str(self.paths[index])}


def seed_worker(worker_id: int) -> None:
    """Give each DataLoader worker its own numpy/random seed (augmentations are seeded per item)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
