"""Data sets of real faces and the fakes made from them on the fly, for training and validation.

    train = OnlineFakes(faces, faces.indices("train"), {"sbi": 0.6, "swap": 0.4}, seed=0, transform=aug)
    x, y = train[key]      # uint8 (2, S, S, 3): the real crop and its fake; float (2,) labels 0, 1
    val = ValFakes(faces, faces.indices("val"), seed=0)
    x, y, family = val[j]  # one real crop, or one fake of one family (fixed per j)

The ``rerender`` family needs a trained :class:`~facelab.detector.rerender.FaceRenderer` (given
as ``renderer=``), the ``dataset`` family the fake crops of a ``facelab fakes`` data set
(:class:`DatasetFakes`, ``extra=``); validation scores every family the run can make, trained
on or not, so a family left out of the mix is scored as an unseen kind of fake.

Every random choice of item ``key`` comes from :func:`facelab.data.datasets.item_rng`, i.e. from
``(seed, epoch, position, index)``: the fakes of an epoch are new, yet the same for any number
of workers and after a resume. The real face and its fake come out together so that each batch
holds both versions of a face (the net must find the blend, not the person). The train-time
augmentations (:func:`augmentations`) then apply to both alike, each with its own draw: a
camera, a resolution or a JPEG quality says nothing about the label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from facelab.data.datasets import item_rng
from facelab.detector.realfaces import RealFaces
from facelab.detector.rerender import FaceRenderer
from facelab.detector.selfblend import DONOR_FAMILIES, FAMILIES, make_fake
from facelab.errors import InputError
from facelab.io.image import read_image

__all__ = ["ALL_FAMILIES", "DatasetFakes", "OnlineFakes", "ValFakes", "augmentations", "check_families"]

_DONOR_CANDIDATES = 48  # the nearest face among this many random ones of other groups

#: Every family a run can train or validate on: the online ones, and ``dataset``, the fake crops
#: of a ``facelab fakes`` data set given beside the real media.
ALL_FAMILIES = (*FAMILIES, "dataset")


class DatasetFakes:
    """The fake crops of a ``facelab fakes`` data set, read as they are (the ``dataset`` family).

    Args:
        root: the data set folder.
        paths: the fake crops' paths relative to ``root`` (one split's).
        size: the crop side the run trains at. ``facelab fakes`` cuts 224 px crops: larger ones
            (of the same margin, which the trainer checks) are resized down with area averaging,
            as the real-face cache resizes its crops; a smaller one is an InputError.
    """

    def __init__(self, root: str | Path, paths: Sequence[str], size: int) -> None:
        self.root, self.paths, self.size = Path(root), list(paths), size
        if not self.paths:
            raise ValueError("no fake crops in this split of the data set")

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, j: int) -> np.ndarray:
        path = self.root / self.paths[j]
        img = read_image(path)
        h, w = img.shape[:2]
        if h != w or h < self.size or img.ndim != 3:
            raise InputError(path, f"is {w}x{h}, but the run's crops are {self.size}x{self.size}")
        if h != self.size:
            img = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(img)


def augmentations() -> A.Compose:
    """Post-fake augmentations on uint8 ``(S, S, 3)`` crops, real and fake alike (size unchanged).

    Stronger than the data-set trainer's: the real side must not be recognisable by camera,
    resolution or compression, which is what sank a detector trained on a few hundred reals.
    Photometric and resolution changes first, JPEG last (uploads are resized, then re-encoded).
    """
    return A.Compose([
        A.HorizontalFlip(p=0.5),
        A.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.3, hue=0.04, p=0.6),
        A.ToGray(p=0.05),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 5))], p=0.15),
        A.Downscale(scale_range=(0.35, 0.9), p=0.3),
        A.GaussNoise(std_range=(0.01, 0.06), p=0.2),
        A.ImageCompression(quality_range=(30, 100), p=0.6),
    ])


def check_families(mix: Mapping[str, float]) -> dict[str, float]:
    """``mix`` normalised to sum 1; ValueError for unknown families or no positive weight."""
    unknown = [f for f in mix if f not in ALL_FAMILIES]
    if unknown:
        raise ValueError(f"unknown fake family {', '.join(unknown)}; choose from {', '.join(ALL_FAMILIES)}")
    total = sum(w for w in mix.values() if w > 0)
    if not total > 0:
        raise ValueError("the fake mix needs at least one family with a positive weight")
    return {f: w / total for f, w in mix.items() if w > 0}


class _Faces:
    """Shared access: a crop as an owned array, its landmarks, a donor for swaps, the renderer."""

    def __init__(self, faces: RealFaces, indices: Sequence[int] | np.ndarray,
                 renderer: FaceRenderer | None = None, extra: DatasetFakes | None = None) -> None:
        self.faces, self.indices, self.renderer = faces, np.asarray(indices, dtype=np.int64), renderer
        self.extra = extra
        if self.indices.size == 0:
            raise ValueError("no real faces in this split")
        lm = faces.lm68[self.indices].astype(np.float32)
        centred = lm - lm.mean(axis=1, keepdims=True)
        self._shape = (centred / np.linalg.norm(centred, axis=(1, 2), keepdims=True).clip(1e-6)).reshape(len(lm), -1)
        self._group = faces.group[self.indices]

    def crop(self, i: int) -> np.ndarray:
        return np.array(self.faces.crops[i])

    def donor(self, pos: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
        """The face of another group whose landmark shape is nearest, among random candidates."""
        cand = rng.integers(0, len(self.indices), _DONOR_CANDIDATES)
        cand = cand[self._group[cand] != self._group[pos]]
        if cand.size == 0:
            return None
        best = cand[int(np.argmin(((self._shape[cand] - self._shape[pos]) ** 2).sum(axis=1)))]
        j = int(self.indices[best])
        return self.crop(j), self.faces.lm68[j]

    def real(self, pos: int) -> np.ndarray:
        return self.crop(int(self.indices[pos]))

    def fake(self, family: str, pos: int, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A fake of ``family`` from ``img``, the crop at ``pos`` (read once by the caller)."""
        if family == "dataset":
            if self.extra is None:
                raise ValueError("the dataset family needs a `facelab fakes` data set")
            return self.extra.read(int(rng.integers(len(self.extra))))
        lm = self.faces.lm68[int(self.indices[pos])]
        donor = self.donor(pos, rng) if family in DONOR_FAMILIES else None
        if family in DONOR_FAMILIES and donor is None:
            family = "sbi"  # a split with one group has no donor
        rendered = None
        if family == "rerender":
            if self.renderer is None:
                raise ValueError("the rerender family needs a trained face renderer")
            rendered = self.renderer.render(img, "a" if rng.random() < 0.5 else "b")
        return make_fake(family, img, lm, rng, donor, rendered)


