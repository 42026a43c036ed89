"""Decoding a video stream through damage, the way the ``ffmpeg`` command line does.

A damaged file (a broken download, a bad memory card, a stream recorded over a flaky link) holds
packets that the decoder rejects, or a stretch the demuxer cannot parse. ``ffmpeg`` and
``ffprobe -count_frames`` log the error and carry on: the bad packet is skipped, the decoder
conceals what it can (a frame decoded from damaged data is still output, flagged corrupt) or
drops the frame, and decoding resumes at the next decodable frame. PyAV's ``container.decode()``
instead raises at the first error, which ends the iteration. :class:`FrameDecoder` drives the
demuxer and the decoder one packet at a time so that an error costs one packet, not the rest of
the file, and keeps a :class:`Damage` record of what was lost and where.

Counting what was lost:
    Every video packet the demuxer returns is one coded frame. A frame is *lost* when its packet's
    presentation timestamp never comes out of the decoder; its position in the stream is the rank
    of that timestamp among all packets' timestamps, so a lost frame is reported by its index in
    the undamaged video and by its time. In a constant-frame-rate stream, a gap of several frame
    durations between two packets' timestamps counts as lost frames too (packets cut out whole
    leave no decoding error, only the gap); in a variable-rate one gaps are normal and are not
    counted. Where packets carry no timestamps (some AVI and MPEG
    files), only the count is known, and the times are those of the packets the decoder rejected.
    When the container's index promises more frames than the file holds (a truncated file), the
    missing tail counts as lost too.

Policy ``on_damage``:
    ``"skip"`` (the default) decodes through the damage and reports it; ``"fail"`` raises
    :class:`~facelab.errors.InputError` at the first sign of damage (a rejected packet, a demuxer
    error, a concealed frame, or frames missing at the end), for pipelines that must refuse
    damaged inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import av.error
import numpy as np
from av.video.stream import VideoStream

from facelab.errors import InputError
from facelab.io.media import ff_message

__all__ = ["ON_DAMAGE", "Damage", "FrameDecoder", "OnDamage"]

log = logging.getLogger(__name__)

OnDamage = Literal["skip", "fail"]
#: The values of ``on_damage`` (and of the CLI's ``--on-damage``).
ON_DAMAGE: tuple[str, ...] = ("skip", "fail")

# A demuxer that fails this many times in a row without returning a packet is not going to
# recover (ffmpeg stops at the first hard read error; most demuxers resync on their own first).
_MAX_DEMUX_RETRIES = 32


@dataclass
class Damage:
    """What decoding a video lost to damage, and where.

    Attributes:
        frames_expected: coded frames in the stream: packets read, or the container index's
            count when that is larger (a truncated file). None when neither is known.
        frames_decoded: frames the decoder output (concealed ones included).
        frames_concealed: decoded frames the decoder flagged as built from damaged data.
        lost_frames: ``(index, seconds)`` of each lost frame: its position in the undamaged
            stream and its time from the start of the stream; ``index`` is -1 where positions
            are unknown (packets without timestamps).
        frames_lost: how many frames were lost (``len(lost_frames)`` when positions are known).
        decode_errors: packets the decoder rejected.
        demux_errors: read errors the demuxer skipped over.
        truncated: the file ended before its index said (or well short of its duration).
        errors: the first few error messages, for the log and reports.
    """

    frames_expected: int | None = None
    frames_decoded: int = 0
    frames_concealed: int = 0
    lost_frames: list[tuple[int, float]] = field(default_factory=list)
    frames_lost: int = 0
    decode_errors: int = 0
    demux_errors: int = 0
    truncated: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        """True when anything was lost, rejected, concealed or cut off."""
        return bool(
            self.frames_lost
            or self.decode_errors
            or self.demux_errors
            or self.frames_concealed
            or self.truncated
        )

    def ranges(self) -> list[dict[str, Any]]:
        """Runs of consecutive lost frames: ``first_frame``, ``last_frame``, ``frames``,
        ``start_s``, ``end_s`` (frame indices in the undamaged stream; -1 when unknown)."""
        out: list[dict[str, Any]] = []
        for index, t in self.lost_frames:
            last = out[-1] if out else None
            if last is not None and index >= 0 and last["last_frame"] == index - 1:
                last.update(last_frame=index, end_s=round(t, 3), frames=last["frames"] + 1)
            else:
                out.append(
                    {"first_frame": index, "last_frame": index, "frames": 1,
                     "start_s": round(t, 3), "end_s": round(t, 3)}
                )
        return out

    def describe(self) -> str:
        """One line for summaries and warnings ('' when undamaged)."""
        if not self.damaged:
            return ""
        parts = []
        if self.frames_lost:
            of = f" of {self.frames_expected}" if self.frames_expected else ""
            where = self.ranges()
            times = ", ".join(
                f"{r['start_s']:.2f}s" if r["frames"] == 1 else f"{r['start_s']:.2f}-{r['end_s']:.2f}s"
                for r in where[:3]
            )
            more = f" and {len(where) - 3} more" if len(where) > 3 else ""
            at = f" (at {times}{more})" if times and where[0]["first_frame"] >= 0 else ""
            parts.append(f"{self.frames_lost}{of} frames lost to damage{at}")
        if self.truncated:
            parts.append("the file ends early (truncated)")
        if self.frames_concealed:
            parts.append(f"{self.frames_concealed} frames decoded with concealed errors")
        if self.decode_errors or self.demux_errors:
            parts.append(
                f"{self.decode_errors + self.demux_errors} damaged packets skipped"
            )
        return "damaged video: " + "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The fields a sidecar or report carries (all counts, plus the lost ranges)."""
        return {
            "frames_expected": self.frames_expected,
            "frames_decoded": self.frames_decoded,
            "frames_lost_to_damage": self.frames_lost,
            "frames_concealed": self.frames_concealed,
            "damaged_packets": self.decode_errors + self.demux_errors,
            "truncated": self.truncated,
            "lost_ranges": self.ranges(),
        }


