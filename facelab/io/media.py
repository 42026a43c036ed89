"""Small helpers shared by :mod:`facelab.io.video` and :mod:`facelab.io.audio`.

Opening an input media file with every failure turned into a one-line
:class:`~facelab.errors.InputError`, finding its video stream, exact timestamps, and preparing an
output path (checks, the hidden temporary file that is renamed into place at the end). Kept apart
so that ``video.py`` can import the audio code without an import cycle.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.video.stream import VideoStream

from facelab.errors import InputError, OutputError

log = logging.getLogger(__name__)

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


def _open_input(path: Path) -> av.container.InputContainer:
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
        raise InputError(path, f"not a video file FFmpeg can read ({_ff_message(exc)})") from None


def _seconds(ticks: int, time_base: Fraction | None) -> Fraction:
    """Exact seconds of a timestamp (0 when the stream has no time base)."""
    return ticks * time_base if time_base is not None else Fraction(0)


def _ff_message(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split()) or type(exc).__name__


def _video_stream(container: av.container.InputContainer, path: Path) -> VideoStream:
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


def _temp_path(path: Path) -> Path:
    """Hidden file beside ``path`` that keeps its extension (FFmpeg picks the format from it)."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.part{path.suffix}")


def _check_output_path(path: Path, overwrite: bool, exts: frozenset[str] | None) -> None:
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


def check_output_dir(folder: str | Path) -> None:
    """Raise OutputError now, before any work, when output ``folder`` could not be created or
    written: a file is in the way, or its nearest existing folder is not writable. Creates nothing."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(folder, folder_problem(folder))


def make_output_dir(folder: str | Path) -> Path:
    """Create output ``folder`` (and its parents); OutputError naming what is in the way when it fails."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(folder, folder_problem(folder, exc)) from None
    return folder


def replace_dir(tmp: Path, out: Path, check: Callable[[Path], None], what: str = "output") -> None:
    """Rename the finished temporary folder ``tmp`` to ``out``, replacing an existing ``out``.

    ``check(out)`` runs again first when ``out`` exists (it may have appeared while we worked) and
    raises when it must not be replaced. The old folder is moved aside, not deleted, until the new
    one is in place, and is put back when the rename fails.
    """
    old = None
    if out.exists():
        check(out)
        old = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError as exc:
        if old is not None:
            os.replace(old, out)
        raise OutputError(out, f"cannot move the {what} into place ({exc.strerror or exc})") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: str | Path, text: str | Iterable[str], newline: str | None = None,
                      what: str = "file") -> None:
    """Write ``text`` (UTF-8; a string or chunks, streamed) to a temporary file beside ``path``,
    then rename it over ``path``: a kill mid-write never leaves a torn ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    n = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open with 0o666 so the file gets the usual umask permissions (mkstemp: 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            for chunk in [text] if isinstance(text, str) else text:
                n += f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, f"cannot write the {what} ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.debug("wrote %s (%d characters)", path, n)


def make_parent(path: Path) -> None:
    """Create the folder of output ``path``; OutputError naming what is in the way when it fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(path, folder_problem(path.parent, exc)) from None


def folder_problem(folder: Path, exc: OSError | None = None) -> str:
    """Why output ``folder`` cannot be created or written: a file in the way, permissions, ..."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return f"cannot create the folder: {probe} is a file, not a folder"
    if isinstance(exc, PermissionError) or (exc is None and not os.access(probe, os.W_OK | os.X_OK)):
        return f"cannot write in {probe}: permission denied"
    if exc is None:
        return "cannot create the folder"
    return f"cannot create the folder ({' '.join(str(exc).split())})"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()
