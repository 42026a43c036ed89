"""Fusion of the CNN and landmark-motion signals into verdicts."""

from __future__ import annotations

import math

import pytest

from facelab.detector.fuse import (
    FusionConfig,
    aggregate_scores,
    fuse_media,
    fuse_track,
    recentre,
    track_cnn_probability,
)
from facelab.detector.results import SignalResult, TrackResult


def sig(p: float | None) -> SignalResult:
    return SignalResult(ran=p is not None, probability=p)


def track(tid: int, p: float, verdict: str, frames: int = 100, size: float = 100.0,
          plausible: float = 1.0) -> TrackResult:
    return TrackResult(track=tid, first_frame=0, last_frame=frames - 1, frames=frames, cnn=sig(p), motion=sig(None),
                       fake_probability=p, verdict=verdict, reasons=[f"track {tid} reason"], face_size=size,
                       plausible=plausible)


def test_recentre_moves_threshold_to_half_and_is_monotone() -> None:
    assert recentre(0.2, 0.2) == pytest.approx(0.5)
    assert recentre(0.5, 0.5) == pytest.approx(0.5)
    values = [recentre(p, 0.3) for p in (0.01, 0.1, 0.3, 0.6, 0.99)]
    assert values == sorted(values) and values[0] < 0.05 and values[-1] > 0.99
    assert track_cnn_probability([0.3, 0.3], 0.3) == pytest.approx(0.5)
    assert math.isnan(track_cnn_probability([], 0.5))


def test_strong_cnn_alone_decides() -> None:
    p, verdict, reasons = fuse_track(sig(0.95), sig(None), cnn_frames=20, top_frames=[40, 10])
    assert verdict == "FAKE" and p == pytest.approx(0.95)
    assert "frames 40, 10" in reasons[0]
    p, verdict, _ = fuse_track(sig(0.05), sig(None), cnn_frames=20)
    assert verdict == "REAL" and p == pytest.approx(0.05)


def test_weighted_log_odds_and_uncertain_band() -> None:
    cfg = FusionConfig(cnn_weight=0.5, motion_weight=0.5, motion_one_sided=False)  # both directions count
    p, verdict, reasons = fuse_track(sig(0.8), sig(0.2), cfg, cnn_frames=10, motion_windows=[(0, 30, 0.2)])
    assert p == pytest.approx(0.5)  # equal and opposite log-odds cancel
    assert verdict == "UNCERTAIN"
    assert any("disagree" in r for r in reasons)
    # agreeing signals add their log-odds (weights 0.7 and 0.3, divided by the larger)
    p, verdict, _ = fuse_track(sig(0.6), sig(0.6), cnn_frames=10, motion_windows=[(0, 30, 0.6)])
    expected = 1 / (1 + math.exp(-math.log(0.6 / 0.4) / 0.7))
    assert verdict == "UNCERTAIN" and p == pytest.approx(expected)


def test_a_weak_signal_cannot_outvote_a_confident_one() -> None:
    # the case of the issue: CNN confidently fake, the landmark check confidently real but weak
    cfg = FusionConfig(cnn_weight=0.8, motion_weight=0.1, motion_one_sided=False)
    p, verdict, reasons = fuse_track(sig(0.9), sig(0.02), cfg, cnn_frames=20, motion_windows=[(0, 30, 0.02)])
    assert verdict == "FAKE" and p > 0.65
    assert not any("disagree" in r for r in reasons)
    # an extreme value is clipped to +-4 in log-odds: 1e-9 counts no more than 0.018
    p_extreme, _, _ = fuse_track(sig(0.9), sig(1e-9), cfg, cnn_frames=20, motion_windows=[(0, 30, 0.0)])
    p_clip, _, _ = fuse_track(sig(0.9), sig(0.018), cfg, cnn_frames=20, motion_windows=[(0, 30, 0.02)])
    assert p_extreme == pytest.approx(p_clip, abs=1e-3)
    # a signal of weight 0 is reported but does not count
    p0, _, _ = fuse_track(sig(0.9), sig(0.01), FusionConfig(cnn_weight=1, motion_weight=0, motion_one_sided=False),
                          cnn_frames=20, motion_windows=[(0, 30, 0.01)])
    assert p0 == pytest.approx(0.9)


