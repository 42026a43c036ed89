"""Fuse the CNN and landmark-motion signals into a REAL / FAKE / UNCERTAIN verdict with reasons.

Both signals arrive as fake probabilities with their own decision thresholds (the CNN's is
calibrated on validation data at training time, the landmark scorer's on real videos or on
facelab's fakes). Each is first **re-centred** so that its threshold sits at 0.5::

    p' = sigmoid(logit(p) - logit(threshold))

then the two are combined in log-odds (a product of experts: independent evidence adds),
each signal weighted by how well it separates real from fake on data it was not trained on
(the shipped CNN's weights carry the measured values, ``meta["fusion"]``; 0.7 and 0.3 without
them). The sum is divided by the **largest** weight, not by the total, and each logit is
clipped to +-4: a weak signal can move a confident one only in proportion to its weight and
can never outvote it by being extreme. When only one signal ran, it decides alone.

The verdict is FAKE above ``0.5 + band``, REAL below ``0.5 - band`` and UNCERTAIN in between,
and also UNCERTAIN when the evidence is too thin (too few scored frames and no motion window)
or two signals of comparable weight point firmly in opposite directions.

A file with several faces is as fake as its most fake face (one swapped face makes a fake
video); tracks too short to judge (spurious detections), faces less than half as wide as the
largest one (background faces, too few pixels to judge) and detections that do not look like a
face (:func:`facelab.detector.pipeline.plausible_face`: a caption, a hand) are listed but do not
decide.

Before any of that, what the file declares about itself (:func:`fuse_declaration`): a C2PA
manifest whose signature and content hashes check out and that declares the content made by a
trained model decides the verdict (FAKE), whatever the pixels say; a manifest that fails
validation, and facelab's unsigned metadata label, are reported but do not decide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from facelab.detector.results import SignalResult, TrackResult

if TYPE_CHECKING:
    from facelab.credentials import Credentials

__all__ = ["AGGREGATES", "FusionConfig", "aggregate_scores", "deciding_tracks", "fuse_declaration", "fuse_media",
           "fuse_track", "recentre", "track_cnn_probability"]


@dataclass(frozen=True)
class FusionConfig:
    """How signals combine.

    Attributes:
        cnn_weight, motion_weight: log-odds weights of the two signals (their measured power to
            separate real from fake, e.g. ``2 * AUC - 1`` on held-out data).
        aggregate: a track's CNN score from its frame scores: ``mean``, or ``top_half`` (the mean
            of the more suspicious half of the frames: a face that is fake for part of a clip).
        band: half-width of the UNCERTAIN band around 0.5.
        min_cnn_frames: fewer scored frames than this (and no motion window) -> UNCERTAIN.
        min_track_frames: tracks shorter than this *and* shorter than ``min_track_share`` of the
            longest track do not decide the file's verdict (spurious detections).
        min_track_share: see ``min_track_frames``.
        lip_sync_weight: log-odds weight of the lip-sync check (:mod:`facelab.detector.lipsync`);
            it only counts on tracks with speech windows, so silence never moves a verdict.
        fingerprint_weight: log-odds weight of the motion fingerprint
            (:mod:`facelab.detector.fingerprint`); only for tracks of the fingerprint's person.
        motion_one_sided, lip_sync_one_sided: count these checks only when they find something
            (re-centred probability above 0.5); a score below their threshold adds nothing. They
            look for artefacts that some fakes have and others do not: a face swap or a neural
            renderer keeps the target's own head motion and, on the original soundtrack, its
            mouth movements; a lip-sync generator makes the lips follow the audio. Natural motion
            and lips in sync therefore do not vouch for a face: on the recipe's held-out videos,
            half of the swaps scored below the motion threshold as did most real videos, and all
            three fakes of ``deepfake_dev`` scored 0.02-0.04 (docs/detect.md).
    """

    cnn_weight: float = 0.7
    motion_weight: float = 0.3
    aggregate: str = "mean"
    band: float = 0.15
    min_cnn_frames: int = 3
    min_track_frames: int = 15
    min_track_share: float = 0.1
    lip_sync_weight: float = 0.3
    fingerprint_weight: float = 0.1
    motion_one_sided: bool = True
    lip_sync_one_sided: bool = True


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def recentre(p: float, threshold: float) -> float:
    """Move ``threshold`` to 0.5 on the log-odds scale (monotone, keeps 0 and 1)."""
    return _sigmoid(_logit(p) - _logit(threshold))


AGGREGATES = ("mean", "top_half")
_CLIP = 4.0  # a signal's log-odds are clipped to +-4 (probability 0.018 - 0.982) before fusion


def aggregate_scores(probs: Sequence[float], how: str = "mean") -> float:
    """One number from per-frame probabilities: ``mean``, or ``top_half`` (mean of the upper half)."""
    arr = np.sort(np.asarray(probs, dtype=np.float64))
    if arr.size == 0:
        return float("nan")
    if how == "mean":
        return float(arr.mean())
    if how == "top_half":
        return float(arr[arr.size // 2:].mean())
    raise ValueError(f"unknown aggregate {how!r}; choose from {', '.join(AGGREGATES)}")


def track_cnn_probability(probs: Sequence[float], threshold: float, how: str = "mean") -> float:
    """A track's CNN probability: the aggregate (:func:`aggregate_scores`) of its re-centred frames.

    Why probabilities, not logits: one confidently wrong frame (motion blur, a hand over the
    face) should not dominate a track of hundreds of frames.
    """
    return aggregate_scores([recentre(p, threshold) for p in probs], how)


def _frames_text(frames: Sequence[int], limit: int = 5) -> str:
    shown = ", ".join(str(f) for f in frames[:limit])
    return shown + (f" and {len(frames) - limit} more" if len(frames) > limit else "")


def fuse_track(cnn: SignalResult, motion: SignalResult, cfg: FusionConfig = FusionConfig(), *,
               cnn_frames: int = 0, top_frames: Sequence[int] = (),
               motion_windows: Sequence[tuple[int, int, float]] = (),
               lip_sync: SignalResult | None = None,
               fingerprint: SignalResult | None = None) -> tuple[float | None, str, list[str]]:
    """Fuse one track's signals.

    Args:
        cnn: the CNN signal, ``probability`` already re-centred (threshold at 0.5).
        motion: the landmark-motion signal, ``probability`` re-centred likewise.
        cnn_frames: how many frames the CNN scored.
        top_frames: the CNN's most suspicious frames, for the reasons.
        motion_windows: ``(start, end, score)`` of the motion windows (re-centred scores).
        lip_sync, fingerprint: the classic checks of issue 13, when they ran (``ran`` is False
            without evidence: no speech, another person); threshold already at 0.5.

    Returns:
        ``(fake_probability or None, verdict, reasons)``.
    """
    reasons: list[str] = []
    terms: list[tuple[float, float]] = []
    names: list[str] = []  # the signal of each term, for the disagreement reason
    if cnn.ran and cnn.probability is not None and cnn_frames > 0:
        terms.append((cfg.cnn_weight, _logit(cnn.probability)))
        names.append("CNN")
        where = f"; most suspicious frames {_frames_text(list(top_frames))}" if top_frames else ""
        reasons.append(f"CNN: fake probability {cnn.probability:.2f} over {cnn_frames} frame(s){where}")
    high = [(s, e) for s, e, p in motion_windows if p >= 0.5]
    if motion.ran and motion.probability is not None and motion_windows:
        x = _logit(motion.probability)
        terms.append((cfg.motion_weight, max(x, 0.0) if cfg.motion_one_sided else x))
        names.append("landmark-motion check")
        spans = ", ".join(f"{s}-{e - 1}" for s, e in high[:4]) + (" ..." if len(high) > 4 else "")
        detail = f"; windows above 0.5: frames {spans}" if high else "; no window above 0.5"
        if cfg.motion_one_sided and x < 0:
            detail += " (natural motion does not count towards REAL: swaps keep the target's motion)"
        reasons.append(f"landmark motion: fake probability {motion.probability:.2f} over "
                       f"{len(motion_windows)} window(s){detail}")
    extra = _classic_terms(lip_sync, fingerprint, cfg, reasons)
    terms += [(w, x) for _, w, x in extra]
    names += [n for n, _, _ in extra]
    names = [n for n, (w, _) in zip(names, terms) if w > 0]
    terms = [(w, x) for w, x in terms if w > 0]
    if not terms:
        return None, "UNCERTAIN", ["no signal could score this face"]

    top = max(w for w, _ in terms)
    p = _sigmoid(sum(w * min(max(x, -_CLIP), _CLIP) for w, x in terms) / top)
    if p >= 0.5 + cfg.band:
        verdict = "FAKE"
    elif p <= 0.5 - cfg.band:
        verdict = "REAL"
    else:
        verdict = "UNCERTAIN"
        reasons.append(f"fused probability {p:.2f} is within {cfg.band:.2f} of 0.5")

    if cnn_frames < cfg.min_cnn_frames and not motion_windows and not extra:
        verdict = "UNCERTAIN"
        reasons.append(f"too little evidence: {cnn_frames} frame(s) scored by the CNN and no motion window")
    firm = [(n, x) for n, (w, x) in zip(names, terms) if w >= 0.5 * top]  # only signals of comparable weight can veto
    says_real = [n for n, x in firm if x < _logit(0.5 - cfg.band)]
    says_fake = [n for n, x in firm if x > _logit(0.5 + cfg.band)]
    if says_real and says_fake:
        verdict = "UNCERTAIN"
        pair = sorted((says_fake[0], says_real[0]), key=names.index)  # "the CNN and the landmark-motion check"
        reasons.append(f"the {pair[0]} and the {pair[1]} disagree")
    return p, verdict, reasons


def _classic_terms(lip_sync: SignalResult | None, fingerprint: SignalResult | None, cfg: FusionConfig,
                   reasons: list[str]) -> list[tuple[str, float, float]]:
    """Log-odds terms (name, weight, logit) of the lip-sync check and the motion fingerprint.

    A check that did not run (no audio, no speech, another person, no fingerprint) adds nothing:
    missing evidence is not evidence of a fake.
    """
    out = []
    if lip_sync is not None and lip_sync.ran and lip_sync.probability is not None:
        x = _logit(lip_sync.probability)
        out.append(("lip-sync check", cfg.lip_sync_weight, max(x, 0.0) if cfg.lip_sync_one_sided else x))
        n = lip_sync.details.get("windows_with_speech", 0)
        lag = lip_sync.details.get("median_best_lag_s")
        reasons.append(f"lip sync: fake probability {lip_sync.probability:.2f} over {n} speech window(s)"
                       + (f"; the mouth best matches the sound at {lag:+.2f} s" if lag is not None else "")
                       + ("; lips in sync do not count towards REAL" if cfg.lip_sync_one_sided and x < 0 else ""))
    if fingerprint is not None and fingerprint.ran and fingerprint.probability is not None:
        out.append(("motion fingerprint", cfg.fingerprint_weight, _logit(fingerprint.probability)))
        reasons.append(f"motion fingerprint of {fingerprint.details.get('person', 'the reference')}: "
                       f"probability {fingerprint.probability:.2f} that this face does not move like them")
    elif fingerprint is not None and fingerprint.details.get("same_person") is False:
        reasons.append(f"motion fingerprint: {fingerprint.skipped_reason}")  # another person: not evidence of a fake
    return out


def deciding_tracks(tracks: Sequence[TrackResult], cfg: FusionConfig = FusionConfig()) -> list[TrackResult]:
    """The tracks that may decide a file's verdict, in their order.

    Long enough (``min_track_frames``, or ``min_track_share`` of the longest track), at least
    half as wide as the largest face-like face, mostly face-like detections, and scored (a
    fake probability). The recipe of the shipped detector calibrates on the same tracks.
    """
    if not tracks:
        return []
    longest = max(t.frames for t in tracks)
    sizes = [t.face_size for t in tracks if not math.isnan(t.face_size) and t.plausible >= 0.5]
    largest = max(sizes) if sizes else float("nan")

    def decides(t: TrackResult) -> bool:
        long_enough = t.frames >= cfg.min_track_frames or t.frames >= cfg.min_track_share * longest
        big_enough = math.isnan(t.face_size) or not largest > 0 or t.face_size >= 0.5 * largest
        return long_enough and big_enough and t.plausible >= 0.5 and not math.isnan(t.fake_probability)

    return [t for t in tracks if decides(t)]


def fuse_media(tracks: Sequence[TrackResult], cfg: FusionConfig = FusionConfig()) -> tuple[float | None, str, list[str]]:
    """A file's verdict from its tracks: the most fake deciding track decides.

    FAKE if any deciding track is FAKE; REAL if all deciding tracks with a probability are REAL;
    otherwise UNCERTAIN. No face at all is UNCERTAIN with ``None`` probability.
    """
    if not tracks:
        return None, "UNCERTAIN", ["no face found"]
    deciding = deciding_tracks(tracks, cfg)
    ignored = [t for t in tracks if t not in deciding]
    reasons: list[str] = []
    if not deciding:
        return None, "UNCERTAIN", ["no face track could be scored"]
    worst = max(deciding, key=lambda t: float(t.fake_probability))
    verdicts = {t.verdict for t in deciding}
    verdict = "FAKE" if "FAKE" in verdicts else "REAL" if verdicts == {"REAL"} else "UNCERTAIN"
    if len(tracks) > 1:
        reasons.append(f"{len(deciding)} face track(s) judged; the most suspicious is track {worst.track}")
    reasons.extend(worst.reasons)
    if ignored:
        reasons.append(f"ignored {len(ignored)} short, small, unscored or face-unlike track(s): "
                       + ", ".join(f"{t.track} ({t.frames} frames)" for t in ignored[:5]))
    return float(worst.fake_probability), verdict, reasons


def fuse_declaration(verdict: str, reasons: Sequence[str], credentials: Credentials) -> tuple[str, list[str]]:
    """The verdict and reasons once what the file declares is taken in.

    Why a valid declaration decides: it is the maker's own statement, signed, over content that
    has not changed since; no pixel statistic is stronger evidence. Anyone can sign, so only a
    declaration of *synthetic* decides: a manifest that says "camera capture" proves nothing
    against the pixels. A manifest that fails validation (content changed after signing, a
    forged signature) is reported first and leaves the verdict to the analysis; so does
    facelab's metadata label, which anyone can write or strip.
    """
    if credentials.valid and credentials.declared_synthetic:
        return "FAKE", [credentials.summary(), *(f"analysis: {r}" for r in reasons)]
    if credentials.c2pa in ("invalid", "unreadable"):
        return verdict, [credentials.summary(), *reasons]
    if credentials.label is not None:
        return verdict, [*reasons, f"labelled synthetic in its metadata (unsigned, not proof): {credentials.label}"]
    return verdict, list(reasons)
