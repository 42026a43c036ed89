"""Pluggable facial landmark backends: MTCNN's 5 points (default) or dlib's 68 points (optional).

    backend = get_landmark_backend("5pt")          # or "dlib68"
    points = backend(image, faces)                 # one (N, 2) array per face

Convention:
    * ``image`` is ``uint8 (H, W, 3)`` RGB; ``faces`` are :class:`facelab.faces.detect.Face`.
    * Points are ``float32 (N, 2)`` ``(x, y)`` in image pixels, pixel centres at integer
      coordinates (:mod:`facelab.faces.align`).
    * ``FivePoint`` order: left eye, right eye, nose tip, left and right mouth corner, as seen in
      the image. ``Dlib68`` order: the iBUG 300-W 68-point markup (0-16 jaw, 17-26 eyebrows,
      27-35 nose, 36-47 eyes, 48-67 mouth; "left" and "right" as seen in the image).

Alignment (:func:`facelab.faces.align.align_face`) always uses the five points; the 68 points
serve masks and landmark-motion features.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from facelab.errors import ConfigError
from facelab.faces.detect import Face

__all__ = ["DLIB_HINT", "Dlib68", "FivePoint", "LandmarkBackend", "dlib_available", "dlib_model_path",
           "get_landmark_backend"]

log = logging.getLogger(__name__)

#: What to tell a user who asked for dlib's landmarks without the extra installed.
DLIB_HINT = (
    'dlib\'s 68-point landmarks need the optional extra: pip install "facelab[dlib]" '
    "(dlib-bin and face-recognition-models). The 68-point model is trained on the iBUG 300-W "
    "data and is licensed for NON-COMMERCIAL use only"
)


@runtime_checkable
class LandmarkBackend(Protocol):
    """Anything that gives landmarks for detected faces.

    Attributes:
        name: short name, as accepted by :func:`get_landmark_backend`.
        points: number of points per face.
    """

    name: str
    points: int

    def __call__(self, image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        """One ``float32 (points, 2)`` array per face, in the order of ``faces``."""
        ...


class FivePoint:
    """MTCNN's own five landmarks (no extra model, no extra time)."""

    name = "5pt"
    points = 5

    def __call__(self, image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        return [np.array(f.landmarks, dtype=np.float32) for f in faces]


class Dlib68:
    """dlib's 68-point shape predictor (an ensemble of regression trees, Kazemi & Sullivan 2014).

    Needs the optional extra ``pip install "facelab[dlib]"`` (``dlib-bin`` and
    ``face-recognition-models``, which ships ``shape_predictor_68_face_landmarks.dat``).

    **Licence: NON-COMMERCIAL.** The model is trained on the iBUG 300-W data set, whose terms
    exclude commercial use; dlib's code is Boost-licensed, the model file is not. Do not use this
    backend in a commercial product.

    The predictor starts from the MTCNN box of each face. It was trained on boxes of dlib's HOG
    detector, which are somewhat tighter; points are still good for masks and motion features,
    but not as exact as on dlib's own boxes.

    Args:
        model_path: a ``shape_predictor_68_face_landmarks.dat``; by default the one in
            ``face_recognition_models``.

    Raises:
        ConfigError: dlib or the model is not installed (the message says what to install).
    """

    name = "dlib68"
    points = 68

    def __init__(self, model_path: str | Path | None = None) -> None:
        try:
            import dlib  # lazy: optional extra
        except ImportError:
            raise ConfigError(DLIB_HINT) from None
        path = Path(model_path) if model_path is not None else _default_dlib_model()
        if not path.is_file():
            raise ConfigError(f"{path}: dlib landmark model not found. {DLIB_HINT}")
        self._dlib: Any = dlib
        self._predictor: Any = dlib.shape_predictor(str(path))
        log.info("dlib 68-point landmarks from %s (non-commercial licence)", path)

    @property
    def dlib(self) -> Any:
        """The ``dlib`` module (for callers that need its other models, e.g. face embeddings)."""
        return self._dlib

    @property
    def predictor(self) -> Any:
        """The raw ``dlib.shape_predictor`` (its shapes feed dlib's face-embedding network)."""
        return self._predictor

    def __call__(self, image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        img = np.ascontiguousarray(image)
        out = []
        for f in faces:
            x1, y1, x2, y2 = (round(float(v)) for v in f.box)
            shape = self._predictor(img, self._dlib.rectangle(x1, y1, x2, y2))
            out.append(np.array([[pt.x, pt.y] for pt in shape.parts()], dtype=np.float32))
        return out


def _default_dlib_model() -> Path:
    return dlib_model_path("shape_predictor_68_face_landmarks.dat")


def dlib_model_path(name: str) -> Path:
    """A model file of ``face_recognition_models`` (the ``dlib`` extra), e.g.
    ``dlib_face_recognition_resnet_model_v1.dat`` (128-d face embeddings).

    Raises:
        ConfigError: the extra is not installed, or the file is missing.
    """
    # Locate the file without importing face_recognition_models (its import needs pkg_resources).
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise ConfigError(DLIB_HINT)
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise ConfigError(f"{path}: dlib model not found. {DLIB_HINT}")
    return path


@functools.lru_cache(maxsize=1)
def _shared_dlib68() -> Dlib68:
    # Loading the 100 MB model takes 1-2 s: a batch of swaps (one call per file) shares one.
    # dlib's shape predictor keeps no state between calls, so sharing it is safe.
    return Dlib68()


def dlib_available() -> bool:
    """Whether dlib and its 68-point model are installed (without loading the model)."""
    if importlib.util.find_spec("dlib") is None:
        return False
    try:
        return _default_dlib_model().is_file()
    except ConfigError:
        return False


def get_landmark_backend(name: str = "5pt") -> LandmarkBackend:
    """``"5pt"`` (:class:`FivePoint`) or ``"dlib68"`` (:class:`Dlib68`, optional extra).

    Raises:
        ConfigError: unknown name, or dlib missing.
    """
    if name == "5pt":
        return FivePoint()
    if name == "dlib68":
        return _shared_dlib68()
    raise ConfigError(f"unknown landmark backend {name!r}; choose 5pt or dlib68")