class FrameDecoder:
    """Iterate ``(seconds, frame)`` over every decodable frame of ``stream``, through damage.

    ``seconds`` is the frame's presentation time from the start of the stream (the stream's
    ``start_time``, or its first frame), so frames keep their place on the timeline when others
    before them are lost; a missing or non-increasing timestamp is replaced by the previous one
    plus one frame duration. The :attr:`damage` record is complete when the iteration ends.

    Args:
        container: an open input container (the caller closes it).
        stream: its video stream.
        path: the file, for messages.
        fps: nominal frame rate (for filling missing timestamps and estimating lost times).
        expected: frames the container's index promises, when ``expected_exact``; otherwise an
            estimate from the duration, trusted to about 10 %.
        duration: the stream's duration in seconds (0 when unknown); without an exact count,
            the estimate is redone from it and the frame step actually seen in the timestamps
            (a nominal rate can be wrong: a remuxed file may claim 1000 fps).
        on_damage: ``"skip"`` or ``"fail"`` (see the module notes).
    """

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: VideoStream,
        path: Path,
        *,
        fps: Fraction,
        expected: int = 0,
        expected_exact: bool = False,
        duration: float = 0.0,
        on_damage: OnDamage = "skip",
    ) -> None:
        if on_damage not in ON_DAMAGE:
            raise ValueError(f"on_damage must be one of {ON_DAMAGE}, got {on_damage!r}")
        if stream.codec_context is None:  # an unknown codec id: a damaged header, or a codec FFmpeg lacks
            raise InputError(path, "FFmpeg has no decoder for its video stream (damaged header or unknown codec)")
        self.container = container
        self.stream = stream
        self.path = path
        self.fps = fps if fps > 0 else Fraction(30)
        self.expected = int(expected)
        self.expected_exact = expected_exact
        self.duration = float(duration)
        self.fail = on_damage == "fail"
        self.damage = Damage()
        tb = stream.time_base
        self._tb = Fraction(tb) if tb else None
        self._origin: int | None = stream.start_time if self._tb is not None else None
        self._packet_pts: list[int] = []
        self._packets_without_pts = 0
        self._frame_pts: set[int] = set()
        self._last_t: float | None = None
        self._error_times: list[float] = []

    # ---- iteration -------------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[float, av.VideoFrame]]:
        packets = self.container.demux(self.stream)
        failures_in_row = 0
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.EOFError:
                break
            except av.error.FFmpegError as exc:
                failures_in_row += 1
                self._problem("demux", exc)
                if failures_in_row >= _MAX_DEMUX_RETRIES:
                    self.damage.truncated = True
                    break
                packets = self.container.demux(self.stream)  # resume where the read stopped
                continue
            failures_in_row = 0
            if packet.size:
                if packet.pts is None:
                    self._packets_without_pts += 1
                else:
                    self._packet_pts.append(int(packet.pts))
            try:
                frames = self.stream.codec_context.decode(packet if packet.size else None)
            except av.error.FFmpegError as exc:
                self._problem("decode", exc, packet)
                continue
            for frame in frames:
                yield self._place(frame), frame
        self._finish()

    # ---- internals -------------------------------------------------------------------------

    def _problem(self, kind: str, exc: BaseException, packet: av.Packet | None = None) -> None:
        """Count a rejected packet or a demuxer error; in ``fail`` mode, refuse the file."""
        t = self._packet_time(packet) if packet is not None else self._last_t
        where = f" near {t:.2f}s" if t is not None else ""
        message = f"{'undecodable packet' if kind == 'decode' else 'unreadable data'}{where} ({ff_message(exc)})"
        if self.fail:
            raise InputError(self.path, f"damaged video: {message}; --on-damage skip decodes through it")
        if kind == "decode":
            self.damage.decode_errors += 1
        else:
            self.damage.demux_errors += 1
        if t is not None:
            self._error_times.append(t)
        if len(self.damage.errors) < 5:
            self.damage.errors.append(message)
        log.debug("%s: %s", self.path, message)

    def _seconds(self, pts: int) -> float:
        assert self._tb is not None
        if self._origin is None:
            self._origin = pts
        return float((pts - self._origin) * self._tb)

    def _packet_time(self, packet: av.Packet) -> float | None:
        ts = packet.pts if packet.pts is not None else packet.dts
        return self._seconds(int(ts)) if ts is not None and self._tb is not None else None

    def _place(self, frame: av.VideoFrame) -> float:
        """The frame's time on the stream's timeline (kept increasing), and the bookkeeping."""
        self.damage.frames_decoded += 1
        if frame.is_corrupt:
            if self.fail:
                raise InputError(
                    self.path,
                    f"damaged video: frame {self.damage.frames_decoded - 1} was decoded from damaged "
                    "data; --on-damage skip decodes through it",
                )
            self.damage.frames_concealed += 1
        step = 1.0 / float(self.fps)
        t: float | None = None
        if frame.pts is not None and self._tb is not None:
            self._frame_pts.add(int(frame.pts))
            t = self._seconds(int(frame.pts))
        if t is None or (self._last_t is not None and t <= self._last_t):
            t = 0.0 if self._last_t is None else self._last_t + step
        self._last_t = t
        return t

    def _finish(self) -> None:
        """Work out which frames were lost, once the decoder is drained."""
        d = self.damage
        packets = len(self._packet_pts) + self._packets_without_pts
        lost = max(0, packets - d.frames_decoded)
        step_s: float | None = None  # the frame step seen in the timestamps
        known = (
            self._packets_without_pts == 0
            and self._tb is not None
            and self._frame_pts <= set(self._packet_pts)
        )
        if known:
            order = sorted(self._packet_pts)
            missing = set(order) - self._frame_pts
            slots = _frame_slots(order)
            if len(order) >= 3 and slots[-1] > 0:
                step_s = (self._seconds(order[-1]) - self._seconds(order[0])) / slots[-1]
            d.lost_frames = [(slots[i], self._seconds(p)) for i, p in enumerate(order) if p in missing]
            d.lost_frames += _gaps(order, slots, self._seconds)
            d.lost_frames.sort()
            lost = len(d.lost_frames)
            packets = max(packets, slots[-1] + 1 if slots else 0)
        else:
            d.lost_frames = [(-1, t) for t in self._error_times[:lost]]
        d.frames_expected = packets or None
        # A cut-off file: its index promised more frames than were read.
        short = self.expected - packets if self.expected_exact else 0
        estimate = self.expected
        if not self.expected_exact and self.duration > 0 and step_s:
            estimate = int(round(self.duration / step_s))
        if not self.expected_exact and estimate and packets < estimate * 0.9 - 1:
            short = estimate - packets
        if short > 0:
            d.truncated = True
            d.frames_expected = packets + short
            start = (self._last_t if self._last_t is not None else 0.0)
            step = 1.0 / float(self.fps)
            if known:
                d.lost_frames += [(packets + k, start + (k + 1) * step) for k in range(short)]
            lost += short
        d.frames_lost = lost
        if self.fail and d.damaged:
            raise InputError(self.path, f"{d.describe()}; --on-damage skip decodes through it")
        if d.damaged:
            log.warning("%s: %s", self.path, d.describe())


