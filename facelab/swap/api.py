"""``facelab.swap``: put a face onto the faces of one photo or video, from Python.

    import facelab
    record = facelab.swap("alice.jpg", "group.jpg", "swapped.jpg")            # one-shot from a photo
    record = facelab.swap(None, "talk.mp4", "out.mp4", model="runs/bob2alice")  # a learned swap
    record.frames_total, record.to_json()["faces_changed"]

The same library calls as ``facelab swap`` (:func:`~facelab.swap.pipeline.swap_image_file`,
:func:`~facelab.swap.pipeline.swap_video_file`), for one target; the command adds folders,
batches, ``--resume`` and ``--shard`` around them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from facelab.credentials import signing_key
from facelab.errors import ConfigError, InputError
from facelab.faces.detect import FaceDetector
from facelab.io.image import is_image
from facelab.io.video import is_video
from facelab.swap.oneshot import OneShotSource, SwapSettings, default_landmarks
from facelab.swap.pipeline import Selection, SwapRecord, swap_image_file, swap_video_file

__all__ = ["swap"]


def swap(source: str | Path | None, target: str | Path, out: str | Path, *, model: str | Path | None = None,
         direction: str = "AtoB", settings: SwapSettings | None = None, largest: bool = False,
         track: int | None = None, detect_every: int = 5, refine: bool = True, overwrite: bool = False,
         label: bool = True, watermark: str | None = None, c2pa: bool = True, sign_cert: str | Path | None = None,
         sign_key: str | Path | None = None, device: str = "auto",
         on_frame: Callable[[int, int | None], None] | None = None) -> SwapRecord:
    """Swap the faces of one photo or video and write ``out`` (and its sidecar ``out.json``).

    Args:
        source: photo of the face to put in (one-shot), or None with ``model``.
        target: the photo or video whose faces are replaced.
        out: the output file (a photo for a photo, a video for a video); written atomically.
        model: a run folder or checkpoint of ``facelab train swap`` instead of ``source``.
        direction: with ``model``, which way the learned translator runs.
        settings: crop, mask, colour and blend settings (:class:`~facelab.swap.oneshot.SwapSettings`);
            None: the defaults, with 68-point landmarks for a one-shot swap when the ``dlib``
            extra is installed (:func:`~facelab.swap.oneshot.default_landmarks`).
        largest, track: only the largest face of each frame, or only this track.
        detect_every, refine: videos: full detection every k frames, O-Net re-detection between.
        overwrite: replace an existing ``out``.
        label, watermark: the synthetic-media metadata label, a visible label's text.
        c2pa, sign_cert, sign_key: a signed C2PA manifest (``docs/security.md``); without a
            certificate and key (or ``FACELAB_SIGN_CERT``/``FACELAB_SIGN_KEY``), facelab's local key.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        on_frame: videos: progress callback ``(frames done, total or None)``.

    Returns:
        The sidecar's record: which frames and faces changed, how, and how long it took.

    Raises:
        ConfigError: both or neither of ``source`` and ``model``, ``largest`` with ``track``, or
            an output of the other kind than the target.
        InputError, OutputError: unreadable target or source, an existing ``out``.
    """
    target, out = Path(target), Path(out)
    if (source is None) == (model is None):
        raise ConfigError("pass exactly one of source (a photo, one-shot) or model (a run, learned)")
    if largest and track is not None:
        raise ConfigError("largest and track exclude each other")
    kind = "image" if is_image(target) else "video" if is_video(target) else None
    if kind is None:
        raise ConfigError(f"{target}: not a photo or video by its extension")
    if not target.is_file():
        raise InputError(target, "no such file")
    if (kind == "image") != is_image(out) or (kind == "video") != is_video(out):
        raise ConfigError(f"{out}: a {kind} target needs a {kind} output extension")
    # one-shot: the expression-following mode when the dlib extra is installed, as the CLI's default
    settings = settings or SwapSettings(landmarks=default_landmarks() if source is not None else "5pt")
    detector = FaceDetector(device=device)
    face_source: Any
    if source is not None:
        face_source = OneShotSource.from_photo(source, detector, settings)
    else:
        from facelab.swap.learned import load_swap_model

        assert model is not None  # exactly one of source and model, checked above
        face_source, settings = load_swap_model(model, settings, direction=direction, device=device)
    credentials = signing_key(sign_cert, sign_key) if c2pa else None
    selection = Selection(largest=largest, track=track)
    if kind == "image":
        return swap_image_file(face_source, target, out, detector, settings, selection=selection, overwrite=overwrite,
                               label=label, watermark=watermark, credentials=credentials)
    return swap_video_file(face_source, target, out, detector, settings, selection=selection,
                           detect_every=detect_every, refine=refine, overwrite=overwrite, label=label,
                           watermark=watermark, on_frame=on_frame, credentials=credentials)
