"""The face crop every detector stage sees: aligned to the ArcFace template, 224 px, margin 0.3.

Why this crop: the classifier should see the whole swapped region and its border (blending
seams, colour mismatch at the jaw and forehead are the strongest cues), so the crop spans about
1.3x the ArcFace square, roughly 1.3x the MTCNN box. Aligning removes in-plane rotation and
scale, so the network spends its capacity on texture, not pose.

The crop geometry is stored in every detector checkpoint (``meta["crop"]``) and in the data
set's ``dataset.json``; a checkpoint is always applied with the geometry it was trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from facelab.faces.align import AlignedFace, align_face

__all__ = ["CROP", "CropSpec", "face_crop"]


@dataclass(frozen=True)
class CropSpec:
    """Crop geometry: side in pixels and template margin (see :func:`facelab.faces.align.template`)."""

    size: int = 224
    margin: float = 0.3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CropSpec:
        return cls(size=int(d["size"]), margin=float(d["margin"]))


CROP = CropSpec()


def face_crop(frame: np.ndarray, landmarks: np.ndarray, spec: CropSpec = CROP) -> AlignedFace:
    """Align the face with these 5 landmarks to the detector crop.

    Args:
        frame: ``uint8 (H, W, 3)`` RGB.
        landmarks: ``(5, 2)`` MTCNN landmarks in frame pixels.
        spec: crop geometry.

    Returns:
        :class:`~facelab.faces.align.AlignedFace` whose ``crop`` is ``uint8 (size, size, 3)``.
    """
    return align_face(frame, landmarks, size=spec.size, margin=spec.margin, border="reflect")