def test_artefact_checks_count_only_when_they_find_something() -> None:
    # the FaceForensics++ Deepfakes clip with the shipped weights: CNN 0.75 (re-centred), landmark
    # motion 0.03, weights 0.875 and 0.333; two-sided the motion check dragged it to UNCERTAIN (0.44)
    cfg = FusionConfig(cnn_weight=0.875, motion_weight=0.333)
    two_sided = FusionConfig(cnn_weight=0.875, motion_weight=0.333, motion_one_sided=False)
    p, verdict, reasons = fuse_track(sig(0.75), sig(0.03), two_sided, cnn_frames=20, motion_windows=[(0, 30, 0.03)])
    assert verdict == "UNCERTAIN" and p == pytest.approx(0.44, abs=0.01)
    p, verdict, reasons = fuse_track(sig(0.75), sig(0.03), cfg, cnn_frames=20, motion_windows=[(0, 30, 0.03)])
    assert verdict == "FAKE" and p == pytest.approx(0.75)
    assert any("does not count towards REAL" in r for r in reasons)
    # what it finds still adds: a flickering face pushes an undecided CNN over the line
    p, verdict, _ = fuse_track(sig(0.6), sig(0.95), cfg, cnn_frames=20, motion_windows=[(0, 30, 0.95)])
    assert verdict == "FAKE" and p > 0.65
    # a real face stays REAL on the CNN's word alone
    p, verdict, _ = fuse_track(sig(0.1), sig(0.03), cfg, cnn_frames=20, motion_windows=[(0, 30, 0.03)])
    assert verdict == "REAL" and p == pytest.approx(0.1)
    # lips in sync likewise add nothing; out of sync adds
    lips_ok = SignalResult(ran=True, probability=0.05, details={"windows_with_speech": 3})
    p, _, reasons = fuse_track(sig(0.75), sig(None), cfg, cnn_frames=20, lip_sync=lips_ok)
    assert p == pytest.approx(0.75) and any("lips in sync do not count" in r for r in reasons)
    lips_off = SignalResult(ran=True, probability=0.9, details={"windows_with_speech": 3})
    assert fuse_track(sig(0.6), sig(None), cfg, cnn_frames=20, lip_sync=lips_off)[0] > 0.6


def test_aggregates() -> None:
    assert aggregate_scores([0.1, 0.2, 0.9, 0.8], "mean") == pytest.approx(0.5)
    assert aggregate_scores([0.1, 0.2, 0.9, 0.8], "top_half") == pytest.approx(0.85)
    assert aggregate_scores([0.3, 0.9, 0.5], "top_half") == pytest.approx(0.7)  # the upper half holds the median
    with pytest.raises(ValueError, match="unknown aggregate"):
        aggregate_scores([0.5], "max")


def test_too_little_evidence_is_uncertain() -> None:
    p, verdict, reasons = fuse_track(sig(0.99), sig(None), cnn_frames=1)
    assert verdict == "UNCERTAIN" and any("too little evidence" in r for r in reasons)
    assert fuse_track(sig(None), sig(None)) == (None, "UNCERTAIN", ["no signal could score this face"])


def test_motion_windows_named_in_reasons() -> None:
    _, verdict, reasons = fuse_track(sig(None), sig(0.9), motion_windows=[(0, 30, 0.95), (15, 45, 0.3)])
    assert verdict == "FAKE"
    assert "frames 0-29" in reasons[0] and "2 window(s)" in reasons[0]


def test_media_most_fake_track_decides_and_short_tracks_ignored() -> None:
    p, verdict, reasons = fuse_media([track(0, 0.1, "REAL"), track(1, 0.9, "FAKE")])
    assert verdict == "FAKE" and p == pytest.approx(0.9)
    assert "track 1" in reasons[0]
    # a 3-frame blip next to a 300-frame face does not decide
    p, verdict, reasons = fuse_media([track(0, 0.1, "REAL", 300), track(1, 0.99, "FAKE", 3)])
    assert verdict == "REAL" and p == pytest.approx(0.1)
    assert any("ignored 1" in r for r in reasons)
    assert fuse_media([]) == (None, "UNCERTAIN", ["no face found"])
    assert fuse_media([track(0, 0.5, "UNCERTAIN"), track(1, 0.1, "REAL")])[1] == "UNCERTAIN"


def test_small_faces_and_face_unlike_tracks_do_not_decide() -> None:
    # a background face less than half as wide as the main one
    p, verdict, reasons = fuse_media([track(0, 0.1, "REAL", size=200), track(1, 0.95, "FAKE", size=80)])
    assert verdict == "REAL" and p == pytest.approx(0.1) and any("ignored 1" in r for r in reasons)
    # a caption the detector took for a face: its detections mostly fail the face check
    p, verdict, _ = fuse_media([track(0, 0.2, "REAL", size=100), track(1, 0.97, "FAKE", size=300, plausible=0.2)])
    assert verdict == "REAL" and p == pytest.approx(0.2)


def test_plausible_face_checks_score_and_landmark_layout() -> None:
    import numpy as np

    from facelab.detector.pipeline import plausible_face
    from facelab.faces.detect import Face

    lm = np.array([[40, 50], [60, 50], [50, 62], [42, 72], [58, 72]], np.float32)  # eyes, nose, mouth corners
    box = np.array([25, 30, 75, 90], np.float32)
    assert plausible_face(Face(box, 0.99, lm))
    assert not plausible_face(Face(box, 0.80, lm))  # a weak detection
    upside = lm.copy()
    upside[:, 1] = 120 - upside[:, 1]  # mirrored top to bottom: no rotation of a face puts it so
    assert not plausible_face(Face(box, 0.99, upside))
    rolled = (lm - 50) @ np.array([[0, 1], [-1, 0]], np.float32) + 50  # the same face turned 90 degrees
    assert plausible_face(Face(np.array([20, 25, 80, 85], np.float32), 0.99, rolled))
    tiny_eyes = lm.copy()
    tiny_eyes[1, 0] = 42  # eyes 2 px apart in a 50 px box
    assert not plausible_face(Face(box, 0.99, tiny_eyes))
