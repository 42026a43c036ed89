"""Fusion of the CNN and landmark-motion signals into verdicts."""

from __future__ import annotations

import math

import pytest

from facelab.detector.fuse import FusionConfig, fuse_media, fuse_track, recentre, track_cnn_probability
from facelab.detector.results import SignalResult, TrackResult


def sig(p: float | None) -> SignalResult:
    return SignalResult(ran=p is not None, probability=p)


def track(tid: int, p: float, verdict: str, frames: int = 100) -> TrackResult:
    return TrackResult(track=tid, first_frame=0, last_frame=frames - 1, frames=frames, cnn=sig(p), motion=sig(None),
                       fake_probability=p, verdict=verdict, reasons=[f"track {tid} reason"])


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
    cfg = FusionConfig(cnn_weight=0.5, motion_weight=0.5)
    p, verdict, reasons = fuse_track(sig(0.8), sig(0.2), cfg, cnn_frames=10, motion_windows=[(0, 30, 0.2)])
    assert p == pytest.approx(0.5)  # equal and opposite log-odds cancel
    assert verdict == "UNCERTAIN"
    assert any("disagree" in r for r in reasons)
    p, verdict, _ = fuse_track(sig(0.6), sig(0.6), cnn_frames=10, motion_windows=[(0, 30, 0.6)])
    assert verdict == "UNCERTAIN" and p == pytest.approx(0.6)


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
