"""The lip-sync check: does the mouth move with the speech in the audio?

    audio = read_audio("clip.mp4")                       # facelab.io.audio; None: no audio track
    trace = traces[track]                                # facelab.detector.facetrace.FaceTrace
    check = lip_sync(trace, audio, fps=25.0)             # LipSyncResult: windows, probability

Speech moves the mouth: the lips open on vowels and close on /p b m/, so the loudness of speech
and the opening of the speaker's mouth rise and fall together, the sound a few tens of
milliseconds after the lips (Chandrasekaran et al., "The natural statistics of audiovisual
speech", PLoS Comput Biol 2009). A video whose audio was replaced (dubbing, a cloned voice
over real footage) or whose mouth was re-rendered to other audio drifts out of that relation.

1. **Mouth opening** per detected frame: the mean inner-lip distance of dlib's 68 points
   (iBUG 61-67, 62-66, 63-65, 0-based) over the inter-ocular distance; without the ``dlib``
   extra, the contrast of the image patch between MTCNN's mouth corners
   (:func:`facelab.detector.facetrace.mouth_patch_opening`). Gaps of up to
   :data:`MAX_GAP` frames are interpolated.
2. **Speech envelope**: the audio band-passed to the voice band (300-3400 Hz, 4th-order
   Butterworth, ``scipy.signal``), its energy in 25 ms frames every 10 ms in dB, interpolated
   to the video frame times.
3. **Windows** of ``window_s`` seconds every ``stride_s``: the Pearson correlation between the
   mouth and the envelope shifted by each lag in +-``max_lag_s`` (positive: the sound comes
   after the mouth). The window's **sync correlation** is the best correlation within
   ``sync_lags`` (the lags real speech shows); its **best lag** is where the whole curve peaks.
4. **Evidence**: a window counts only when someone is speaking in it: at least
   ``min_speech`` of its frames are more than ``speech_db`` above the clip's quiet level, and
   the envelope rises and falls like syllables (at least ``min_modulation`` of its fluctuation
   power at 2-8 Hz). Silence, steady music and noise are *no evidence*, never "fake".
5. **Listeners**: with several faces, a face's window is no evidence where another face is in
   sync and matches the speech clearly better (:func:`discount_listeners`): that face is the
   speaker, this one listens.
6. **Score**: each window's fake probability is a logistic function of its sync correlation and
   of how far the peak elsewhere rises above it, fitted on real talking clips against the same
   clips with their audio shifted or swapped (:data:`CALIBRATION`, made by
   ``bench/lipsync_eval.py``); the track's probability is the sigmoid of the mean window
   log-odds.

Limits: a face that is not the speaker (an interviewer listening, a narrator's voice over) reads
as out of sync, so a FAKE from this signal alone means "this face is not saying these words".
Tracks without 68 points use the coarser 5-point mouth measure.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal as sps

from facelab.detector.facetrace import FaceTrace

__all__ = ["CALIBRATION", "LipSyncConfig", "LipSyncResult", "SyncWindow", "discount_listeners", "lip_sync",
           "mouth_opening", "speech_envelope"]

log = logging.getLogger(__name__)

#: Gaps of up to this many frames between detections are interpolated.
MAX_GAP = 10
_CALIBRATION_FILE = Path(__file__).with_name("lipsync_calibration.json")


@dataclass(frozen=True)
class LipSyncConfig:
    """Windows, lags and the evidence rule of the lip-sync check (see the module docstring).

    ``coef`` and ``intercept`` are the window logistic model: fake log-odds =
    ``intercept + coef[0] * sync_corr + coef[1] * (peak_corr - sync_corr)``, fitted for dlib's
    mouth; ``coef_5pt`` and ``intercept_5pt`` the same for the 5-point mouth measure.
    """

    window_s: float = 4.0
    stride_s: float = 2.0
    max_lag_s: float = 0.5
    sync_lags: tuple[float, float] = (-0.1, 0.2)
    band_hz: tuple[float, float] = (300.0, 3400.0)
    speech_db: float = 10.0
    min_speech: float = 0.3
    min_modulation: float = 0.25
    min_mouth: float = 0.8
    coef: tuple[float, float] = (-4.0, 1.0)
    intercept: float = 0.8
    coef_5pt: tuple[float, float] = (-4.0, 0.5)
    intercept_5pt: float = 1.0

    @classmethod
    def calibrated(cls) -> LipSyncConfig:
        """The shipped calibration (:data:`CALIBRATION`), or the defaults when it is missing."""
        return CALIBRATION


def _load_calibration() -> LipSyncConfig:
    try:
        raw = json.loads(_CALIBRATION_FILE.read_text())
    except FileNotFoundError:
        return LipSyncConfig()
    kw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw["config"].items()}
    return LipSyncConfig(**kw)


@dataclass
class SyncWindow:
    """One window of the check: frames ``start <= f < end`` (video frame indices).

    Attributes:
        sync_corr: best correlation within the in-sync lags (NaN without evidence).
        peak_corr, best_lag: the highest correlation over all lags and its lag in seconds.
        speech: share of the window's frames with speech; evidence: whether the window counts.
        score: fake probability (None without evidence).
        curve: correlation per lag (``lags`` of the result), for the report's plot.
    """

    start: int
    end: int
    sync_corr: float
    peak_corr: float
    best_lag: float
    speech: float
    evidence: bool
    score: float | None = None
    curve: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else round(float(v), 4)

        return {"start": self.start, "end": self.end, "sync_corr": r(self.sync_corr), "peak_corr": r(self.peak_corr),
                "best_lag_s": r(self.best_lag), "speech_share": r(self.speech), "evidence": self.evidence,
                "score": r(self.score), "curve": [r(v) for v in self.curve]}


@dataclass
class LipSyncResult:
    """The check on one track: its windows, and a probability when any window is evidence."""

    windows: list[SyncWindow]
    lags: np.ndarray  # seconds, one per curve point
    probability: float | None
    mouth_source: str  # "dlib68" or "5pt"
    reason: str | None = None  # why there is no probability

    @property
    def evidence(self) -> list[SyncWindow]:
        return [w for w in self.windows if w.evidence]

    def details(self) -> dict[str, Any]:
        ev = self.evidence
        best = [w.best_lag for w in ev]
        return {"mouth": self.mouth_source, "windows_with_speech": len(ev), "windows": len(self.windows),
                "median_sync_corr": None if not ev else round(float(np.median([w.sync_corr for w in ev])), 4),
                "median_best_lag_s": None if not ev else round(float(np.median(best)), 3),
                "lags_s": [round(float(v), 3) for v in self.lags],
                "sync_windows": [w.to_json() for w in self.windows]}


def mouth_opening(trace: FaceTrace) -> tuple[np.ndarray, str]:
    """Mouth opening per detected frame of ``trace`` and its source (``dlib68`` or ``5pt``)."""
    iod = np.linalg.norm(trace.points5[:, 1] - trace.points5[:, 0], axis=1).astype(np.float64)
    if trace.points68 is not None:
        p = trace.points68.astype(np.float64)
        gap = sum(np.linalg.norm(p[:, a] - p[:, b], axis=1) for a, b in ((61, 67), (62, 66), (63, 65))) / 3
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(iod > 1, gap / iod, np.nan), "dlib68"
    return trace.mouth_patch.astype(np.float64), "5pt"


def _per_frame(frames: np.ndarray, values: np.ndarray, first: int, last: int) -> np.ndarray:
    """Values on every frame ``first..last``; gaps up to MAX_GAP interpolated, longer ones NaN."""
    out = np.full(last - first + 1, np.nan)
    ok = np.isfinite(values)
    f, v = frames[ok], values[ok]
    if len(f) == 0:
        return out
    out[f - first] = v
    for a, b in zip(f[:-1], f[1:]):
        if 1 < b - a <= MAX_GAP:
            idx = np.arange(a + 1, b)
            out[idx - first] = np.interp(idx, [a, b], [out[a - first], out[b - first]])
    return out


def speech_envelope(samples: np.ndarray, sample_rate: int, band: tuple[float, float] = (300.0, 3400.0)
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Voice-band energy in dB of 25 ms frames every 10 ms: ``(times in s, dB)``.

    dB relative to full scale (a full-scale sine is about -3 dB); silence is floored at -100.
    """
    x = np.asarray(samples, np.float64)
    hi = min(band[1], 0.45 * sample_rate)
    sos = sps.butter(4, [band[0], hi], btype="bandpass", fs=sample_rate, output="sos")
    y = sps.sosfiltfilt(sos, x) if len(x) > 30 else x
    hop, win = round(0.010 * sample_rate), round(0.025 * sample_rate)
    if len(y) < win:
        return np.zeros(0), np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(y ** 2, win)[::hop]
    energy = frames.mean(axis=1)
    times = (np.arange(len(energy)) * hop + win / 2) / sample_rate
    return times, 10 * np.log10(np.maximum(energy, 1e-10))


