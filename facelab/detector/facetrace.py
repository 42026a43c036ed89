"""Per-frame face geometry of each track, for the lip-sync check and the motion fingerprint.

    collector = TraceCollector(dense=True, embed=True)        # dlib 68 points and 128-d embeddings
    for index, frame, tracked in track_video(path, FaceDetector(), refine=True):
        collector.update(index, frame, [(t.track_id, t.raw, t.detected) for t in tracked])
    traces = collector.traces()                               # track id -> FaceTrace

Only **detected** frames are recorded (frames carried by optical flow repeat the flow, not the
face). Per frame a trace keeps MTCNN's five points, dlib's 68 points when asked (the ``dlib``
extra), and a mouth-opening measure from the image between the two mouth corners
(:func:`mouth_patch_opening`), which the lip-sync check uses when there are no 68 points. On a
few frames per track it also keeps dlib's 128-d face embedding (``dlib_face_recognition_resnet_
model_v1``, the ``face_recognition`` model: same person below a distance of about 0.6), which
the motion fingerprint uses to tell "another person" from "this person, moving oddly".

Memory: a few hundred floats per frame and track (68 points dominate), nothing per pixel.

Convention: frames ``uint8 (H, W, 3)`` RGB; points ``(x, y)`` in pixels; five points in MTCNN's
order (left eye, right eye, nose, left and right mouth corner); 68 points in the iBUG order.
"""

from __future__ import annotations

import functools
import logging
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facelab.errors import ConfigError, InputError
from facelab.faces.detect import Face
from facelab.faces.track import track_video
from facelab.io.video import probe_video

__all__ = ["EMBED_EVERY", "FaceTrace", "TraceCollector", "dense_available", "mouth_patch_opening", "trace_video"]

log = logging.getLogger(__name__)

NPZ_FORMAT = "facelab.facetrace/1"
#: Embed one detected frame in this many (dlib's ResNet costs ~100 ms a face on a CPU core).
EMBED_EVERY = 25
#: At most this many embeddings per track (their mean is the track's identity).
MAX_EMBEDDINGS = 12
# The mouth patch: ``_PATCH`` pixels (w, h), spanning the middle 60 % of the corner-to-corner
# line and 0.45 mouth widths above and below it (an open mouth is about 0.3-0.6 widths tall).
_PATCH = (24, 32)
_PATCH_HALF_W = 0.3
_PATCH_HALF_H = 0.45


def mouth_patch_opening(gray: np.ndarray, left: np.ndarray, right: np.ndarray) -> float:
    """How open the mouth looks, from the image between MTCNN's two mouth corners.

    Five landmarks cannot say how far the lips are apart, but the image can: a closed mouth is
    lips and skin with one thin lip line, an open one adds a dark cavity and often bright teeth.
    The patch spanning the middle 60 % of the corner-to-corner line and 0.45 mouth widths above
    and below it is warped upright to a fixed size, and the measure is its contrast (standard
    deviation over mean grey level), which rises as the mouth opens. Its scale differs between
    faces and lighting, so the lip-sync check only uses its changes over time (each window is
    z-scored). On two real talking clips its per-frame correlation with dlib's inner-lip distance
    was 0.72 (GRID, studio light) and 0.43 (VoxCeleb2 interview); a row-darkness count and the
    cavity darkness alone were less consistent (0.61 / 0.18 and 0.83 / 0.08).

    Args:
        gray: ``uint8 (H, W)`` grey frame.
        left, right: the mouth corners ``(x, y)`` in pixels.

    Returns:
        The contrast (NaN when the corners are too close to measure).
    """
    left, right = np.asarray(left, np.float64), np.asarray(right, np.float64)
    d = right - left
    width = float(np.hypot(*d))
    if width < 6.0:
        return math.nan
    u = d / width
    n = np.array([-u[1], u[0]])  # image down when the face is upright
    c = (left + right) / 2
    pw, ph = _PATCH
    # affine map patch -> image: x = c + (px - pw/2) * (2 hw / pw) * u + (py - ph/2) * (2 hh / ph) * n
    hw, hh = _PATCH_HALF_W * width, _PATCH_HALF_H * width
    a = np.column_stack([u * (2 * hw / pw), n * (2 * hh / ph)])
    t = c - a @ np.array([pw / 2, ph / 2])
    patch = cv2.warpAffine(gray, np.hstack([a, t[:, None]]), (pw, ph), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.float64)
    return float(patch.std() / max(float(patch.mean()), 1.0))


