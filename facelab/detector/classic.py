"""The classic checks of ``facelab detect`` (lip sync, motion fingerprint) as pipeline signals.

:mod:`facelab.detector.pipeline` calls three things from here, so that its frame loop only
feeds one more collector:

1. :func:`start` before the loop: reads the audio, and returns the
   :class:`~facelab.detector.facetrace.TraceCollector` to feed (dlib's 68 points when the
   ``dlib`` extra is installed, else MTCNN's 5 points), or None when neither check can run.
2. :func:`track_signals` per track at the end: the ``lip_sync`` and ``fingerprint``
   :class:`~facelab.detector.results.SignalResult` and the per-frame lip-sync scores.
3. :func:`media_signals`: the file-level signals (the most fake track's, as the other signals).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from facelab.detector.facetrace import FaceTrace, TraceCollector, dense_available
from facelab.detector.fingerprint import Fingerprint
from facelab.detector.lipsync import LipSyncResult, discount_listeners, lip_sync
from facelab.detector.results import SignalResult
from facelab.io.audio import AudioTrack, read_audio

__all__ = ["ClassicRun", "media_signals", "start", "track_signals"]

log = logging.getLogger(__name__)

NO_REFERENCE = "no --reference fingerprint given"


@dataclass
class ClassicRun:
    """What the classic checks need from one video: its audio and the collector fed by the loop."""

    audio: AudioTrack | None
    collector: TraceCollector | None
    fingerprint: Fingerprint | None
    lip_sync: bool
    fps: float | None
    note: str | None = None  # why the lip-sync check cannot run at all
    traces: dict[int, FaceTrace] | None = None  # the collector's traces, once the loop is done
    lips: dict[int, LipSyncResult] | None = None  # every track's lip-sync result, once the loop is done


def start(path: Path, fps: float | None, *, lip_sync_on: bool, fingerprint: Fingerprint | None) -> ClassicRun:
    """Read the audio (when the lip-sync check is on) and make the collector the checks need."""
    audio, note = None, None
    if lip_sync_on:
        audio = read_audio(path)
        if audio is None:
            note = "the video has no audio track"
        elif not fps:
            note = "the video has no frame rate"
    else:
        note = "lip-sync check switched off"
    need = (lip_sync_on and note is None) or fingerprint is not None
    collector = None
    if need:
        dense = fingerprint is not None or dense_available()  # the fingerprint raises its own hint
        if not dense:
            log.info("dlib extra not installed: the lip-sync check uses the 5-point mouth measure")
        collector = TraceCollector(dense=dense, embed=fingerprint is not None, fps=fps)
    return ClassicRun(audio=audio, collector=collector, fingerprint=fingerprint, lip_sync=lip_sync_on, fps=fps, note=note)


def track_signals(run: ClassicRun, track: int) -> tuple[SignalResult, SignalResult, dict[int, float]]:
    """``(lip_sync, fingerprint, {frame: score of the lip-sync window centred nearest it})`` of one track."""
    if run.traces is None:
        run.traces = run.collector.traces() if run.collector is not None else {}
    if run.lips is None:  # all tracks at once: a listener is judged against the speaker
        audio = run.audio
        run.lips = {} if run.note is not None or audio is None else discount_listeners(
            {t: lip_sync(tr, audio.samples, audio.sample_rate, run.fps) for t, tr in run.traces.items()})
    return _track(run, run.traces.get(track), run.lips.get(track))


def _track(run: ClassicRun, trace: FaceTrace | None, res: LipSyncResult | None
           ) -> tuple[SignalResult, SignalResult, dict[int, float]]:
    fp = _fp(run, trace)
    if run.note is not None:
        return SignalResult(ran=False, skipped_reason=run.note), fp, {}
    if trace is None or res is None:
        return SignalResult(ran=False, skipped_reason="no detected face in this track"), fp, {}
    # each frame gets the score of the speech window whose centre is nearest (as the motion windows)
    frames: dict[int, float] = {}
    nearest: dict[int, float] = {}
    for w in res.evidence:
        if w.score is None:
            continue
        centre = (w.start + w.end) / 2
        for f in range(w.start, w.end):
            if abs(centre - f) < nearest.get(f, float("inf")):
                nearest[f], frames[f] = abs(centre - f), float(w.score)
    if res.probability is None:
        return SignalResult(ran=False, skipped_reason=res.reason, details=res.details() if res.windows else {}), fp, frames
    return SignalResult(ran=True, probability=res.probability, details=res.details()), fp, frames


def _fp(run: ClassicRun, trace: FaceTrace | None) -> SignalResult:
    fp = run.fingerprint
    if fp is None:
        return SignalResult(ran=False, skipped_reason=NO_REFERENCE)
    if trace is None:
        return SignalResult(ran=False, skipped_reason="no detected face in this track")
    res = fp.score(trace)
    details = res.details(fp.name)
    details["fingerprint_seconds"] = round(fp.seconds, 1)  # footage it was built from
    if fp.seconds < 60:
        details["weak_fingerprint"] = True  # under a minute: a ranking, not a verdict (docs/detect.md)
    if res.probability is None:
        return SignalResult(ran=False, skipped_reason=res.reason, details=details)
    if res.reason:
        details["note"] = res.reason
    return SignalResult(ran=True, probability=res.probability, details=details)


def media_signals(lips: list[SignalResult], fps_: list[SignalResult]) -> tuple[SignalResult, SignalResult]:
    """The file's lip-sync and fingerprint signals: the most fake track's, or why none ran."""
    out = []
    for sigs, default in ((lips, "not run"), (fps_, NO_REFERENCE)):
        ran = [s for s in sigs if s.ran and s.probability is not None]
        if ran:
            worst = max(ran, key=lambda s: float(s.probability or 0.0))
            out.append(SignalResult(ran=True, probability=worst.probability, details={
                "tracks_scored": len(ran), **{k: v for k, v in worst.details.items()
                                              if not isinstance(v, (list, dict))}}))
        else:
            reason = next((s.skipped_reason for s in sigs if s.skipped_reason), None) or default
            out.append(SignalResult(ran=False, skipped_reason=reason))
    return out[0], out[1]
