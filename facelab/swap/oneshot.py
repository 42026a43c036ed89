"""Swap one face: align the target, get the new face in the aligned frame, mask, colour, blend.

    source = OneShotSource.from_photo("biden.jpg", detector, settings)
    new_frame, mask = swap_face(frame, target_landmarks, source, settings)

A *face source* gives the new face as an aligned crop, in the same template as the target's
crop. Two kinds:

- `OneShotSource`: one photo of the source person, aligned once. Since both faces are aligned
  to the same 5-point template, pasting the source crop back through the target's inverse
  similarity puts the source's eyes, nose and mouth on the target's (the similarity is fitted
  to all five points, so they land on them in the least-squares sense). With dense landmarks
  (dlib's 68) on both faces the source crop is also bent, triangle by triangle, onto the
  target's landmarks in every frame, so jaw, lips, brows and eyes follow the target's
  expression; what the photo cannot supply (the inside of an open mouth; optionally the eyes)
  is left to the target's own pixels by cutting it out of the mask (`target_parts`).
- `MultiSource`: several photos of the source person; each target face takes the one whose
  head pose is nearest.
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
from facelab.faces.dense import (
    TARGET_PARTS,
    FaceMesh,
    close_mouth,
    face_mesh,
    face_region_mask,
    follow_target,
    mouth_opening,
    pose_proxy,
    target_parts_mask,
)
from facelab.faces.mask import crop_face_mask, refine
from facelab.faces.warp import delaunay, piecewise_affine, triangle_warp

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
    landmarks: str = "5pt"  # "dlib68": dense landmarks, the one-shot face follows the target's expression
    target_parts: str = "mouth"  # with dense landmarks: parts of the target face kept (facelab.faces.dense)

    def __post_init__(self) -> None:
        if self.blend not in BLEND_MODES:
            raise ConfigError(f"unknown blend {self.blend!r}; choose one of {', '.join(BLEND_MODES)}")
        if self.color not in COLOR_METHODS:
            raise ConfigError(f"unknown colour transfer {self.color!r}; choose one of {', '.join(COLOR_METHODS)}")
        if self.mask not in ("ellipse", "hull"):
            raise ConfigError(f"unknown mask {self.mask!r}; choose ellipse or hull")
        if self.mask == "hull" and self.landmarks == "5pt":
            raise ConfigError("a hull mask needs dense landmarks (--landmarks dlib68); with 5 points use ellipse")
        if self.target_parts not in TARGET_PARTS:
            raise ConfigError(f"unknown target parts {self.target_parts!r}; choose one of {', '.join(TARGET_PARTS)}")
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


#: Source photos beyond these limits swap worse (see OneShotSource.warnings): a head turned by
#: more than about 20 degrees (pose_proxy yaw), tilted up or down, an open mouth or a broad smile.
TURNED_YAW = 0.2
PITCH_RANGE = (0.35, 0.8)
OPEN_SOURCE_MOUTH = 0.08  # inner-lip gap, inter-ocular distances
SMILE_WIDTH = 1.05  # mouth-corner distance over inter-ocular distance (dlib's 68: about 0.85 neutral)


@dataclass
class OneShotSource:
    """The source identity from one photo: its largest face, aligned once.

    With dense landmarks (`dense`, in the aligned crop) the crop is bent onto each target's
    dense landmarks through `mesh`, made once here so that a video keeps one triangulation.
    """

    aligned: AlignedFace
    path: str
    method: str = "oneshot"
    dense: np.ndarray | None = None  # (N, 2) dense landmarks in the aligned crop, when a backend gave them
    mesh: FaceMesh | None = None

    def __post_init__(self) -> None:
        self._bendable = self.aligned.crop
        if self.dense is not None and len(self.dense) == 68:
            if self.mesh is None:
                self.mesh = face_mesh(self.dense, self.aligned.crop.shape[0])
            # A smiling or talking source shows teeth between its lips; bent onto a closed target
            # mouth they would be squeezed into a white line. Paint the inside of the lips over
            # from the lips around it: the target's own mouth fills it when open (target_parts).
            self._bendable = close_mouth(self.aligned.crop, self.dense)

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

    @property
    def follows_landmarks(self) -> bool:
        """Whether the face is bent onto a target's dense landmarks (they are needed on both sides)."""
        return self.dense is not None

    @property
    def pose(self) -> tuple[float, float]:
        """(yaw, pitch) proxies of the source face (:func:`facelab.faces.dense.pose_proxy`)."""
        return pose_proxy(self.aligned.crop_landmarks)

    def warnings(self) -> list[str]:
        """Why this photo may swap badly: a turned or tilted head, an open mouth, a broad smile.

        A neutral, closed-mouth, frontal face is best: its pose is what every target frame gets
        unless the target turns the same way, and the dense warp can open a closed mouth (with
        the target's own mouth inside) but cannot close an open one or undo a smile's cheeks.
        """
        out = []
        yaw, pitch = self.pose
        if abs(yaw) > TURNED_YAW:
            out.append(f"the face is turned to the {'right' if yaw > 0 else 'left'} (yaw index {yaw:+.2f}; "
                       f"frontal is 0, |{TURNED_YAW}| is about 20 degrees)")
        if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
            out.append(f"the head is tilted {'down' if pitch > PITCH_RANGE[1] else 'up'} (pitch index {pitch:.2f}; "
                       f"frontal is about 0.5-0.6)")
        if self.dense is not None and len(self.dense) == 68:
            opening = mouth_opening(self.dense)
            if opening > OPEN_SOURCE_MOUTH:
                out.append(f"the mouth is open ({opening:.2f} inter-ocular distances between the lips)")
            iod = float(np.linalg.norm(self.dense[42:48].mean(0) - self.dense[36:42].mean(0)))
            width = float(np.linalg.norm(self.dense[54] - self.dense[48])) / max(iod, 1e-6)
            if width > SMILE_WIDTH:
                out.append(f"the face smiles broadly (mouth {width:.2f} inter-ocular distances wide; "
                           f"neutral is about 0.85)")
        return out

    def face_for(self, target: AlignedFace, dense: np.ndarray | None = None) -> np.ndarray:
        """The source crop; bent onto the target's dense landmarks (crop coordinates) when both have them."""
        if dense is None or self.dense is None:
            return self.aligned.crop
        if self.mesh is not None and len(dense) == 68:
            # Triangulated on the target's points each time: then every output pixel lies in
            # exactly one triangle, and no triangle folds over its neighbour when the target's
            # mouth closes on a source mouth that was open (the warp itself is the same
            # continuous map whatever the triangulation).
            dst = self.mesh.dst(self.landmarks_for(dense))
            size = self.aligned.crop.shape[0]
            return triangle_warp(self._bendable, self.mesh.src(), dst, delaunay(dst, (size, size)))
        return piecewise_affine(self.aligned.crop, self.dense, dense, self.aligned.crop.shape[:2])

    def landmarks_for(self, dense: np.ndarray) -> np.ndarray:
        """Where the source's 68 points go on a target with these 68 points (crop coordinates):
        :func:`facelab.faces.dense.follow_target` (the target's expression on the source's shape)."""
        if self.mesh is None:
            raise ConfigError("this source has no 68-point landmarks to bend")
        return follow_target(self.mesh.points, dense)

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "source": self.path,
                "warp": "piecewise-affine" if self.dense is not None else "similarity (5 points)"}