@dataclass
class FaceTrace:
    """The detected frames of one face track.

    Attributes:
        track: face track id.
        frames: ``int64 (n,)`` indices of the detected frames, increasing.
        points5: ``float32 (n, 5, 2)`` MTCNN landmarks in pixels.
        mouth_patch: ``float32 (n,)`` :func:`mouth_patch_opening` (NaN where not measurable).
        points68: ``float32 (n, 68, 2)`` dlib landmarks in pixels, or None without the extra.
        embeddings: ``float32 (k, 128)`` dlib face embeddings of some frames, or None.
        fps: the video's frame rate (None when unknown).
        image_size: ``(width, height)`` of the frames.
    """

    track: int
    frames: np.ndarray
    points5: np.ndarray
    mouth_patch: np.ndarray
    points68: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    fps: float | None = None
    image_size: tuple[int, int] = (0, 0)

    def __len__(self) -> int:
        return int(len(self.frames))

    def between(self, start: int, end: int) -> FaceTrace:
        """The frames ``start <= f < end`` (embeddings are kept whole: they say who, not when)."""
        keep = (self.frames >= start) & (self.frames < end)
        return FaceTrace(track=self.track, frames=self.frames[keep], points5=self.points5[keep],
                         mouth_patch=self.mouth_patch[keep],
                         points68=None if self.points68 is None else self.points68[keep],
                         embeddings=self.embeddings, fps=self.fps, image_size=self.image_size)

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` of plain arrays (readable with ``allow_pickle=False``)."""
        n = len(self.frames)
        np.savez_compressed(
            path, format=np.array(NPZ_FORMAT), track=np.array(self.track, np.int64),
            frames=np.asarray(self.frames, np.int64), points5=np.asarray(self.points5, np.float32).reshape(n, 5, 2),
            mouth_patch=np.asarray(self.mouth_patch, np.float32),
            points68=np.zeros((0, 68, 2), np.float32) if self.points68 is None else np.asarray(self.points68, np.float32),
            embeddings=np.zeros((0, 128), np.float32) if self.embeddings is None else np.asarray(self.embeddings, np.float32),
            fps=np.array(math.nan if self.fps is None else self.fps), image_size=np.array(self.image_size, np.int64))

    @classmethod
    def load(cls, path: str | Path) -> FaceTrace:
        """Read a file written by :meth:`save`.

        Raises:
            InputError: missing, damaged, not a face-trace file, or inconsistent shapes.
        """
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as z:
                if "format" not in z.files or str(z["format"]) != NPZ_FORMAT:
                    raise InputError(p, f"not a {NPZ_FORMAT} face-trace file")
                frames = z["frames"].astype(np.int64)
                p68, emb = z["points68"].astype(np.float32), z["embeddings"].astype(np.float32)
                fps = float(z["fps"])
                trace = cls(track=int(z["track"]), frames=frames, points5=z["points5"].astype(np.float32),
                            mouth_patch=z["mouth_patch"].astype(np.float32),
                            points68=p68 if len(p68) else None, embeddings=emb if len(emb) else None,
                            fps=None if math.isnan(fps) else fps,
                            image_size=(int(z["image_size"][0]), int(z["image_size"][1])))
        except InputError:
            raise
        except FileNotFoundError:
            raise InputError(p, "no such face-trace file") from None
        except (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError) as e:
            raise InputError(p, f"not a readable face-trace npz ({e})") from None
        n = len(frames)
        if trace.points5.shape != (n, 5, 2) or trace.mouth_patch.shape != (n,) \
                or (trace.points68 is not None and trace.points68.shape != (n, 68, 2)):
            raise InputError(p, "face-trace arrays have inconsistent shapes")
        return trace


@functools.lru_cache(maxsize=1)
def _dlib_landmarks() -> tuple[Any, Any]:
    """dlib and its 68-point predictor, loaded once per process (about 100 MB, ~1 s to read)."""
    from facelab.faces.landmarks import Dlib68

    lm = Dlib68()
    return lm.dlib, lm.predictor


def dense_available() -> bool:
    """Whether dlib's 68-point landmarks can run here (the ``dlib`` extra); loads them once."""
    try:
        _dlib_landmarks()
    except ConfigError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _dlib_encoder() -> Any:
    """dlib's face-embedding ResNet, loaded once per process."""
    from facelab.faces.landmarks import dlib_model_path

    dlib, _ = _dlib_landmarks()
    return dlib.face_recognition_model_v1(str(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")))


@dataclass
class _State:
    frames: list[int] = field(default_factory=list)
    points5: list[np.ndarray] = field(default_factory=list)
    mouth: list[float] = field(default_factory=list)
    points68: list[np.ndarray] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)


class TraceCollector:
    """Collect :class:`FaceTrace` records while a video streams through.

    Args:
        dense: also run dlib's 68-point predictor on every detected face (needs the ``dlib``
            extra; raises :class:`~facelab.errors.ConfigError` with the install hint otherwise).
        embed: also compute dlib's 128-d face embedding on every :data:`EMBED_EVERY`-th
            detected frame of a track (at most :data:`MAX_EMBEDDINGS`); needs ``dense``.
        fps: the video's frame rate, stored in the traces.
    """

    def __init__(self, *, dense: bool = False, embed: bool = False, fps: float | None = None) -> None:
        if embed and not dense:
            raise ValueError("face embeddings need the 68-point landmarks (dense=True)")
        self.fps = fps
        self._dlib: Any = None
        self._predictor: Any = None
        self._encoder: Any = None
        if dense:
            self._dlib, self._predictor = _dlib_landmarks()  # ConfigError with the install hint without dlib
            if embed:
                self._encoder = _dlib_encoder()
        self._tracks: dict[int, _State] = {}
        self._size = (0, 0)

    def update(self, index: int, frame: np.ndarray, faces: Sequence[tuple[int, Face, bool]]) -> None:
        """Add one frame: ``(track_id, raw face, detected)`` per face; carried faces are skipped."""
        detected = [(t, f) for t, f, d in faces if d]
        if not detected:
            return
        self._size = (int(frame.shape[1]), int(frame.shape[0]))
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        img = np.ascontiguousarray(frame)
        for track, face in detected:
            st = self._tracks.setdefault(int(track), _State())
            lm = np.asarray(face.landmarks, np.float32).reshape(5, 2)
            st.frames.append(int(index))
            st.points5.append(lm)
            st.mouth.append(mouth_patch_opening(gray, lm[3], lm[4]))
            if self._predictor is not None:
                x1, y1, x2, y2 = (round(float(v)) for v in face.box)
                shape = self._predictor(img, self._dlib.rectangle(x1, y1, x2, y2))
                st.points68.append(np.array([[p.x, p.y] for p in shape.parts()], np.float32))
                if self._encoder is not None and (len(st.frames) - 1) % EMBED_EVERY == 0 \
                        and len(st.embeddings) < MAX_EMBEDDINGS:
                    st.embeddings.append(np.asarray(self._encoder.compute_face_descriptor(img, shape), np.float32))

    def traces(self) -> dict[int, FaceTrace]:
        """One :class:`FaceTrace` per track with at least one detected frame."""
        out = {}
        for track, st in sorted(self._tracks.items()):
            n = len(st.frames)
            out[track] = FaceTrace(
                track=track, frames=np.asarray(st.frames, np.int64),
                points5=np.asarray(st.points5, np.float32).reshape(n, 5, 2),
                mouth_patch=np.asarray(st.mouth, np.float32),
                points68=np.asarray(st.points68, np.float32).reshape(n, 68, 2) if self._predictor is not None else None,
                embeddings=np.asarray(st.embeddings, np.float32).reshape(-1, 128) if st.embeddings else None,
                fps=self.fps, image_size=self._size)
        return out


def trace_video(path: str | Path, detector: Any, *, dense: bool = True, embed: bool = False, detect_every: int = 5,
                min_size: float = 40.0, on_frame: Any = None) -> dict[int, FaceTrace]:
    """The face traces of every track of a video, tracked as ``facelab detect`` tracks (MTCNN every
    ``detect_every`` frames, O-Net re-detection in between).

    Args:
        detector: a :class:`~facelab.faces.detect.FaceDetector`.
        on_frame: optional callback ``(frames done, total or 0)``.

    Raises:
        InputError: the video cannot be read.
    """
    info = probe_video(path)
    fps = float(info.fps) if info.fps else None
    col = TraceCollector(dense=dense, embed=embed, fps=fps)
    for done, (index, frame, tracked) in enumerate(track_video(path, detector, detect_every=detect_every,
                                                               refine=detect_every > 1, min_size=min_size), 1):
        col.update(index, frame, [(t.track_id, t.raw, t.detected) for t in tracked])
        if on_frame is not None:
            on_frame(done, info.frame_count)
    return col.traces()
