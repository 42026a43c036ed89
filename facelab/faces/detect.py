"""Face detection with MTCNN (facenet-pytorch, bundled weights: works offline).

    detector = FaceDetector()                 # CUDA when present, else the CPU
    faces = detector.detect(image)            # list[Face], largest first
    for face in faces:
        face.box, face.score, face.landmarks  # (4,), float, (5, 2)

Convention:
    * Images are ``uint8`` arrays of shape ``(H, W, 3)`` in **RGB** order (:mod:`facelab.io`).
    * Coordinates are ``(x, y)`` in pixels of the image passed in, ``x`` to the right, ``y`` down,
      **pixel centres at integer coordinates** (the centre of the top-left pixel is ``(0, 0)``),
      as in ``cv2.warpAffine`` and :mod:`facelab.faces.align`.
    * ``box`` is ``(x1, y1, x2, y2)``: MTCNN's box, as facenet-pytorch returns it. A box may
      reach past the image edges when a face is cut off.
    * Values are kept as facenet-pytorch returns them. Measured on the test photos, its
      landmarks sit about one detection-image pixel right of the mirror-symmetric position
      (flip test: +0.5 to +1.5 px in ``x`` on 8 faces; detecting on 2x and 3x shrunk copies gives
      +0.8 px in ``x`` and about +0.5 px in ``y``), a trace of MTCNN's 1-based MATLAB origin.
      That is 1 % of a 100-pixel face, below MTCNN's frame-to-frame noise, so it is not
      corrected; when detecting on a frame shrunk ``s`` times it grows to about ``s`` pixels.
    * ``landmarks`` are five ``(x, y)`` points in facenet-pytorch's order: left eye, right eye,
      nose tip, left mouth corner, right mouth corner, **as seen in the image** (the "left eye" is
      the one with the smaller ``x`` in an upright frontal face: the person's right eye).

Decisions:
    * Large frames are shrunk (``cv2.INTER_AREA``) so that their longer side is at most
      ``max_side`` pixels before detection, and boxes and landmarks are mapped back with the
      pixel-centre rule ``x = (x' + 0.5) * s - 0.5``. MTCNN's image pyramid starts at the
      smallest face size, so a 1080p frame costs about four times a 960-pixel one while faces
      that are too small to be found after shrinking (below ``12 * s`` pixels) are rarely wanted.
    * ``min_score`` (0.9) is applied on top of MTCNN's third-stage threshold (0.7): between the
      two MTCNN keeps mostly false positives (fabric, hair, patterned walls).
    * :meth:`FaceDetector.refine` runs only MTCNN's last stage (O-Net) on boxes the caller
      already has, e.g. a tracked face's box from the previous frame: one 48x48 crop per face
      instead of the image pyramid, about 1 ms a face on the CPU against 100-250 ms for a
      720p-1080p frame. It is how :class:`~facelab.faces.track.FaceTracker` gets detector
      landmarks on every frame while running the full detector only every k-th.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from facelab.device import one_cpu_thread, resolve_device

__all__ = ["Face", "FaceDetector"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Face:
    """One detected face.

    Attributes:
        box: ``float32 (4,)`` ``x1, y1, x2, y2`` in pixels (see the module's convention).
        score: detection probability in ``[0, 1]``.
        landmarks: ``float32 (5, 2)`` ``(x, y)`` of left eye, right eye, nose, left and right
            mouth corner, as seen in the image.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    def __post_init__(self) -> None:
        box = np.asarray(self.box, dtype=np.float32).reshape(4)
        lm = np.asarray(self.landmarks, dtype=np.float32)
        if lm.shape != (5, 2):
            raise ValueError(f"landmarks must have shape (5, 2), got {lm.shape}")
        box.flags.writeable = False
        lm.flags.writeable = False
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "landmarks", lm)
        object.__setattr__(self, "score", float(self.score))

    @property
    def width(self) -> float:
        """``x2 - x1`` in pixels."""
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        """``y2 - y1`` in pixels."""
        return float(self.box[3] - self.box[1])

    @property
    def center(self) -> np.ndarray:
        """``float32 (2,)`` centre ``(x, y)`` of the box."""
        return np.array(
            [(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2], dtype=np.float32
        )

    @property
    def area(self) -> float:
        """Box area in square pixels (0 for a degenerate box)."""
        return max(self.width, 0.0) * max(self.height, 0.0)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready ``{"box": [4 floats], "score": float, "landmarks": [[x, y] * 5]}``."""
        return {
            "box": [round(float(v), 3) for v in self.box],
            "score": round(self.score, 6),
            "landmarks": [[round(float(x), 3), round(float(y), 3)] for x, y in self.landmarks],
        }


class FaceDetector:
    """MTCNN face detector returning typed :class:`Face` results.

    Wraps ``facenet_pytorch.MTCNN(keep_all=True)`` and its bundled weights (no download). Only
    the low-level detection is used (boxes, probabilities, landmarks), never its cropping.

    Args:
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        min_face_size: smallest face, in pixels of the detection image, that MTCNN's pyramid
            looks for (facenet-pytorch's default 20). Frames shrunk for ``max_side`` search at
            ``max(12, min_face_size * s)`` so the pyramid does not upsample.
        thresholds: MTCNN's P-Net, R-Net and O-Net score thresholds.
        factor: scale step of the image pyramid (0.709, the paper's value).
        min_score: faces scoring below this are dropped.
        max_side: frames whose longer side exceeds this are shrunk to it for detection (results
            are in the original frame's pixels); None turns this off.

    Example::

        detector = FaceDetector(device="cpu")
        faces = detector.detect(read_image("group.jpg"))
        print(len(faces), faces[0].box, faces[0].landmarks)
    """

    def __init__(
        self,
        device: str = "auto",
        *,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        min_score: float = 0.9,
        max_side: int | None = 960,
    ) -> None:
        from facenet_pytorch import MTCNN  # type: ignore[import-untyped]  # here: pulls in torchvision

        if max_side is not None and max_side < 48:
            raise ValueError(f"max_side must be at least 48 pixels or None, got {max_side}")
        if min_face_size < 12:
            raise ValueError(f"min_face_size must be at least 12 (MTCNN's window), got {min_face_size}")
        self.device = resolve_device(device)
        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.factor = float(factor)
        self.min_score = float(min_score)
        self.max_side = None if max_side is None else int(max_side)
        self._mtcnn = MTCNN(
            keep_all=True,
            min_face_size=self.min_face_size,
            thresholds=list(self.thresholds),
            factor=self.factor,
            post_process=False,
            select_largest=True,
            device=self.device,
        ).eval()

    def config(self) -> dict[str, object]:
        """The settings, JSON-ready (saved beside outputs)."""
        return {
            "detector": "mtcnn (facenet-pytorch 2.5.3, bundled weights)",
            "min_face_size": self.min_face_size,
            "thresholds": list(self.thresholds),
            "factor": self.factor,
            "min_score": self.min_score,
            "max_side": self.max_side,
        }

    def __call__(self, image: np.ndarray) -> list[Face]:
        return self.detect(image)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in one ``uint8 (H, W, 3)`` RGB image, largest box first (empty when none)."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces in several same-size images, run as one MTCNN batch.

        Returns:
            One list per image, each sorted by box area, largest first.

        Raises:
            ValueError: an image is not ``uint8 (H, W, 3)``, or the images differ in size.
        """
        if len(images) == 0:
            return []
        for im in images:
            _check_image(im)
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            raise ValueError(f"detect_batch needs same-size images, got {sorted(shapes)}")
        h, w = images[0].shape[:2]
        scale = 1.0
        if self.max_side is not None and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            batch = np.stack([cv2.resize(im, size, interpolation=cv2.INTER_AREA) for im in images])
            sx, sy = w / size[0], h / size[1]
            self._mtcnn.min_face_size = max(12, round(self.min_face_size * min(size[0] / w, size[1] / h)))
        else:
            batch = np.stack([np.ascontiguousarray(im) for im in images])
            sx = sy = 1.0
            self._mtcnn.min_face_size = self.min_face_size
        if min(batch.shape[1], batch.shape[2]) < self._mtcnn.min_face_size:
            # smaller than the smallest face: MTCNN's pyramid would be empty (and it fails on that)
            return [[] for _ in images]
        with torch.inference_mode():
            boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
        out: list[list[Face]] = []
        for b, p, pts in zip(boxes, probs, points):
            out.append(self._to_faces(b, p, pts, sx, sy))
        return out

    def refine(self, image: np.ndarray, boxes: Sequence[np.ndarray]) -> list[Face | None]:
        """Re-detect known faces with MTCNN's last stage (O-Net) only.

        Each box is made square about its centre (MTCNN's ``rerec``), cut from ``image`` at full
        resolution (clipped to the image, as facenet-pytorch does), shrunk to 48x48 (area averaging) and scored by O-Net in one batch. Box regression and
        landmarks are decoded as facenet-pytorch decodes its third stage.

        Args:
            image: ``uint8 (H, W, 3)`` RGB.
            boxes: ``(x1, y1, x2, y2)`` per face, e.g. the faces' boxes in the previous frame.

        Returns:
            Per box, the refined :class:`Face`, or None where O-Net's score is below MTCNN's
            third-stage threshold (``thresholds[2]``, 0.7; not ``min_score``, which guards
            against new false positives: these boxes are faces already).
        """
        _check_image(image)
        if len(boxes) == 0:
            return []
        h, w = image.shape[:2]
        sq = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
        side = np.maximum(sq[:, 2] - sq[:, 0], sq[:, 3] - sq[:, 1])
        cx, cy = (sq[:, 0] + sq[:, 2]) / 2, (sq[:, 1] + sq[:, 3]) / 2
        sq = np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)
        crops = np.zeros((len(sq), 48, 48, 3), np.float32)
        for k, (x1, y1, x2, y2) in enumerate(np.trunc(sq).astype(np.int64)):
            # facenet-pytorch's third-stage crop: rows y1-1 .. y2-1 and columns x1-1 .. x2-1,
            # clipped to the image (a face cut off by the frame edge is squashed, not padded:
            # O-Net scores such faces as the full detector does, where zero padding loses them)
            x0, y0, x3, y3 = max(0, x1 - 1), max(0, y1 - 1), min(w, x2), min(h, y2)
            if x3 > x0 and y3 > y0:
                crops[k] = cv2.resize(image[y0:y3, x0:x3].astype(np.float32), (48, 48), interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(crops).permute(0, 3, 1, 2).to(self.device)
        with torch.inference_mode(), one_cpu_thread(self.device):  # too small to split over cores
            reg, points, prob = self._mtcnn.onet((x - 127.5) * 0.0078125)
        reg, points, score = reg.float().cpu().numpy(), points.float().cpu().numpy(), prob[:, 1].float().cpu().numpy()
        size = side + 1  # facenet-pytorch's w = x2 - x1 + 1
        out: list[Face | None] = []
        for k in range(len(sq)):
            if score[k] < self.thresholds[2]:
                out.append(None)
                continue
            lm = np.stack([size[k] * points[k, :5] + sq[k, 0] - 1, size[k] * points[k, 5:] + sq[k, 1] - 1], axis=1)
            box = sq[k] + reg[k] * size[k]
            out.append(Face(box=box, score=float(score[k]), landmarks=lm))
        return out

    def _to_faces(self, boxes: object, probs: object, points: object, sx: float, sy: float) -> list[Face]:
        if boxes is None:
            return []
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        p = np.asarray(probs, dtype=np.float64).reshape(-1)
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 5, 2)
        keep = p >= self.min_score
        b, p, pts = b[keep], p[keep], pts[keep]
        if sx != 1.0 or sy != 1.0:
            # pixel centres at integer coordinates: x = (x' + 0.5) * s - 0.5
            b[:, 0::2] = (b[:, 0::2] + 0.5) * sx - 0.5
            b[:, 1::2] = (b[:, 1::2] + 0.5) * sy - 0.5
            pts[..., 0] = (pts[..., 0] + 0.5) * sx - 0.5
            pts[..., 1] = (pts[..., 1] + 0.5) * sy - 0.5
        faces = [Face(box=bb, score=float(pp), landmarks=ll) for bb, pp, ll in zip(b, p, pts)]
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces


def _check_image(img: np.ndarray) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        desc = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
        raise ValueError(f"expected a uint8 (H, W, 3) RGB image, got {desc}")