@dataclass
class MultiSource:
    """Several photos of the source person: each target face takes the one with the nearest pose.

    Pose is compared by :func:`facelab.faces.dense.pose_proxy` of the five aligned points (yaw
    and pitch offsets; in-plane roll is removed by the alignment already), so a target turning
    left gets the source photo turned left, if there is one. `last` is the index of the source
    used for the latest face.
    """

    sources: list[OneShotSource]
    method: str = "oneshot"
    last: int = 0

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError("MultiSource needs at least one source photo")
        self._poses = np.array([s.pose for s in self.sources], np.float64)

    @property
    def follows_landmarks(self) -> bool:
        return all(s.follows_landmarks for s in self.sources)

    def pick(self, target: AlignedFace) -> int:
        """Index of the source whose pose is nearest the target's."""
        yaw, pitch = pose_proxy(target.crop_landmarks)
        d = np.hypot(self._poses[:, 0] - yaw, np.nan_to_num(self._poses[:, 1] - pitch))
        return int(np.argmin(d))

    def face_for(self, target: AlignedFace, dense: np.ndarray | None = None) -> np.ndarray:
        self.last = self.pick(target)
        return self.sources[self.last].face_for(target, dense)

    def landmarks_for(self, dense: np.ndarray) -> np.ndarray:
        return self.sources[self.last].landmarks_for(dense)

    def describe(self) -> dict[str, Any]:
        first = self.sources[0].describe()
        return {**first, "source": first["source"] if len(self.sources) == 1 else
                f"{first['source']} (+{len(self.sources) - 1} more)",
                "sources": [s.path for s in self.sources], "choice": "nearest pose per face"}


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


