"""Probing, reading and writing video files with PyAV (FFmpeg).

Probing (:class:`VideoInfo`, :func:`probe_video`) lives in :mod:`facelab.io.probe` and the audio
side (copying a source's audio into the output, audio-only files) in :mod:`facelab.io.audio`;
both are re-exported here. Helpers they share are in :mod:`facelab.io.media`.

Convention:
    * A frame at the I/O boundary is a ``uint8`` array of shape ``(H, W, 3)`` in **RGB** order,
      upright: the display rotation stored in the file is applied while reading.
    * Frame rates are :class:`fractions.Fraction` (``30000/1001``, not ``29.97``).
    * Sizes passed as tuples are ``(width, height)``; array shapes are ``(H, W, 3)``.
    * ``rotation`` follows FFmpeg's display matrix (``av_display_rotation_get``, PyAV's
      ``VideoFrame.rotation``): the angle in degrees, **counter-clockwise**, by which the stored
      picture must be turned to display it. A phone's portrait video shows ``270`` (the old
      ``rotate=90`` tag). Reading turns frames by ``np.rot90(frame, rotation // 90)``, the same
      picture FFmpeg's and OpenCV's auto-rotation give.

Why PyAV and not OpenCV: OpenCV cannot write H.264 or keep an audio track, and its reader hides
the stream's time base and side data.

Decisions (the what and the why):
    * Odd sizes: H.264 in 4:2:0 cannot code an odd width or height, and 4:4:4 output does not play
      in browsers and most phones. :class:`VideoWriter` pads the bottom row / right column by
      repeating the edge pixels to the next even size and logs a warning, so nothing of the
      picture is lost; even sizes (nearly every real video) come out exactly as given.
    * Damaged and truncated files: :func:`probe_video` refuses an MP4 whose index points past
      the end of the file, or which has no index at all. Damage inside the file is decoded
      through as ``ffmpeg`` does (:mod:`facelab.io.decode`): a rejected packet costs that frame,
      not the rest of the video, and ``reader.damage`` tells what was lost and where.
      ``on_damage="fail"`` refuses such a file instead. :class:`VideoReader` raises only when no
      frame decodes at all.
    * Timeline: :meth:`VideoReader.timed_frames` gives each frame's time and
      :meth:`VideoWriter.write` takes it, so outputs keep the input's timestamps (variable
      frame rates, and gaps where frames were lost), and the copied audio stays in sync.
    * Audio: :class:`VideoWriter` copies the audio of ``audio_from`` without re-encoding where the
      output container can hold its codec, and keeps its offset to the first video frame (lip
      sync). The rules are in :mod:`facelab.io.audio`.
    * Colour: frames are converted to YUV with BT.709 when the height is 720 or more and BT.601
      below (what players assume for untagged video), and the stream is tagged accordingly.
      Untagged sources are read with the same rule.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import av
import av.error
import numpy as np
from av.video.reformatter import ColorRange, Colorspace
from av.video.stream import VideoStream

from facelab.errors import InputError, OutputError
from facelab.io.audio import AudioCopier, write_audio
from facelab.io.decode import ON_DAMAGE, Damage, FrameDecoder, OnDamage
from facelab.io.media import (
    check_output_path,
    ff_message,
    open_input,
    same_file,
    temp_path,
    video_stream,
)
from facelab.io.probe import VideoInfo, probe_video, snap_fps

__all__ = [
    "VIDEO_EXTS",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "is_video",
    "probe_video",
    "write_audio",
]

log = logging.getLogger(__name__)

#: Lower-case extensions (without the dot) that facelab treats as videos.
VIDEO_EXTS: frozenset[str] = frozenset({"mp4", "mov", "avi", "mkv", "webm", "m4v", "mpg", "mpeg"})

# AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic codes.
_AVCOL_BT709 = 1
_AVCOL_UNSPECIFIED = 2
_AVCOL_SMPTE170M = 6  # BT.601 (525-line); same matrix as BT.470BG
_AVCOL_RANGE_MPEG = 1

# Tags the MP4/MOV muxer writes in its classic (udta) form; any other key needs mdta tags.
_MOV_STANDARD_TAGS = frozenset(
    {
        "title",
        "artist",
        "album_artist",
        "album",
        "comment",
        "description",
        "synopsis",
        "genre",
        "copyright",
        "date",
        "composer",
        "encoder",
        "grouping",
        "lyrics",
        "keywords",
    }
)


def is_video(path: str | Path) -> bool:
    """True when ``path`` has one of :data:`VIDEO_EXTS` (any case); the file is not opened."""
    return Path(path).suffix.lower().lstrip(".") in VIDEO_EXTS


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


class VideoReader:
    """Iterate over the frames of a video as upright uint8 ``(H, W, 3)`` RGB arrays.

    Frames are decoded one at a time (memory does not grow with the length) with FFmpeg's
    frame/slice threading. Each iteration opens the file afresh, so a reader can be iterated more
    than once; the context manager closes whatever is open.

    Example::

        with VideoReader("clip.mp4") as reader:
            print(reader.info.fps, reader.info.frame_count)
            for index, frame in reader.frames_with_index():
                ...

    Args:
        path: the video file. It is probed at once (:func:`probe_video`), so a bad file fails here.
        every: yield only frames ``0, every, 2 * every, ...`` (the others are decoded, which the
            codec needs, but not converted).
        on_damage: ``"skip"`` decodes through damage and records it in :attr:`damage`;
            ``"fail"`` raises :class:`InputError` at the first sign of it.

    Attributes:
        info: the :class:`VideoInfo` of the file.
        frames_decoded: frames decoded during the last iteration (yielded or skipped).
        damage: the :class:`~facelab.io.decode.Damage` record of the last iteration (complete
            once it has ended): frames lost, where, packets skipped, truncation.
        truncated: set when the last iteration ended short of the frame count in the index.

    Raises:
        InputError: from :func:`probe_video`; while iterating, when no frame decodes at all, or
            (``on_damage="fail"``) at the first damage.
    """

    def __init__(self, path: str | Path, *, every: int = 1, on_damage: OnDamage = "skip") -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if on_damage not in ON_DAMAGE:
            raise ValueError(f"on_damage must be one of {ON_DAMAGE}, got {on_damage!r}")
        self.path = Path(path)
        self.every = int(every)
        self.on_damage: OnDamage = on_damage
        self.info: VideoInfo = probe_video(self.path)
        self.frames_decoded = 0
        self.damage = Damage()
        self._open: set[av.container.InputContainer] = set()

    @property
    def truncated(self) -> bool:
        """Whether the last iteration ended short of the frame count in the index."""
        return self.damage.truncated

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close any container an unfinished iteration left open."""
        for container in list(self._open):
            container.close()
        self._open.clear()

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield frames ``(H, W, 3)`` uint8 RGB (every ``every``-th one)."""
        for _, _, frame in self.timed_frames():
            yield frame

    def frames_with_index(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)``: the frame's 0-based position among the decoded frames."""
        for index, _, frame in self.timed_frames():
            yield index, frame

    def timed_frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        """Yield ``(index, seconds, frame)`` for every decodable frame (every ``every``-th one).

        ``index`` counts decoded frames from 0; ``seconds`` is the frame's presentation time from
        the start of the stream, so a writer given it keeps the input's timeline (variable frame
        rates, and the gaps left by frames lost to damage). Damage is decoded through or refused
        as ``on_damage`` says (:mod:`facelab.io.decode`); :attr:`damage` tells what was lost.
        """
        self.frames_decoded = 0
        container = open_input(self.path)
        self._open.add(container)
        try:
            stream = video_stream(container, self.path)
            stream.thread_type = "AUTO"
            decoder = FrameDecoder(
                container,
                stream,
                self.path,
                fps=self.info.fps,
                expected=self.info.frame_count,
                expected_exact=self.info.frame_count_exact,
                duration=self.info.duration,
                on_damage=self.on_damage,
            )
            self.damage = decoder.damage
            index = 0
            for t, frame in decoder:
                self.frames_decoded = index + 1
                if index % self.every == 0:
                    yield index, t, _to_rgb(frame, self.info.rotation)
                index += 1
            if index == 0:
                detail = f" ({self.damage.errors[0]})" if self.damage.errors else ""
                raise InputError(self.path, f"cannot decode the video: no frame decodes{detail}")
        finally:
            container.close()
            self._open.discard(container)


