"""Swap one face: align the target, get the new face in the aligned frame, mask, colour, blend.

    source = OneShotSource.from_photo("biden.jpg", detector, settings)
    new_frame, mask = swap_face(frame, target_landmarks, source, settings)

A *face source* gives the new face as an aligned crop, in the same template as the target's
crop. Two kinds:

- `OneShotSource`: one photo of the source person, aligned once. Since both faces are aligned
  to the same 5-point template, pasting the source crop back through the target's inverse
  similarity puts the source's eyes, nose and mouth on the target's (the similarity is fitted
  to all five points, so they land on them in the least-squares sense).
- `TranslatorSource`: a translator (a CycleGAN or Pix2Pix generator trained on aligned faces of
  two identities) turns the target's own aligned face into the other identity: pose and
  expression follow the target, frame by frame.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from facelab.errors import ConfigError, InputError
from facelab.faces.align import AlignedFace, align_face, template, transform_points
from facelab.faces.blend import BLEND_MODES, COLOR_METHODS, BlendMode, paste_face
from facelab.faces.color import ColorMethod
from facelab.faces.mask import crop_face_mask, refine
from facelab.faces.warp import piecewise_affine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SwapSettings:
    """How faces are aligned, masked, colour-corrected and blended.

    `margin` widens the ArcFace crop (see facelab.faces.align.template); `erode` and `feather`
    are fractions of the crop size (0.03 and 0.05 of 256 px = 8 and 13 px).
    """

    size: int = 256
    margin: float = 0.2
    mask: str = "ellipse"
    mask_scale: float = 1.0
    erode: float = 0.03
    feather: float = 0.05
    blend: BlendMode = "alpha"
    color: ColorMethod = "reinhard"
    landmarks: str = "5pt"  # "dlib68": dense landmarks, the one-shot face is bent piecewise-affinely


    def __post_init__(self) -> None:
        if self.blend not in BLEND_MODES:
            raise ConfigError(f"unknown blend {self.blend!r}; choose one of {', '.join(BLEND_MODES)}")
        if self.color not in COLOR_METHODS:
            raise ConfigError(f"unknown colour transfer {self.color!r}; choose one of {', '.join(COLOR_METHODS)}")
        if self.mask not in ("ellipse", "hull"):
            raise ConfigError(f"unknown mask {self.mask!r}; choose ellipse or hull")
        if self.mask == "hull" and self.landmarks == "5pt":
            raise ConfigError("a hull mask needs dense landmarks (--landmarks dlib68); with 5 points use ellipse")
        if not 32 <= self.size <= 1024:
            raise ConfigError(f"crop size {self.size} is out of range (32..1024)")

    def crop_mask(self, dense: np.ndarray | None = None) -> np.ndarray:
        """The refined (eroded, feathered) face mask in the aligned crop: float32 (size, size).

        An ellipse from the template's 5 points, or with `mask="hull"` the hull of `dense`
        (the face's dense landmarks in crop coordinates).
        """
        if self.mask == "hull" and dense is not None:
            binary = crop_face_mask(self.size, "hull", landmarks=dense)
        else:
            binary = crop_face_mask(self.size, "ellipse", landmarks=template(self.size, self.margin),
                                    scale=self.mask_scale)
        return refine(binary, int(round(self.erode * self.size)), int(round(self.feather * self.size)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaceSource(Protocol):
    """Gives the new face for a target, as an aligned crop (uint8 (S, S, 3) RGB)."""

    method: str

    def face_for(self, target: AlignedFace, dense: np.ndarray | None = None) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass
class OneShotSource:
    """The source identity from one photo: its largest face, aligned once."""

    aligned: AlignedFace
    path: str
    method: str = "oneshot"
    dense: np.ndarray | None = None  # (N, 2) dense landmarks in the aligned crop, when a backend gave them

    @classmethod
    def from_image(cls, image: np.ndarray, detector: Any, settings: SwapSettings, path: str = "<array>") -> OneShotSource:
        faces = detector.detect(image)
        if not faces:
            raise InputError(path, "no face found in the source photo")
        if len(faces) > 1:
            log.info("%s: %d faces, using the largest", path, len(faces))
        aligned = align_face(image, faces[0].landmarks, settings.size, settings.margin)
        dense = None
        if settings.landmarks != "5pt":
            from facelab.faces.landmarks import get_landmark_backend

            (pts,) = get_landmark_backend(settings.landmarks)(image, [faces[0]])
            dense = transform_points(pts, aligned.M)
        return cls(aligned=aligned, path=str(path), dense=dense)

    @classmethod
    def from_photo(cls, path: str | Path, detector: Any, settings: SwapSettings) -> OneShotSource:
        from facelab.io.image import read_image

        return cls.from_image(read_image(path), detector, settings, str(path))

    def face_for(self, target: AlignedFace, dense: np.ndarray | None = None) -> np.ndarray:
        """The source crop; bent onto the target's dense landmarks (crop coordinates) when both have them."""
        if dense is None or self.dense is None:
            return self.aligned.crop
        return piecewise_affine(self.aligned.crop, self.dense, dense, self.aligned.crop.shape[:2])

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "source": self.path,
                "warp": "piecewise-affine" if self.dense is not None else "similarity (5 points)"}


@dataclass
class TranslatorSource:
    """The new face made by a translator from the target's own aligned face."""

    translator: Any  # facelab.translate.infer.Translator
    weights: str
    method: str = "learned"

    def face_for(self, target: AlignedFace, dense: np.ndarray | None = None) -> np.ndarray:
        return self.translator.translate([target.crop])[0]

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "model": self.weights, "arch": self.translator.info.get("arch")}


def swap_face(frame: np.ndarray, landmarks: np.ndarray, source: FaceSource, settings: SwapSettings,
              crop_mask: np.ndarray | None = None, dense: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Replace the face with these 5 landmarks in `frame` by the source's face.

    `dense`: the target's dense landmarks in frame pixels (e.g. dlib's 68), when available: a
    one-shot source with dense landmarks of its own is then warped piecewise-affinely onto them,
    and a `hull` mask follows their outline.
    Returns (new_frame, frame_mask): pixels where frame_mask == 0 are bit-identical to `frame`.
    """
    target = align_face(frame, landmarks, settings.size, settings.margin)
    dense_crop = transform_points(dense, target.M) if dense is not None else None
    new_face = source.face_for(target, dense_crop)
    if new_face.shape[:2] != (settings.size, settings.size):
        raise ConfigError(f"the face source gave a {new_face.shape[1]}x{new_face.shape[0]} face; "
                          f"the swap works at {settings.size}x{settings.size} (--size)")
    mask = crop_mask if crop_mask is not None else settings.crop_mask(dense_crop)
    return paste_face(frame, new_face, mask, M=target.M, mode=settings.blend, color=settings.color)