def default_landmarks() -> str:
    """The one-shot default: ``"dlib68"`` (the face follows the target's expression) when the
    ``dlib`` extra is installed, else ``"5pt"``; the CLI's ``--landmarks auto``, the Python API and
    the demo all use it."""
    from facelab.faces.landmarks import dlib_available

    return "dlib68" if dlib_available() else "5pt"


def swap_face(frame: np.ndarray, landmarks: np.ndarray, source: FaceSource, settings: SwapSettings,
              crop_mask: np.ndarray | None = None, dense: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Replace the face with these 5 landmarks in `frame` by the source's face.

    `dense`: the target's dense landmarks in frame pixels (e.g. dlib's 68), when available: a
    one-shot source with dense landmarks of its own is then bent onto them (its expression
    follows the target's), the mask stops at the jaw line, the target's own mouth (and with
    `settings.target_parts`, its eyes) stays; and a `hull` mask follows their outline.
    Returns (new_frame, frame_mask): pixels where frame_mask == 0 are bit-identical to `frame`.
    """
    target = align_face(frame, landmarks, settings.size, settings.margin)
    dense_crop = transform_points(dense, target.M) if dense is not None else None
    new_face = source.face_for(target, dense_crop)
    if new_face.shape[:2] != (settings.size, settings.size):
        raise ConfigError(f"the face source gave a {new_face.shape[1]}x{new_face.shape[0]} face; "
                          f"the swap works at {settings.size}x{settings.size} (--size)")
    mask = crop_mask if crop_mask is not None else settings.crop_mask(dense_crop)
    bent_points = getattr(source, "landmarks_for", None)  # one-shot sources that bend onto dense landmarks
    if (dense_crop is not None and len(dense_crop) == 68 and bent_points is not None
            and getattr(source, "follows_landmarks", False)):
        # The source's jaw now lies on the target's: what was outside it (background, neck) is
        # outside the target's jaw line, so the mask stops there too.
        # (Both jaw lines count: the bent source's, which goes only half-way to the target's.)
        shrink, soft = round(0.02 * settings.size), max(1, round(0.02 * settings.size))
        mask = (mask * face_region_mask(dense_crop, settings.size, shrink_px=shrink, feather_px=soft)
                * face_region_mask(bent_points(dense_crop), settings.size, shrink_px=shrink, feather_px=soft))
        if settings.target_parts != "none":
            # The bent source has no open mouth inside (its teeth were painted over) and its eyes
            # look where they looked in the photo: keep the target's own pixels there, with a soft
            # edge along the (bent) source lips and lids, which now lie on the target's.
            keep = target_parts_mask(dense_crop, settings.size, settings.target_parts,
                                     feather_px=max(1, round(0.008 * settings.size)))
            mask = mask * (1.0 - keep)
    return paste_face(frame, new_face, mask, M=target.M, mode=settings.blend, color=settings.color)
