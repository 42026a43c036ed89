"""The lip-sync check (facelab.detector.lipsync) on real talking clips and their mismatched audio.

Real code paths throughout: real clips of ``../shared/data`` (skipped without it), real MTCNN
tracking, dlib's 68 points when the extra is installed (else the 5-point fallback), real audio
decoding with PyAV.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from facelab.cli import cli
from facelab.detector.facetrace import FaceTrace, trace_video
from facelab.detector.fuse import FusionConfig, fuse_track
from facelab.detector.lipsync import CALIBRATION, _modulation, discount_listeners, lip_sync, speech_envelope
from facelab.detector.results import SignalResult
from facelab.faces.detect import FaceDetector
from facelab.io.audio import read_audio, write_audio
from facelab.io.video import VideoReader, VideoWriter

GRID = ("real_faces", "grid_lipnet", "lbax4n.mpg")  # 3 s, one speaker, studio light
OTHER = ("real_faces", "pcavs_voxceleb2", "audio_00104.mp4")  # another speaker


def _has_dlib() -> bool:
    try:
        import dlib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def grid(shared_data: Path) -> tuple[Path, FaceTrace]:
    path = shared_data.joinpath(*GRID)
    traces = trace_video(path, FaceDetector(device="cpu", min_face_size=40), dense=_has_dlib())
    assert traces, "no face tracked in the GRID clip"
    return path, max(traces.values(), key=len)


def test_read_audio_is_on_the_video_clock(shared_data: Path, tmp_path: Path) -> None:
    a = read_audio(shared_data.joinpath(*GRID))
    assert a is not None and a.sample_rate == 16_000
    assert 2.5 < a.duration < 3.5 and np.abs(a.samples).max() > 0.05
    # a video written without audio has none
    silent = tmp_path / "silent.mp4"
    with VideoWriter(silent, 25, overwrite=True) as w:
        for i, frame in enumerate(VideoReader(shared_data.joinpath(*GRID))):
            if i == 5:
                break
            w.write(frame)
    assert read_audio(silent) is None


def test_speech_modulation_tells_syllables_from_a_steady_tone() -> None:
    sr = 16_000
    t = np.arange(3 * sr) / sr
    rng = np.random.default_rng(0)
    syllables = rng.normal(0, 0.2, t.size) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2  # 4 Hz bursts
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    for x, speech_like in ((syllables, True), (tone, False)):
        times, db = speech_envelope(x, sr)
        m = _modulation(db, 1 / (times[1] - times[0]))
        assert (m >= CALIBRATION.min_modulation) == speech_like, m


def test_real_audio_is_in_sync_and_mismatched_audio_is_not(grid: tuple[Path, FaceTrace], shared_data: Path) -> None:
    path, trace = grid
    a, b = read_audio(path), read_audio(shared_data.joinpath(*OTHER))
    assert a is not None and b is not None
    sr = a.sample_rate
    shifted = np.concatenate([np.zeros(sr, np.float32), a.samples])[: len(a.samples)]
    other = np.resize(b.samples, len(a.samples))
    for t in (trace, replace(trace, points68=None)):  # dlib's mouth (when installed) and the 5-point fallback
        real = lip_sync(t, a.samples, sr, trace.fps)
        assert real.probability is not None and real.evidence
        assert real.probability < 0.5, (real.mouth_source, real.details())
        assert -0.1 <= float(np.median([w.best_lag for w in real.evidence])) <= 0.25
        for x in (shifted, other):
            fake = lip_sync(t, x, sr, trace.fps)
            assert fake.probability is not None and fake.probability > real.probability + 0.15, real.mouth_source


def test_a_listener_beside_the_speaker_is_no_evidence(grid: tuple[Path, FaceTrace]) -> None:
    """Two faces, one speaking: the other (its mouth moving out of step) is not called out of sync."""
    path, speaker = grid
    a = read_audio(path)
    assert a is not None
    listener = replace(speaker, track=1, points68=None if speaker.points68 is None else speaker.points68[::-1].copy(),
                       points5=speaker.points5[::-1].copy(), mouth_patch=speaker.mouth_patch[::-1].copy())
    alone = lip_sync(listener, a.samples, a.sample_rate, speaker.fps)
    assert alone.probability is not None and alone.probability > 0.5  # alone, it reads as out of sync
    both = discount_listeners({0: lip_sync(speaker, a.samples, a.sample_rate, speaker.fps),
                               1: lip_sync(listener, a.samples, a.sample_rate, speaker.fps)})
    assert both[0].probability is not None and both[0].probability < 0.5
    assert both[1].probability is None and "another face is the speaker" in (both[1].reason or "")


def test_silence_and_no_audio_are_no_evidence(grid: tuple[Path, FaceTrace]) -> None:
    path, trace = grid
    silent = lip_sync(trace, np.zeros(16_000 * 3, np.float32), 16_000, trace.fps)
    assert silent.probability is None and "no evidence" in (silent.reason or "")
    assert lip_sync(trace, None, 16_000, trace.fps).probability is None
    # no evidence, no effect on the fused verdict
    cnn = SignalResult(ran=True, probability=0.3)
    motion = SignalResult(ran=False)
    base = fuse_track(cnn, motion, FusionConfig(), cnn_frames=10)
    none = fuse_track(cnn, motion, FusionConfig(), cnn_frames=10,
                      lip_sync=SignalResult(ran=False, skipped_reason=silent.reason))
    assert base == none
    some = fuse_track(cnn, motion, FusionConfig(), cnn_frames=10,
                      lip_sync=SignalResult(ran=True, probability=0.9, details={"windows_with_speech": 2}))
    assert some[0] is not None and base[0] is not None and some[0] > base[0]
    assert any(r.startswith("lip sync") for r in some[2])


def test_detect_reports_the_sync_signal(shared_data: Path, tmp_path: Path) -> None:
    """``facelab detect`` on the clip and on the clip with another speaker's audio: JSON, CSV and HTML."""
    clip = shared_data.joinpath(*GRID)
    a, b = read_audio(clip), read_audio(shared_data.joinpath(*OTHER))
    assert a is not None and b is not None
    voice = tmp_path / "voice.m4a"
    write_audio(voice, np.resize(b.samples, len(a.samples)), b.sample_rate)
    dubbed = tmp_path / "dubbed.mp4"
    with VideoWriter(dubbed, 25, audio_from=voice) as w:
        for frame in VideoReader(clip):
            w.write(frame)
    out, csv_out, html = tmp_path / "d.json", tmp_path / "d.csv", tmp_path / "d.html"
    res = CliRunner().invoke(cli, ["detect", str(clip), str(dubbed), "--weights", "none", "--no-landmarks",
                                   "--json", str(out), "--csv", str(csv_out), "--report", str(html)])
    assert res.exit_code == 0, res.output
    real, fake = json.loads(out.read_text())
    p_real, p_fake = real["signals"]["lip_sync"]["probability"], fake["signals"]["lip_sync"]["probability"]
    assert p_real < 0.5 < p_fake, (p_real, p_fake)
    track = real["tracks"][0]["signals"]["lip_sync"]
    assert track["ran"] and track["sync_windows"] and track["sync_windows"][0]["curve"]
    assert any(f["lip_sync"] is not None for f in real["per_frame"])
    with open(csv_out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert "lip_sync" in rows[0] and any(r["lip_sync"] for r in rows)
    assert "Lip sync (mouth vs speech)" in html.read_text() and "correlation against audio lag" in html.read_text()