def _modulation(env_db: np.ndarray, rate: float) -> float:
    """Share of the envelope's fluctuation power at 2-8 Hz (syllables) within 0.5-20 Hz."""
    x = 10 ** (env_db / 20)  # amplitude: loud passages dominate, as they do for the ear
    if len(x) < 16:
        return 0.0
    f, pxx = sps.welch(x - x.mean(), fs=rate, nperseg=min(len(x), 128))
    tot = pxx[(f >= 0.5) & (f <= 20)].sum()
    return float(pxx[(f >= 2) & (f <= 8)].sum() / tot) if tot > 0 else 0.0


def _corr(a: np.ndarray, b: np.ndarray, min_valid: int) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < min_valid:
        return math.nan
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-12 else math.nan


def lip_sync(trace: FaceTrace, samples: np.ndarray | None, sample_rate: int, fps: float | None,
             cfg: LipSyncConfig | None = None) -> LipSyncResult:
    """Run the check on one track.

    Args:
        trace: the track's detected frames.
        samples: mono audio on the video's clock (:func:`facelab.io.audio.read_audio`), or None.
        sample_rate: its rate.
        fps: the video's frame rate (frame ``i`` is at ``i / fps`` seconds).
        cfg: windows and calibration (default: :data:`CALIBRATION`).
    """
    cfg = cfg or CALIBRATION
    mouth_raw, source = mouth_opening(trace)
    if samples is None or len(samples) == 0:
        return LipSyncResult([], np.zeros(0), None, source, "the video has no audio track")
    if not fps or len(trace) < 2:
        return LipSyncResult([], np.zeros(0), None, source, "too few frames or no frame rate")
    k = max(1, round(cfg.max_lag_s * fps))
    lags_f = np.arange(-k, k + 1)
    first, last = int(trace.frames[0]), int(trace.frames[-1])
    mouth = _per_frame(trace.frames, mouth_raw, first, last)
    t_env, env_db = speech_envelope(samples, sample_rate, cfg.band_hz)
    if len(t_env) == 0:
        return LipSyncResult([], lags_f / fps, None, source, "the audio track is too short")
    floor = float(np.percentile(env_db, 10))
    thresh = max(floor + cfg.speech_db, -60.0)  # -60 dBFS: below that nobody is talking to the microphone
    env_rate = 1.0 / (t_env[1] - t_env[0]) if len(t_env) > 1 else 100.0
    # envelope at every frame of the track, extended by the lag range on both sides
    idx = np.arange(first - k, last + k + 1)
    t = idx / fps
    env = np.interp(t, t_env, env_db, left=np.nan, right=np.nan)
    w, s = max(4, round(cfg.window_s * fps)), max(1, round(cfg.stride_s * fps))
    n = last - first + 1
    starts = list(range(0, max(n - w, 0) + 1, s)) if n >= w else ([0] if n >= max(4, w // 2) else [])
    lo, hi = cfg.sync_lags
    in_sync = (lags_f / fps >= lo - 1e-9) & (lags_f / fps <= hi + 1e-9)
    windows: list[SyncWindow] = []
    for a in starts:
        b = min(a + w, n)
        m = mouth[a:b]
        curve = np.array([_corr(m, env[a + k + L: b + k + L], int(cfg.min_mouth * (b - a))) for L in lags_f])
        e = env[a + k: b + k]
        speech = float(np.mean(np.nan_to_num(e, nan=-200.0) > thresh))
        t0, t1 = (first + a) / fps, (first + b) / fps
        sel = (t_env >= t0) & (t_env < t1)
        mod = _modulation(env_db[sel], env_rate) if sel.sum() >= 16 else 0.0
        ok_mouth = float(np.isfinite(m).mean()) >= cfg.min_mouth
        finite = np.isfinite(curve)
        evidence = bool(ok_mouth and speech >= cfg.min_speech and mod >= cfg.min_modulation and finite[in_sync].any())
        sync = float(np.nanmax(curve[in_sync])) if finite[in_sync].any() else math.nan
        peak_i = int(np.nanargmax(curve)) if finite.any() else 0
        peak = float(curve[peak_i]) if finite.any() else math.nan
        score = None
        if evidence:
            coef, icpt = (cfg.coef, cfg.intercept) if source == "dlib68" else (cfg.coef_5pt, cfg.intercept_5pt)
            z = icpt + coef[0] * sync + coef[1] * (peak - sync)
            score = 1.0 / (1.0 + math.exp(-z))
        windows.append(SyncWindow(start=first + a, end=first + b, sync_corr=sync, peak_corr=peak,
                                  best_lag=float(lags_f[peak_i] / fps), speech=speech, evidence=evidence,
                                  score=score, curve=[float(v) for v in curve]))
    if not windows:
        return LipSyncResult([], lags_f / fps, None, source, f"track shorter than a {cfg.window_s / 2:g} s window")
    return _summarise(LipSyncResult(windows, lags_f / fps, None, source))


_NO_SPEECH = "no evidence: nobody speaks while this face is visible (silence, music or noise)"


def _summarise(res: LipSyncResult, no_evidence: str = _NO_SPEECH) -> LipSyncResult:
    """Set the track probability from its evidence windows: sigmoid of their mean log-odds."""
    ev = [w.score for w in res.windows if w.evidence and w.score is not None]
    if not ev:
        res.probability, res.reason = None, no_evidence
        return res
    logit = float(np.mean([math.log(max(p, 1e-6) / max(1 - p, 1e-6)) for p in ev]))
    res.probability, res.reason = 1.0 / (1.0 + math.exp(-logit)), None
    return res


def discount_listeners(results: dict[int, LipSyncResult], margin: float = 0.1) -> dict[int, LipSyncResult]:
    """With several faces, only the one speaking is expected to be in sync.

    A window of one face is no evidence when, over at least half of it, another face has a
    window that is in sync (score below 0.5) with a sync correlation at least ``margin`` higher:
    the other face is the speaker and this one is listening. Without this, every listener in an
    interview would read as out of sync. Changes ``results`` in place and returns it.
    """
    for tid, res in results.items():
        changed = False
        for w in res.evidence:
            for oid, other in results.items():
                if oid == tid:
                    continue
                if any(min(w.end, o.end) - max(w.start, o.start) >= (w.end - w.start) / 2
                       and o.score is not None and o.score < 0.5 and o.sync_corr >= w.sync_corr + margin
                       for o in other.evidence):
                    w.evidence, w.score, changed = False, None, True
                    break
        if changed:
            _summarise(res, "no evidence: another face is the speaker whenever this one is visible with speech")
    return results


def config_to_json(cfg: LipSyncConfig) -> dict[str, Any]:
    """The config as JSON-able values (for the calibration file)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


#: The shipped calibration (``lipsync_calibration.json``, written by ``bench/lipsync_eval.py``).
CALIBRATION = _load_calibration()
