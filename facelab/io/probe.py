"""Probing a video file: what :func:`probe_video` learns without decoding more than one frame.

Conventions (RGB frames, :class:`~fractions.Fraction` rates, counter-clockwise ``rotation``) and
the rules for truncated files are described in :mod:`facelab.io.video`, which re-exports
:class:`VideoInfo` and :func:`probe_video`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.video.stream import VideoStream

from facelab.errors import InputError
from facelab.io.decode import FrameDecoder
from facelab.io.media import open_input, video_stream

__all__ = ["VideoInfo", "probe_video"]


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a video file.

    Attributes:
        path: the file.
        width, height: size of the frames :class:`VideoReader` yields, i.e. after rotation.
        fps: average frame rate. Rates within 1e-5 of an NTSC rate ``N * 1000/1001`` are given as
            that exact fraction, because muxers often store 29.97 as ``2997/100``.
        frame_count: number of frames from the container's index, or estimated from the duration
            when there is none (``frame_count_exact`` False); 0 means unknown.
        frame_count_exact: whether ``frame_count`` came from the index.
        duration: seconds of video (0.0 when unknown).
        has_audio: the file has at least one audio stream.
        rotation: display rotation, degrees counter-clockwise, one of 0, 90, 180, 270.
        codec: video codec name (``"h264"``, ``"mpeg4"``, ...).
        audio_codec: codec of the first audio stream, or None.
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    frame_count: int
    frame_count_exact: bool
    duration: float
    has_audio: bool
    rotation: int
    codec: str
    audio_codec: str | None


def probe_video(path: str | Path) -> VideoInfo:
    """Open a video, check that it decodes, and describe it.

    Decodes the first frame (to be sure the video is readable and to read its display rotation)
    but no more; constant time whatever the length.

    Raises:
        InputError: missing, a folder, empty, unreadable, not a media file, no video stream
            (audio only), truncated (an MP4 without its index, or whose index points past the end
            of the file), or the first frame cannot be decoded. The message is one line naming
            the file.
    """
    path = Path(path)
    with open_input(path) as container:
        stream = video_stream(container, path)
        _check_not_truncated(container, path)
        first = _first_frame(container, stream, path)
        rotation = _rotation_of(first, stream)
        fps = _stream_fps(stream, path)
        frame_count = int(stream.frames or 0)
        tagged = _tag_duration(stream.metadata.get("DURATION") or stream.metadata.get("duration"))
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif tagged is not None:  # Matroska/WebM keep the per-stream duration as a tag
            duration = tagged
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = frame_count / float(fps) if frame_count else 0.0
        exact = frame_count > 0
        if not exact and duration > 0:
            frame_count = int(round(duration * float(fps)))
        audio = [s for s in container.streams if s.type == "audio"]
        w, h = first.width, first.height
        if rotation in (90, 270):
            w, h = h, w
        return VideoInfo(
            path=path,
            width=w,
            height=h,
            fps=fps,
            frame_count=frame_count,
            frame_count_exact=exact,
            duration=duration,
            has_audio=bool(audio),
            rotation=rotation,
            codec=stream.codec_context.name,
            audio_codec=audio[0].codec_context.name if audio else None,
        )


def _tag_duration(text: str | None) -> float | None:
    """'00:00:03.400000000' -> 3.4; None when absent or unparsable."""
    if not text:
        return None
    try:
        h, m, sec = text.strip().split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except ValueError:
        return None


def _check_not_truncated(container: av.container.InputContainer, path: Path) -> None:
    """Compare where the index says the last packets lie with the file size (MP4/MOV, MKV cues)."""
    size = path.stat().st_size
    end = 0
    for stream in container.streams:
        entries = stream.index_entries
        n = len(entries)
        for i in range(max(0, n - 16), n):  # the last packets are the ones past a cut
            e = entries[i]
            if e.pos >= 0:
                end = max(end, e.pos + e.size)
    if end > size:
        raise InputError(
            path,
            f"file is truncated: its index expects at least {end} bytes but it has {size} "
            "(incomplete download or copy?)",
        )


def _first_frame(
    container: av.container.InputContainer, stream: VideoStream, path: Path
) -> av.VideoFrame:
    """The first frame that decodes: damage at the start is skipped, as reading skips it."""
    decoder = FrameDecoder(container, stream, path, fps=Fraction(30))  # it catches FFmpeg's errors
    for _, frame in decoder:
        return frame
    errors = decoder.damage.errors
    raise InputError(
        path, "the video stream has no decodable frames" + (f" ({errors[0]})" if errors else "")
    )


def _rotation_of(frame: av.VideoFrame, stream: VideoStream) -> int:
    """Counter-clockwise display rotation in {0, 90, 180, 270}."""
    try:
        angle = float(frame.rotation)
    except (AttributeError, ValueError):
        angle = 0.0
    if angle == 0.0 and "rotate" in stream.metadata:  # legacy tag: clockwise degrees
        try:
            angle = -float(stream.metadata["rotate"])
        except ValueError:
            angle = 0.0
    return int(round(angle / 90.0)) * 90 % 360


def snap_fps(rate: Fraction) -> Fraction:
    """2997/100 -> 30000/1001 and the like; other rates unchanged."""
    for base in (24, 30, 48, 60, 120, 240):
        ntsc = Fraction(base * 1000, 1001)
        if rate != ntsc and abs(rate - ntsc) / ntsc < Fraction(1, 100_000):
            return ntsc
    return rate


def _stream_fps(stream: VideoStream, path: Path) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return snap_fps(Fraction(rate))
    if stream.frames and stream.duration and stream.time_base:
        return snap_fps(Fraction(stream.frames) / (stream.duration * stream.time_base))
    raise InputError(path, "cannot tell the frame rate of the video stream")