def _frame_slots(order: list[int]) -> list[int]:
    """Each packet's frame index in the undamaged stream, from its (sorted) timestamp.

    Where the timestamps step regularly (a constant frame rate: at least 90 % of the steps equal
    the most common one), a step of ``k`` frame durations means ``k - 1`` frames are missing
    between two packets: packets cut out of the file whole leave no decoding error, only that
    gap. Irregular steps (variable frame rate, where gaps are normal) number packets in order.
    """
    if len(order) < 3:
        return list(range(len(order)))
    steps = [b - a for a, b in zip(order, order[1:], strict=False)]
    values, counts = np.unique(np.asarray(steps), return_counts=True)
    step = int(values[np.argmax(counts)])
    regular = step > 0 and counts.max() >= 0.9 * len(steps)
    if not regular:
        return list(range(len(order)))
    slots, slot = [0], 0
    for s in steps:
        slot += max(1, int(round(s / step)))
        slots.append(slot)
    return slots


def _gaps(order: list[int], slots: list[int], seconds: Callable[[int], float]) -> list[tuple[int, float]]:
    """The frames missing between packets whose slots are not consecutive."""
    out: list[tuple[int, float]] = []
    for k in range(1, len(order)):
        missing = slots[k] - slots[k - 1] - 1
        if missing > 0:
            t0, t1 = seconds(order[k - 1]), seconds(order[k])
            for j in range(1, missing + 1):
                out.append((slots[k - 1] + j, t0 + (t1 - t0) * j / (missing + 1)))
    return out
