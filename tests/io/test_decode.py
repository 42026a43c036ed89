"""Decoding through damage (facelab.io.decode): counts against ffmpeg's own decoder, where the
lost frames are, the output timeline, and ``on_damage="fail"``.

The reference count is ffmpeg's own decoder (``tests/damage.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from facelab.errors import InputError
from facelab.io.video import VideoReader, VideoWriter

sys.path.insert(0, str(Path(__file__).parents[1]))  # the damage helpers, with any pytest import mode
from damage import ffmpeg_frames, patch_bytes  # noqa: E402


def noisy_clip(path: Path, frames: int = 60, size: tuple[int, int] = (160, 120), **kw: object) -> Path:
    """A clip whose packets are large (moving noise over a gradient), keyframe every 30 frames."""
    rng = np.random.default_rng(0)
    w, h = size
    base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None].repeat(h, 0).repeat(3, 2)
    with VideoWriter(path, 25, size, encoder_options={"preset": "ultrafast", "g": "30"}, **kw) as wr:  # type: ignore[arg-type]
        for i in range(frames):
            noise = rng.normal(0, 40, (h, w, 3))
            wr.write(np.clip(base + noise + 3 * i, 0, 255).astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("damaged")
    clean = noisy_clip(folder / "clean.mp4")
    return clean, patch_bytes(clean, folder / "damaged.mp4", at=0.4)


def test_undamaged_clip_reports_nothing(damaged: tuple[Path, Path]) -> None:
    clean, _ = damaged
    reader = VideoReader(clean)
    times = [t for _, t, _ in reader.timed_frames()]
    assert len(times) == 60 == ffmpeg_frames(clean)
    assert not reader.damage.damaged and reader.damage.describe() == ""
    assert np.allclose(times, np.arange(60) / 25)


def test_decodes_through_damage_like_ffmpeg(damaged: tuple[Path, Path]) -> None:
    _, bad = damaged
    reader = VideoReader(bad)
    got = [(i, t) for i, t, _ in reader.timed_frames()]
    n = len(got)
    reference = ffmpeg_frames(bad)
    d = reader.damage
    assert abs(n - reference) <= 2, (n, reference)
    assert n > 40  # the old reader stopped at the first error, about 40 % in
    assert d.damaged and d.decode_errors > 0
    # what was lost adds up, and sits where the damage is (40 % in, not at the start)
    assert d.frames_lost == 60 - n == len(d.lost_frames)
    assert d.frames_expected == 60
    assert all(i >= 10 for i, _ in d.lost_frames)
    # times stay on the input's timeline: the lost frames leave their gap
    times = np.array([t for _, t in got])
    assert np.all(np.diff(times) > 0)
    assert times[-1] == pytest.approx(59 / 25, abs=1e-3)
    kept = set(np.round(times * 25).astype(int))
    assert kept.isdisjoint(i for i, _ in d.lost_frames)
    assert "lost to damage" in d.describe() and "\n" not in d.describe()


def test_on_damage_fail_refuses_with_one_line(damaged: tuple[Path, Path]) -> None:
    _, bad = damaged
    with pytest.raises(InputError) as err:
        for _ in VideoReader(bad, on_damage="fail"):
            pass
    msg = str(err.value)
    assert "damaged video" in msg and str(bad) in msg and "\n" not in msg
    assert len(list(VideoReader(damaged[0], on_damage="fail"))) == 60  # an intact file passes


def test_bad_on_damage_value() -> None:
    with pytest.raises(ValueError, match="on_damage"):
        VideoReader(Path(__file__), on_damage="ignore")  # type: ignore[arg-type]


def test_whole_packets_cut_out_count_as_lost(tmp_path: Path) -> None:
    """Packets removed cleanly (index rewritten) leave no decoding error, only a gap in time."""
    import av

    clean = noisy_clip(tmp_path / "clean.mp4", frames=40)
    cut = tmp_path / "cut.mp4"
    with av.open(str(clean)) as src, av.open(str(cut), "w") as dst:
        s_in = src.streams.video[0]
        s_out = dst.add_stream_from_template(s_in)
        for k, packet in enumerate(src.demux(s_in)):
            if packet.size and not (20 <= k < 24):  # drop 4 packets (frames 20-23, none a keyframe)
                packet.stream = s_out
                dst.mux(packet)
    reader = VideoReader(cut)
    n = sum(1 for _ in reader)
    assert n <= 36
    assert reader.damage.frames_lost == 40 - n
    assert [i for i, _ in reader.damage.lost_frames][:4] == [20, 21, 22, 23]


def test_writer_keeps_input_timestamps(damaged: tuple[Path, Path], tmp_path: Path) -> None:
    _, bad = damaged
    out = tmp_path / "copy.mp4"
    reader = VideoReader(bad)
    with VideoWriter(out, reader.info.fps, (reader.info.width, reader.info.height)) as wr:
        for _, t, frame in reader.timed_frames():
            wr.write(frame, t)
    src_times = [t for _, t, _ in VideoReader(bad).timed_frames()]
    out_times = [t for _, t, _ in VideoReader(out).timed_frames()]
    assert len(out_times) == len(src_times)
    assert np.allclose(out_times, src_times, atol=2e-3)
    # the gap stays a gap: reading the output back finds the same frame missing
    assert VideoReader(out).info.frame_count == len(src_times)


def test_writer_variable_frame_rate(tmp_path: Path) -> None:
    out = tmp_path / "vfr.mp4"
    times = [0.0, 0.04, 0.08, 0.5, 0.54, 1.2]
    with VideoWriter(out, 25, (64, 48)) as wr:
        for i, t in enumerate(times):
            wr.write(np.full((48, 64, 3), 40 * i, np.uint8), t)
    got = [t for _, t, _ in VideoReader(out).timed_frames()]
    assert np.allclose(got, times, atol=2e-3)
