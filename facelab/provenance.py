"""Provenance of facelab's outputs: a "synthetic media" label in the metadata and a visible watermark.

    tags = synthetic_label("translated", model="horse2zebra", arch="resnet_9blocks", weights="h2z.pth")
    write_image("zebra.jpg", image, metadata=tags)          # PNG iTXt / JPEG, WebP, TIFF EXIF
    VideoWriter("out.mp4", fps, size, metadata=tags)         # container tags (MP4 comment, ...)
    frame = draw_watermark(frame, "AI-generated")            # the label every viewer sees

What the label says: ``synthetic media: <action> by facelab <version>; model <name> (<arch>,
sha256 <first 12 hex digits of the weights file>)``. It is a courtesy to honest readers, not a
security feature: metadata is stripped by most re-encoders and upload pipelines and can be edited
by anyone (``docs/security.md``). The watermark survives re-encoding but can be cropped or painted
over. Neither proves that an unlabelled file is real.

Convention:
    The watermark sits in the bottom-right corner, inside a box of ``margin`` pixels from both
    edges; only pixels inside that box change (a dark box blended at ``opacity``, white text).
    Its size scales with the frame's shorter side, so it reads the same at any resolution.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from facelab import __version__

__all__ = ["DEFAULT_WATERMARK", "draw_watermark", "synthetic_label", "watermark_box", "weights_digest"]

log = logging.getLogger(__name__)

#: Text drawn by ``--watermark`` given without a value.
DEFAULT_WATERMARK = "AI-generated"
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@lru_cache(maxsize=32)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    from facelab.hub import sha256_file

    return sha256_file(path)[:12]


def weights_digest(path: str | Path | None) -> str | None:
    """The first 12 hex digits of a weights file's sha256 (cached per path, size and mtime); None if not a file."""
    if path is None:
        return None
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return None
    if not p.is_file():
        return None
    try:
        return _digest(str(p.resolve()), st.st_size, st.st_mtime_ns)
    except OSError as exc:  # unreadable now: the label says so rather than failing the job
        log.warning("%s: cannot hash the weights for the label (%s)", p, exc)
        return None


def synthetic_label(action: str, *, model: str | None = None, arch: str | None = None,
                    weights: str | Path | None = None) -> dict[str, str]:
    """Metadata tags saying the file is synthetic, made by which facelab and which model.

    Args:
        action: what was done, e.g. ``"translated"`` or ``"face swapped (oneshot)"``.
        model: the model's or the source photo's name.
        arch: the network architecture, when there is one.
        weights: the weights file; its sha256 prefix goes into the label.

    Returns:
        ``{"comment", "software"}``: the keys :func:`facelab.io.image.write_image` and
        :class:`facelab.io.video.VideoWriter` embed where viewers and exiftool show them.
    """
    parts = [p for p in (arch, f"sha256 {weights_digest(weights)}" if weights_digest(weights) else None) if p]
    what = (model or "unknown") + (f" ({', '.join(parts)})" if parts else "")
    return {"comment": f"synthetic media: {action} by facelab {__version__}; model {what}",
            "software": f"facelab {__version__}"}


def watermark_box(shape: tuple[int, ...], text: str) -> tuple[int, int, int, int]:
    """``(x1, y1, x2, y2)``, end exclusive, of the watermark :func:`draw_watermark` puts on a frame of ``shape``."""
    h, w = int(shape[0]), int(shape[1])
    scale, thick, pad, margin = _metrics(h, w)
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    x2, y2 = w - margin, h - margin
    x1, y1 = max(0, x2 - tw - 2 * pad), max(0, y2 - th - base - 2 * pad)
    return x1, y1, max(x1, x2), max(y1, y2)


def _metrics(h: int, w: int) -> tuple[float, int, int, int]:
    side = max(1, min(h, w))
    scale = max(0.3, side / 900.0)  # about 4 % of the shorter side tall
    thick = max(1, round(scale * 2))
    return scale, thick, max(2, round(6 * scale)), max(0, round(10 * scale))


def draw_watermark(frame: np.ndarray, text: str = DEFAULT_WATERMARK, opacity: float = 0.55) -> np.ndarray:
    """A copy of ``frame`` with ``text`` in white on a semi-transparent dark box, bottom right.

    Args:
        frame: uint8 ``(H, W, 3)`` RGB.
        text: the label (ASCII: OpenCV's Hershey fonts have no other glyphs; others become ``?``).
        opacity: how dark the box is, 0 (clear) to 1 (black).

    Returns:
        uint8 ``(H, W, 3)``; pixels outside :func:`watermark_box` are unchanged.
    """
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"draw_watermark needs a uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
    text = text.encode("ascii", "replace").decode("ascii") or DEFAULT_WATERMARK
    out = frame.copy()
    x1, y1, x2, y2 = watermark_box(frame.shape, text)
    if x2 <= x1 or y2 <= y1:
        return out
    scale, thick, pad, _ = _metrics(frame.shape[0], frame.shape[1])
    region = out[y1:y2, x1:x2]
    dark = (region.astype(np.float32) * (1.0 - opacity)).round().astype(np.uint8)
    (_, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    # draw on the box only, so nothing outside it can change (the text is clipped by the box)
    box = np.ascontiguousarray(dark)
    cv2.putText(box, text, (pad, pad + th), _FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)
    out[y1:y2, x1:x2] = box
    return out