def _to_rgb(frame: av.VideoFrame, fallback_rotation: int) -> np.ndarray:
    """Decoded frame -> upright uint8 (H, W, 3) RGB."""
    kwargs: dict[str, Any] = {}
    if frame.colorspace in (0, _AVCOL_UNSPECIFIED) and not frame.format.name.startswith(
        ("rgb", "bgr", "gbr")
    ):
        # Untagged YUV: assume what players assume (BT.709 for HD, BT.601 below).
        kwargs["src_colorspace"] = Colorspace.ITU709 if frame.height >= 720 else Colorspace.ITU601
    rgb: np.ndarray = frame.to_ndarray(format="rgb24", **kwargs)
    try:
        rotation = int(round(float(frame.rotation) / 90.0)) * 90 % 360
    except (AttributeError, ValueError):
        rotation = 0
    rotation = rotation or fallback_rotation
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, rotation // 90))
    return rgb


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _as_fraction(fps: Fraction | int | float) -> Fraction:
    rate = Fraction(fps).limit_denominator(1001) if isinstance(fps, float) else Fraction(fps)
    if rate <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return snap_fps(rate)


def _padded(size: int, pix_fmt: str, axis: str) -> int:
    """Size the chroma subsampling of ``pix_fmt`` allows (rounded up to even when needed)."""
    subsampled = (
        "420" in pix_fmt or pix_fmt in ("nv12", "nv21") or (axis == "w" and "422" in pix_fmt)
    )
    return size + (size % 2) if subsampled else size


