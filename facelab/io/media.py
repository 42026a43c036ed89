"""Media-file helpers shared by :mod:`facelab.io.video`, :mod:`facelab.io.audio` and :mod:`facelab.io.probe`.

Opening an input media file with every failure turned into a one-line
:class:`~facelab.errors.InputError`, finding its video stream, exact timestamps, and preparing an
output path (checks, the hidden temporary file that is renamed into place at the end). Kept apart
so that ``video.py`` can import the audio code without an import cycle. Output folders and
atomic text files are :mod:`facelab.files`'.
"""

from __future__ import annotations

import os
import uuid
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.video.stream import VideoStream

from facelab.errors import InputError, OutputError
from facelab.files import make_parent

# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _check_media_file(path: Path) -> None:
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "is a folder, not a video file")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise InputError(path, "permission denied")


def open_input(path: Path) -> av.container.InputContainer:
    """av.open for reading, with every failure turned into a one-line InputError."""
    _check_media_file(path)
    try:
        return av.open(str(path), mode="r")
    except av.error.PermissionError:
        raise InputError(path, "permission denied") from None
    except av.error.FFmpegError as exc:
        with open(path, "rb") as f:
            head = f.read(12)
        if head[4:8] == b"ftyp":
            raise InputError(
                path,
                "MP4/MOV file without a readable index (moov box): it is truncated or still "
                "being written; copy or download it again",
            ) from None
        raise InputError(path, f"not a video file FFmpeg can read ({ff_message(exc)})") from None


def exact_seconds(ticks: int, time_base: Fraction | None) -> Fraction:
    """Exact seconds of a timestamp (0 when the stream has no time base)."""
    return ticks * time_base if time_base is not None else Fraction(0)


def ff_message(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split()) or type(exc).__name__


def video_stream(container: av.container.InputContainer, path: Path) -> VideoStream:
    """The first real video stream (cover art in audio files does not count)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    kinds = {s.type for s in container.streams}
    if "audio" in kinds:
        raise InputError(path, "has no video stream (audio only)")
    raise InputError(path, "not a video file (FFmpeg finds no video stream in it)")


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def temp_path(path: Path) -> Path:
    """Hidden file beside ``path`` that keeps its extension (FFmpeg picks the format from it)."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.part{path.suffix}")


def check_output_path(path: Path, overwrite: bool, exts: frozenset[str] | None) -> None:
    ext = path.suffix.lower().lstrip(".")
    if exts is not None and ext not in exts:
        raise OutputError(
            path, f"unknown video extension '{path.suffix}' (use one of {', '.join(sorted(exts))})"
        )
    if path.is_dir():
        raise OutputError(path, "is a folder; give a file name")
    if path.exists() and not overwrite:
        raise OutputError(path, "already exists; pass --overwrite to replace it")
    make_parent(path)


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()
