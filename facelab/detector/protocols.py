"""What ``facelab detect``'s pipeline (:mod:`facelab.detector.pipeline`) needs of its three models.

    detect_file(path, cfg, detector=FaceDetector(), classifier=load_classifier(run), scorer=load_landmark_scorer())

facelab's own classes meet these shapes; anything else with the same members can stand in for
them (a stub in a test, another face detector or classifier), and mypy checks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from facelab.faces.track import Detector

if TYPE_CHECKING:
    from facelab.detector.crops import CropSpec
    from facelab.faces.detect import Face

__all__ = ["CropClassifier", "FaceFinder", "MotionScorer"]


class FaceFinder(Detector, Protocol):
    """The face detector (:class:`~facelab.faces.detect.FaceDetector`): ``detect`` finds faces in
    a photo or a video frame; ``refine`` re-detects tracked faces at their last boxes, on the frames
    between full detections (``DetectConfig.refine``), None where a face is lost."""

    def refine(self, image: np.ndarray, boxes: Sequence[np.ndarray]) -> list[Face | None]: ...


class CropClassifier(Protocol):
    """The real/fake crop classifier (:class:`~facelab.detector.cnn.FakeClassifier`).

    ``spec``: the crop geometry it was trained on; ``threshold``: the fake probability at which a
    crop counts as fake; ``predict``: uint8 ``(S, S, 3)`` RGB crops -> fake probabilities ``(n,)``;
    ``gradcam``: a crop's ``(S, S)`` map in ``[0, 1]`` for the report; ``describe``: plain-JSON
    facts for the result's ``cnn.details``.
    """

    @property
    def spec(self) -> CropSpec: ...

    @property
    def threshold(self) -> float: ...

    def predict(self, crops: Sequence[np.ndarray], batch_size: int = 32) -> np.ndarray: ...

    def gradcam(self, crop: np.ndarray) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


class MotionScorer(Protocol):
    """The landmark-motion scorer (:class:`~facelab.detector.landmark_scorer.LandmarkScorer`):
    ``score`` maps window features ``(n, d)`` to fake probabilities ``(n,)``, fake at and above
    ``threshold``; ``kind`` names it in the results."""

    @property
    def kind(self) -> str: ...

    @property
    def threshold(self) -> float: ...

    def score(self, X: np.ndarray) -> np.ndarray: ...