class VideoWriter:
    """Encode uint8 RGB frames to a video file, optionally copying the audio of another file.

    Example::

        info = probe_video("in.mp4")
        with VideoWriter("out.mp4", info.fps, audio_from="in.mp4",
                         metadata={"comment": "synthetic media made by facelab"}) as writer:
            for frame in VideoReader("in.mp4"):
                writer.write(process(frame))

    The output appears only when the ``with`` block ends without an exception (or :meth:`close`
    is called): frames go to a hidden temporary file in the destination folder, renamed over
    ``path`` at the end. On an exception, or :meth:`abort`, the temporary file is deleted and
    ``path`` is left as it was.

    Args:
        path: destination; the extension (:data:`VIDEO_EXTS`) picks the container.
        fps: frame rate; a float like 29.97 is turned into 30000/1001.
        size: ``(width, height)`` of the frames, or None to take it from the first frame. Odd
            sizes are padded to even for 4:2:0 ``pix_fmt`` (see the module notes);
            :attr:`encoded_size` tells the size in the file.
        audio_from: a media file whose audio streams (all of them, wherever they are in the file)
            are copied into the output. A file without audio gives a silent output (logged).
        codec: FFmpeg encoder; None picks ``libx264`` (H.264), or ``libvpx-vp9`` for ``.webm``.
        crf: constant rate factor for x264/x265/VPx/AV1 encoders (lower is better; 18 is
            visually lossless for x264).
        pix_fmt: pixel format of the encoded video; ``yuv420p`` plays everywhere.
        overwrite: replace an existing ``path``.
        metadata: container-level tags, e.g. ``{"comment": "synthetic media made by facelab"}``.
            MP4/MOV keep keys outside the classic set (title, comment, ...) as ``mdta`` tags.
        encoder_options: extra FFmpeg encoder options (``{"preset": "veryfast"}``).
        seal: called as ``seal(temporary file, path)`` once the file is complete, before it is
            renamed into place (C2PA signing: :meth:`facelab.credentials.SigningKey.sealer`).

    Raises:
        OutputError: bad extension, ``path`` exists, ``path`` is ``audio_from``, the container
            cannot hold the codec, or writing fails.
        InputError: ``audio_from`` cannot be read.
    """

    def __init__(
        self,
        path: str | Path,
        fps: Fraction | int | float,
        size: tuple[int, int] | None = None,
        *,
        audio_from: str | Path | None = None,
        codec: str | None = None,
        crf: int = 18,
        pix_fmt: str = "yuv420p",
        overwrite: bool = False,
        metadata: Mapping[str, str] | None = None,
        encoder_options: Mapping[str, str] | None = None,
        seal: Callable[[Path, Path], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.seal = seal
        self.fps = _as_fraction(fps)
        self.size = (int(size[0]), int(size[1])) if size is not None else None
        if self.size is not None and (self.size[0] <= 0 or self.size[1] <= 0):
            raise ValueError(f"size must be positive (width, height), got {size}")
        self.audio_from = Path(audio_from) if audio_from is not None else None
        ext = self.path.suffix.lower().lstrip(".")
        self.codec = codec or ("libvpx-vp9" if ext == "webm" else "libx264")
        self.crf = int(crf)
        self.pix_fmt = pix_fmt
        self.metadata = {str(k): str(v) for k, v in (metadata or {}).items()}
        self.encoder_options = {str(k): str(v) for k, v in (encoder_options or {}).items()}
        self.frames_written = 0

        check_output_path(self.path, overwrite, VIDEO_EXTS)
        if self.audio_from is not None and same_file(self.path, self.audio_from):
            raise OutputError(self.path, "is also the input (audio_from); write to another file")
        if self.codec not in av.codecs_available:
            raise OutputError(
                self.path, f"video encoder '{self.codec}' is not in this FFmpeg build"
            )
        self._audio_streams = self._source_audio_streams()

        self._tmp = temp_path(self.path)
        self._out: av.container.OutputContainer | None = None
        self._vstream: VideoStream | None = None
        self._audio: AudioCopier | None = None
        self._done = False
        self.encoded_size: tuple[int, int] | None = None
        self._tb = Fraction(1, 1)
        self._ticks_per_frame = 1
        self._offset_ticks = 0
        self._last_pts: int | None = None

    # ---- context manager -------------------------------------------------------------------

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # ---- public ----------------------------------------------------------------------------

    def write(self, frame: np.ndarray, time: float | None = None) -> None:
        """Append one uint8 ``(H, W, 3)`` RGB frame (the size must match ``size``).

        ``time``: when the frame is shown, in seconds from the first frame of the input
        (:meth:`VideoReader.timed_frames`); None places it one frame after the previous one.
        Giving the input's times keeps its timeline: variable frame rates, and gaps where frames
        were lost. Times must increase; one that does not (or that lands on the previous frame's
        tick) is moved one tick after it.
        """
        if self._done:
            raise RuntimeError(f"{self.path}: the writer is closed")
        if (
            not isinstance(frame, np.ndarray)
            or frame.dtype != np.uint8
            or frame.ndim != 3
            or frame.shape[2] != 3
        ):
            desc = (
                f"{frame.dtype} {frame.shape}"
                if isinstance(frame, np.ndarray)
                else type(frame).__name__
            )
            raise ValueError(f"expected a uint8 (H, W, 3) RGB frame, got {desc}")
        h, w = frame.shape[:2]
        if self.size is None:
            self.size = (w, h)
        if (w, h) != self.size:
            raise ValueError(
                f"{self.path}: frame {self.frames_written} is {w}x{h} but the video is "
                f"{self.size[0]}x{self.size[1]}"
            )
        if self._out is None:
            try:
                self._start()
            except BaseException:
                self.abort()  # no half-made temporary file left behind
                raise
        try:
            assert self._vstream is not None and self.encoded_size is not None
            ew, eh = self.encoded_size
            if (ew, eh) != (w, h):
                frame = np.pad(frame, ((0, eh - h), (0, ew - w), (0, 0)), mode="edge")
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf = vf.reformat(
                format=self.pix_fmt,
                dst_colorspace=self._sws_colorspace,
                dst_color_range=ColorRange.MPEG,
            )
            if time is None:
                pts = (self._last_pts + self._ticks_per_frame if self._last_pts is not None
                       else self._offset_ticks)
            else:
                pts = self._offset_ticks + int(round(time / self._tb))
            if self._last_pts is not None and pts <= self._last_pts:
                pts = self._last_pts + 1
            self._last_pts = pts
            vf.pts = pts
            vf.time_base = self._tb
            self._mux_video(self._vstream.encode(vf))
        except av.error.FFmpegError as exc:
            raise OutputError(self.path, f"cannot encode the video ({ff_message(exc)})") from None
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder, copy the rest of the audio and move the file into place."""
        if self._done:
            return
        if self._out is None:
            self.abort()
            raise OutputError(self.path, "no frames were written; nothing was saved")
        try:
            assert self._vstream is not None
            self._mux_video(self._vstream.encode(None))
            if self._audio is not None:
                self._audio.pump(None)
                self._audio.close()
                self._audio = None
            self._out.close()
            self._out = None
            if self.seal is not None:
                self.seal(self._tmp, self.path)
            os.replace(self._tmp, self.path)
        except (av.error.FFmpegError, OSError) as exc:
            self.abort()
            raise OutputError(self.path, f"cannot finish the video ({ff_message(exc)})") from None
        except BaseException:
            self.abort()
            raise
        self._done = True
        log.info(
            "wrote %s: %d frames, %dx%d @ %s fps%s",
            self.path,
            self.frames_written,
            *(self.encoded_size or (0, 0)),
            self.fps,
            f", audio from {self.audio_from}" if self._audio_streams else "",
        )

    def abort(self) -> None:
        """Stop without producing ``path``; the temporary file is removed."""
        self._done = True
        if self._audio is not None:
            self._audio.close()
            self._audio = None
        if self._out is not None:
            try:
                self._out.close()
            except Exception:  # noqa: BLE001 - we are discarding the file anyway
                log.debug("%s: error while closing an aborted video", self.path, exc_info=True)
            self._out = None
        self._tmp.unlink(missing_ok=True)

    # ---- internals -------------------------------------------------------------------------

    def _source_audio_streams(self) -> list[int]:
        """Indices of the audio streams of ``audio_from`` (checked now, so errors come early)."""
        if self.audio_from is None:
            return []
        with open_input(self.audio_from) as src:
            indices = [s.index for s in src.streams if s.type == "audio"]
        if not indices:
            log.info("%s has no audio; %s will be silent", self.audio_from, self.path)
        return indices

    def _start(self) -> None:
        """Open the temporary container and set up the streams (at the first frame)."""
        assert self.size is not None
        w, h = self.size
        ew, eh = _padded(w, self.pix_fmt, "w"), _padded(h, self.pix_fmt, "h")
        if (ew, eh) != (w, h):
            log.warning(
                "%s: %dx%d is odd-sized; %s needs even sizes, so the frames are padded to %dx%d "
                "by repeating the edge pixels",
                self.path,
                w,
                h,
                self.pix_fmt,
                ew,
                eh,
            )
        self.encoded_size = (ew, eh)

        options: dict[str, str] = {}
        ext = self.path.suffix.lower()
        if ext in (".mp4", ".mov", ".m4v"):
            flags = "+faststart"  # index at the front: plays while downloading
            if set(self.metadata) - _MOV_STANDARD_TAGS:
                flags += "+use_metadata_tags"
            options["movflags"] = flags
        try:
            self._out = av.open(str(self._tmp), mode="w", options=options)
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(self.path, f"cannot create the file ({ff_message(exc)})") from None
        self._out.metadata.update(self.metadata)

        # Time base: 1/(num*k) so a frame lasts den*k ticks (exact) and a tick is <= 1 ms,
        # fine enough to place the first frame against the audio.
        # AVI has no timestamps, only frame slots, and the MPEG-1/2 encoders accept only their
        # standard frame rates as time base: there the time base must be 1/fps.
        if ext == ".avi" or self.codec in ("mpeg1video", "mpeg2video"):
            self._tb, self._ticks_per_frame = 1 / self.fps, 1
        else:
            k = max(1, math.ceil(1000 / self.fps.numerator))
            self._tb = Fraction(1, self.fps.numerator * k)
            self._ticks_per_frame = self.fps.denominator * k
        try:
            stream = cast(VideoStream, self._out.add_stream(self.codec, rate=self.fps))
        except ValueError as exc:
            raise OutputError(
                self.path, f"the {ext} container cannot hold '{self.codec}' video ({exc})"
            ) from None
        stream.width, stream.height = ew, eh
        stream.pix_fmt = self.pix_fmt
        stream.codec_context.time_base = self._tb
        hd = eh >= 720
        self._sws_colorspace = Colorspace.ITU709 if hd else Colorspace.ITU601
        tag = _AVCOL_BT709 if hd else _AVCOL_SMPTE170M
        cc = stream.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc = tag, tag, tag
        cc.color_range = _AVCOL_RANGE_MPEG
        opts: dict[str, Any] = {}
        if self.codec.startswith(("libx26", "libvpx", "libaom", "libsvtav1")):
            opts["crf"] = str(self.crf)
            if self.codec.startswith("libvpx"):
                opts.update({"b": "0", "row-mt": "1"})
        opts.update(self.encoder_options)
        stream.options = opts
        self._vstream = stream

        if self._audio_streams:
            assert self.audio_from is not None
            self._audio = AudioCopier(
                self.audio_from,
                self._audio_streams,
                self._out,
                self.path,
                keep_offset=ext != ".avi",
            )
            self._offset_ticks = int(round(self._audio.video_offset / self._tb))
        try:
            self._out.start_encoding()
        except av.error.FFmpegError as exc:
            raise OutputError(self.path, f"cannot start the video ({ff_message(exc)})") from None

    def _mux_video(self, packets: list[av.Packet]) -> None:
        assert self._out is not None
        for packet in packets:
            # Read the time before muxing: the muxer takes the packet's contents.
            t = (
                float(packet.dts * packet.time_base)
                if packet.dts is not None and packet.time_base
                else None
            )
            self._out.mux(packet)
            if self._audio is not None and t is not None:
                self._audio.pump(t)
