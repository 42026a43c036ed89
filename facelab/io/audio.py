"""Audio for facelab's videos: copying a source's audio into a new video, and audio-only files.

:class:`facelab.io.video.VideoWriter` uses :class:`AudioCopier` to carry the audio of its
``audio_from`` file into the output; :func:`write_audio` encodes float samples to an audio file
(test fixtures, samples).

Decisions (the what and the why):
    * Audio is copied packet by packet (no re-encode), interleaved with the video as it is
      written. When the output container cannot hold that codec (e.g. PCM in MP4, AAC in WebM)
      the audio is re-encoded to AAC, or to Opus for WebM. Whether a codec fits is decided by a
      dry run into an in-memory container (:func:`_can_copy`), because some muxers only object
      in the trailer.
    * Timing follows ``ffmpeg -i src -c:a copy``: the offset between the first video frame and
      the audio in the source is kept, so lips stay in sync when the source's video starts later
      than its audio (AVI cannot start its video late: there the audio before the first frame is
      dropped instead). The whole audio track is copied even if fewer frames are written.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.error
import numpy as np
from av.audio.stream import AudioStream

from facelab.errors import InputError, OutputError
from facelab.io.media import (
    check_output_path,
    exact_seconds,
    ff_message,
    open_input,
    temp_path,
    video_stream,
)

__all__ = ["AudioTrack", "read_audio", "write_audio"]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Copying a source's audio into a video being written
# --------------------------------------------------------------------------------------------


class AudioCopier:
    """Moves the audio of a source file into an output container, in step with the video.

    Each source audio stream is remuxed when a dry run shows the output format accepts it, else
    decoded and re-encoded (AAC, or Opus for WebM). Timestamps are shifted so that the earliest
    of the source's first video frame and first audio sample lands at 0; :attr:`video_offset` is
    where the source's first video frame then falls (seconds), for the writer to start there.
    With ``keep_offset=False`` (AVI, whose video cannot start late) the first video frame is put
    at 0 instead and audio packets that start before it are dropped.
    """

    def __init__(
        self,
        src_path: Path,
        indices: list[int],
        out: av.container.OutputContainer,
        out_path: Path,
        keep_offset: bool = True,
    ) -> None:
        self.src_path = src_path
        self.out_path = out_path
        self.src = open_input(src_path)
        self.in_streams = [cast(AudioStream, self.src.streams[i]) for i in indices]

        starts = [
            exact_seconds(s.start_time, s.time_base) for s in self.in_streams if s.start_time is not None
        ]
        video_start: Fraction | None = None
        try:
            v = video_stream(self.src, src_path)
            if v.start_time is not None:
                video_start = exact_seconds(v.start_time, v.time_base)
        except InputError:
            pass
        if video_start is not None:
            starts.append(video_start)
        origin = min(starts) if starts else Fraction(0)
        # AVI counts frame slots and cannot start late or go negative: put the first video frame
        # at 0 and drop audio packets that start before it (AAC priming packets included).
        trim = not keep_offset
        if trim and video_start is not None:
            origin = video_start
        self.video_offset = float(video_start - origin) if video_start is not None else 0.0

        self.handlers: dict[int, _AudioHandler] = {}
        for s in self.in_streams:
            self.handlers[s.index] = _AudioHandler(src_path, s, out, origin, out_path, trim)
        self._packets = self.src.demux(self.in_streams)
        self._pending: av.Packet | None = None
        self._exhausted = False

    def pump(self, until: float | None) -> None:
        """Mux source audio whose output time is <= ``until`` seconds (all of it for None)."""
        if self._exhausted:
            return
        while True:
            if self._pending is None:
                try:
                    self._pending = next(self._packets)
                except StopIteration:
                    self._exhausted = True
                    break
                except av.error.FFmpegError as exc:
                    log.warning("%s: audio ends early (%s)", self.src_path, ff_message(exc))
                    self._exhausted = True
                    break
            packet = self._pending
            handler = self.handlers[packet.stream.index]
            t = handler.out_time(packet)
            if until is not None and t is not None and t > until:
                return
            self._pending = None
            handler.handle(packet)
        for handler in self.handlers.values():
            handler.flush()

    def close(self) -> None:
        self.src.close()


class _AudioHandler:
    """One source audio stream -> one output audio stream (copy or re-encode)."""

    def __init__(
        self,
        src_path: Path,
        src: AudioStream,
        out: av.container.OutputContainer,
        origin: Fraction,
        out_path: Path,
        trim: bool = False,
    ) -> None:
        self.src = src
        self.trim = trim  # drop packets that start before the origin
        self.out = out
        self.tb = Fraction(src.time_base or Fraction(1, src.codec_context.sample_rate or 1))
        self.shift = int(round(origin / self.tb))  # in source time-base ticks
        name = src.codec_context.name
        if _can_copy(out.format.name, src_path, src.index):
            self.copy = True
            self.stream = out.add_stream_from_template(src)
            log.debug("%s: copying %s audio (stream %d)", out_path, name, src.index)
        else:
            self.copy = False
            target = "libopus" if out.format.name == "webm" else "aac"
            rate = src.codec_context.sample_rate or 48000
            if target == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
                rate = 48000
            self.stream = cast(AudioStream, out.add_stream(target, rate=rate))
            # By channel count: a source layout may be "2 channels" with no order, which the
            # encoders reject; more than two channels are downmixed to stereo.
            channels = src.codec_context.channels or 2
            self.stream.layout = "mono" if channels == 1 else "stereo"
            self.stream.bit_rate = 160_000
            log.info(
                "%s: the container cannot hold %s audio; re-encoding it to %s",
                out_path,
                name,
                target,
            )
        self.stream.metadata.update({k: v for k, v in src.metadata.items() if k == "language"})

    def out_time(self, packet: av.Packet) -> float | None:
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is None:
            return None
        return float((ts - self.shift) * self.tb)

    def handle(self, packet: av.Packet) -> None:
        if packet.size == 0 or (packet.dts is None and packet.pts is None):
            return
        if self.trim and packet.pts is not None and packet.pts < self.shift:
            return  # starts before the first video frame (AVI only; elsewhere kept)
        if self.copy:
            if packet.pts is not None:
                packet.pts -= self.shift
            if packet.dts is not None:
                packet.dts -= self.shift
            packet.stream = self.stream
            self.out.mux(packet)
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            log.debug("skipping an undecodable audio packet (%s)", ff_message(exc))
            return
        for frame in cast(list[av.AudioFrame], frames):
            if frame.pts is not None:
                frame.pts -= self.shift
            self.out.mux(self.stream.encode(frame))

    def flush(self) -> None:
        if not self.copy:
            self.out.mux(self.stream.encode(None))


def _can_copy(format_name: str, src_path: Path, index: int) -> bool:
    """Dry run: can an in-memory container of this format take this stream as is?

    Header, one packet and trailer, because some muxers only object in the trailer (PCM in MP4,
    FLAC in MOV) and PyAV's ``supported_codecs`` says yes to them.
    """
    try:
        with av.open(str(src_path), mode="r") as src:
            stream = src.streams[index]
            with av.open(io.BytesIO(), mode="w", format=format_name.split(",")[0]) as probe:
                out = probe.add_stream_from_template(stream)
                probe.start_encoding()
                for packet in src.demux(stream):
                    if packet.size and packet.dts is not None:
                        packet.stream = out
                        probe.mux(packet)
                        break
        return True
    except (ValueError, av.error.FFmpegError):
        return False


# --------------------------------------------------------------------------------------------
# Audio-only files (tests, samples)
# --------------------------------------------------------------------------------------------


def write_audio(
    path: str | Path,
    samples: np.ndarray,
    sample_rate: int,
    *,
    codec: str = "aac",
    bit_rate: int = 128_000,
    overwrite: bool = False,
) -> None:
    """Encode float samples to an audio file (AAC in ``.m4a`` / ``.mp4`` by default).

    Args:
        path: destination; FFmpeg picks the container from the extension.
        samples: float ``(N,)`` (mono) or ``(C, N)`` with C in {1, 2}, values in ``[-1, 1]``.
        sample_rate: samples per second.
        codec: FFmpeg audio encoder.
        bit_rate: target bit rate in bits per second.
        overwrite: replace an existing file.

    Raises:
        OutputError: ``path`` exists, or the file cannot be written.
    """
    path = Path(path)
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[0] not in (1, 2):
        raise ValueError(f"expected (N,) or (C, N) samples with C in (1, 2), got {samples.shape}")
    check_output_path(path, overwrite, None)
    layout = "mono" if x.shape[0] == 1 else "stereo"
    x = np.clip(x, -1.0, 1.0)
    tmp = temp_path(path)
    try:
        with av.open(str(tmp), mode="w") as out:
            stream = cast(AudioStream, out.add_stream(codec, rate=int(sample_rate)))
            stream.layout = layout
            stream.bit_rate = int(bit_rate)
            chunk = 1024
            for start in range(0, x.shape[1], chunk):
                part = np.ascontiguousarray(x[:, start : start + chunk])
                frame = av.AudioFrame.from_ndarray(part, format="fltp", layout=layout)
                frame.sample_rate = int(sample_rate)
                frame.pts = start
                frame.time_base = Fraction(1, int(sample_rate))
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        os.replace(tmp, path)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, f"cannot write the audio ({ff_message(exc)})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# Reading a video's audio (lip-sync check)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioTrack:
    """Mono audio of a file, on the clock of its video.

    Attributes:
        samples: ``float32 (N,)`` in ``[-1, 1]``; sample ``k`` is at ``k / sample_rate`` seconds
            after the **first video frame** (audio before it is dropped, a late start is padded
            with zeros), so frame ``i`` of a constant-rate video sits at sample ``i / fps * rate``.
        sample_rate: samples per second.
        stream: index of the audio stream read.
    """

    samples: np.ndarray
    sample_rate: int
    stream: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def read_audio(path: str | Path, sample_rate: int = 16_000) -> AudioTrack | None:
    """Decode the first audio stream of ``path`` to mono float at ``sample_rate``.

    Timing follows the container's timestamps: the offset between the first video frame and the
    first audio sample (AAC priming, a video that starts late) is applied, so that lips and sound
    line up as a player shows them. Files without video are read from their first sample.

    Returns:
        The audio, or None when the file has no audio stream.

    Raises:
        InputError: the file cannot be opened.
    """
    path = Path(path)
    with open_input(path) as src:
        if not src.streams.audio:
            return None
        stream = src.streams.audio[0]
        origin = Fraction(0)
        try:
            v = video_stream(src, path)
            if v.start_time is not None:
                origin = exact_seconds(v.start_time, v.time_base)
        except InputError:
            pass
        resampler = av.AudioResampler(format="flt", layout="mono", rate=int(sample_rate))
        chunks: list[np.ndarray] = []
        first: float | None = None
        try:
            for frame in src.decode(stream):
                if first is None and frame.pts is not None and frame.time_base is not None:
                    first = float(exact_seconds(frame.pts, frame.time_base) - origin)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:  # a damaged tail: keep what decoded
            log.warning("%s: audio ends early (%s)", path, ff_message(exc))
        x = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        shift = round((first or 0.0) * sample_rate)
        # shift > 0: the audio starts after the first frame (pad); < 0: it starts before (trim)
        x = np.concatenate([np.zeros(shift, np.float32), x]) if shift > 0 else x[-shift:]
        return AudioTrack(samples=np.clip(x, -1.0, 1.0), sample_rate=int(sample_rate), stream=stream.index)
