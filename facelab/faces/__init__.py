"""Faces: detection (MTCNN), tracking, 5-point alignment, landmarks and crop extraction.

The data flow, each stage passing typed values to the next:

    frame --FaceDetector--> [Face] --FaceTracker--> [TrackedFace] --align_face--> AlignedFace
                                                                  <--warp_to_frame-- edited crop

Conventions (pixel centres at integer coordinates, matrices image -> crop) are in
:mod:`facelab.faces.align`; the guide is ``docs/faces.md``.
"""

from facelab.faces.align import (
    ARCFACE_5PT,
    AlignedFace,
    align_face,
    estimate_similarity,
    invert_affine,
    template,
    transform_points,
    warp_to_frame,
)
from facelab.faces.detect import Face, FaceDetector
from facelab.faces.landmarks import (
    Dlib68,
    FivePoint,
    LandmarkBackend,
    get_landmark_backend,
)
from facelab.faces.track import FaceTracker, OneEuroParams, TrackedFace, track_video

__all__ = [
    "ARCFACE_5PT",
    "AlignedFace",
    "Dlib68",
    "Face",
    "FaceDetector",
    "FaceTracker",
    "FivePoint",
    "LandmarkBackend",
    "OneEuroParams",
    "TrackedFace",
    "align_face",
    "estimate_similarity",
    "get_landmark_backend",
    "invert_affine",
    "template",
    "track_video",
    "transform_points",
    "warp_to_frame",
]