class OnlineFakes(Dataset):
    """Pairs ``(real, fake)`` of the faces at ``indices``, keyed by :class:`~facelab.detector.train.CropSampler`.

    Args:
        faces: the real-face cache.
        indices: the crops of the split to draw from.
        mix: fake family -> weight (:data:`facelab.detector.selfblend.FAMILIES`).
        seed: run seed.
        transform: augmentations applied to each output image (None: none).
        renderer: the face renderer of the ``rerender`` family (needed when the mix has it).
        extra: the fake crops of the ``dataset`` family (needed when the mix has it).
    """

    def __init__(self, faces: RealFaces, indices: Sequence[int] | np.ndarray, mix: Mapping[str, float], seed: int = 0,
                 transform: A.Compose | None = None, renderer: FaceRenderer | None = None,
                 extra: DatasetFakes | None = None) -> None:
        self.data = _Faces(faces, indices, renderer, extra)
        mix = check_families(mix)
        self.families, self.p = list(mix), np.array(list(mix.values()))
        self.seed, self.transform = seed, transform

    def __len__(self) -> int:
        return len(self.data.indices)

    def _augment(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.transform is None:
            return img
        self.transform.set_random_seed(int(rng.integers(2**31 - 1)))
        return self.transform(image=img)["image"]

    def __getitem__(self, key: int) -> tuple[torch.Tensor, torch.Tensor]:
        pos, rng = item_rng(self.seed, key, len(self))
        family = self.families[int(rng.choice(len(self.families), p=self.p))]
        real = self.data.real(pos)
        fake = self.data.fake(family, pos, real, rng)
        pair = np.stack([self._augment(real, rng), self._augment(fake, rng)])
        return torch.from_numpy(pair), torch.tensor([0.0, 1.0])


class ValFakes(Dataset):
    """Every validation real crop, and one fake of it per family: ``(image, label, family index)``.

    Item ``j`` is crop ``j // (1 + F)``: slot 0 the real crop (family -1), slot ``k`` its fake of
    ``families[k - 1]`` (family index into :data:`ALL_FAMILIES`), fixed by
    ``(seed, crop, k)`` so every epoch scores the same images.
    No augmentation: the val reals come from sources training never saw, which is the test.
    """

    def __init__(self, faces: RealFaces, indices: Sequence[int] | np.ndarray, seed: int = 0,
                 families: Sequence[str] | None = None, renderer: FaceRenderer | None = None,
                 extra: DatasetFakes | None = None) -> None:
        if families is None:  # every family this run can make
            families = [f for f in FAMILIES if f != "rerender" or renderer is not None]
            families += ["dataset"] if extra is not None else []
        self.data, self.seed, self.families = _Faces(faces, indices, renderer, extra), seed, list(families)

    def __len__(self) -> int:
        return len(self.data.indices) * (1 + len(self.families))

    def __getitem__(self, j: int) -> tuple[torch.Tensor, float, int]:
        pos, slot = divmod(int(j), 1 + len(self.families))
        img = self.data.real(pos)
        if slot == 0:
            return torch.from_numpy(img), 0.0, -1
        rng = np.random.default_rng([self.seed, 7919, pos, slot])
        family = self.families[slot - 1]
        return torch.from_numpy(self.data.fake(family, pos, img, rng)), 1.0, ALL_FAMILIES.index(family)
