"""facelab.io.video on real files: synthetic ones made in tmp_path, and ../shared/data videos."""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from facelab.errors import InputError, OutputError
from facelab.io.video import (
    VIDEO_EXTS,
    VideoReader,
    VideoWriter,
    is_video,
    probe_video,
    write_audio,
)

FAST = {"preset": "ultrafast"}


def _streams(path: Path) -> list[tuple[str, str]]:
    with av.open(str(path)) as c:
        return [(s.type, s.codec_context.name) for s in c.streams]


def _audio_seconds(path: Path) -> float:
    """Length of the first audio stream, from its packets."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        ends = [p.pts + p.duration for p in c.demux(s) if p.pts is not None and p.duration]
        starts = [s.start_time or 0]
        return float((max(ends) - min(starts)) * s.time_base)


def _start(path: Path, kind: str) -> float:
    with av.open(str(path)) as c:
        s = next(s for s in c.streams if s.type == kind)
        return float(s.start_time * s.time_base)


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_is_video() -> None:
    assert VIDEO_EXTS == {"mp4", "mov", "avi", "mkv", "webm", "m4v", "mpg", "mpeg"}
    assert is_video("a.MP4") and is_video(Path("b.webm")) and not is_video("c.jpg")


# ---- synthetic video -------------------------------------------------------------------------


def test_tiny_video_probe_and_read(tiny_video: Path, make_frame: Callable[..., np.ndarray]) -> None:
    info = probe_video(tiny_video)
    assert (info.width, info.height) == (96, 64)
    assert info.fps == Fraction(25) and isinstance(info.fps, Fraction)
    assert info.frame_count == 50 and info.frame_count_exact
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.has_audio and info.audio_codec == "aac"
    assert info.codec == "h264" and info.rotation == 0

    with VideoReader(tiny_video) as reader:
        assert reader.info == info
        frames = list(reader)
    assert len(frames) == 50 and not reader.truncated
    for i in (0, 17, 49):
        assert frames[i].shape == (64, 96, 3) and frames[i].dtype == np.uint8
        assert np.abs(frames[i].astype(int) - make_frame(i, 96, 64)).mean() < 4
    assert _audio_seconds(tiny_video) == pytest.approx(2.0, abs=0.05)


def test_reader_every_n(tiny_video: Path, make_frame: Callable[..., np.ndarray]) -> None:
    reader = VideoReader(tiny_video, every=7)
    got = list(reader.frames_with_index())
    assert [i for i, _ in got] == list(range(0, 50, 7))
    assert reader.frames_decoded == 50
    assert np.abs(got[3][1].astype(int) - make_frame(21, 96, 64)).mean() < 4
    assert len(list(reader)) == 8  # a reader can be iterated again
    with pytest.raises(ValueError):
        VideoReader(tiny_video, every=0)


def test_writer_keeps_audio(tiny_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy.mp4"
    info = probe_video(tiny_video)
    with VideoWriter(out, info.fps, audio_from=tiny_video, encoder_options=FAST) as writer:
        for frame in VideoReader(tiny_video):
            writer.write(frame)
    assert writer.frames_written == 50
    back = probe_video(out)
    assert (back.width, back.height, back.fps, back.frame_count) == (96, 64, Fraction(25), 50)
    assert _streams(out) == [("video", "h264"), ("audio", "aac")]
    assert _audio_seconds(out) == pytest.approx(_audio_seconds(tiny_video), abs=0.03)
    assert sum(1 for _ in VideoReader(out)) == 50


def test_audio_not_first_stream(tiny_video: Path, tmp_path: Path) -> None:
    """A source whose audio is stream 0 (video stream 1), remuxed with PyAV."""
    flipped = tmp_path / "audio_first.mp4"
    with av.open(str(tiny_video)) as src, av.open(str(flipped), "w") as dst:
        a_in, v_in = src.streams.audio[0], src.streams.video[0]
        a_out = dst.add_stream_from_template(a_in)
        v_out = dst.add_stream_from_template(v_in)
        for packet in src.demux(a_in, v_in):
            if packet.dts is None:
                continue
            packet.stream = a_out if packet.stream.type == "audio" else v_out
            dst.mux(packet)
    assert [t for t, _ in _streams(flipped)] == ["audio", "video"]
    assert probe_video(flipped).frame_count == 50

    out = tmp_path / "out.mp4"
    with VideoWriter(out, 25, audio_from=flipped, encoder_options=FAST) as writer:
        for frame in VideoReader(flipped):
            writer.write(frame)
    assert _streams(out) == [("video", "h264"), ("audio", "aac")]
    assert probe_video(out).frame_count == 50
    assert _audio_seconds(out) == pytest.approx(2.0, abs=0.05)


def test_audio_codec_the_container_refuses_is_reencoded(
    tmp_path: Path, make_frame: Callable[..., np.ndarray], make_tone: Callable[..., np.ndarray]
) -> None:
    pcm = tmp_path / "tone.mkv"
    write_audio(pcm, make_tone(1.0, 16000), 16000, codec="pcm_s16le")
    assert _streams(pcm) == [("audio", "pcm_s16le")]
    out = tmp_path / "out.mp4"  # MP4 cannot hold PCM: re-encoded to AAC
    with VideoWriter(out, 10, (32, 32), audio_from=pcm, encoder_options=FAST) as writer:
        for i in range(10):
            writer.write(make_frame(i, 32, 32))
    assert _streams(out) == [("video", "h264"), ("audio", "aac")]
    assert _audio_seconds(out) == pytest.approx(1.0, abs=0.05)


def test_webm_uses_vp9_and_opus(tiny_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.webm"
    with VideoWriter(
        out, 25, audio_from=tiny_video, encoder_options={"deadline": "realtime", "cpu-used": "8"}
    ) as w:
        for i, frame in enumerate(VideoReader(tiny_video)):
            if i == 10:
                break
            w.write(frame)
    assert _streams(out) == [("video", "vp9"), ("audio", "opus")]
    assert sum(1 for _ in VideoReader(out)) == 10


def test_avi_at_ntsc_rate(
    tiny_video: Path, tmp_path: Path, make_frame: Callable[..., np.ndarray]
) -> None:
    out = tmp_path / "out.avi"  # AVI counts frame slots: the time base must be exactly 1/fps
    with VideoWriter(out, Fraction(30000, 1001), audio_from=tiny_video, encoder_options=FAST) as w:
        for i in range(10):
            w.write(make_frame(i))
    info = probe_video(out)
    assert (info.frame_count, info.fps, info.audio_codec) == (10, Fraction(30000, 1001), "aac")
    assert sum(1 for _ in VideoReader(out)) == 10


def test_metadata_tags(tmp_path: Path, make_frame: Callable[..., np.ndarray]) -> None:
    out = tmp_path / "tagged.mp4"
    tags = {"comment": "synthetic media made by facelab", "facelab_synthetic": "1"}
    with VideoWriter(out, 25, metadata=tags, encoder_options=FAST) as writer:
        writer.write(make_frame(0))
    with av.open(str(out)) as c:
        assert {k: c.metadata.get(k) for k in tags} == tags
    assert not probe_video(out).has_audio


def test_exception_inside_with_leaves_nothing(
    tmp_path: Path, make_frame: Callable[..., np.ndarray]
) -> None:
    out = tmp_path / "never.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(out, 25, encoder_options=FAST) as writer:
            for i in range(5):
                writer.write(make_frame(i))
            raise RuntimeError("boom")
    assert _only(tmp_path) == []


def test_no_frames_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "empty.mp4"
    with pytest.raises(OutputError, match="no frames"):
        with VideoWriter(out, 25):
            pass
    assert _only(tmp_path) == []


def test_overwrite_and_self_input(
    tiny_video: Path, tmp_path: Path, make_frame: Callable[..., np.ndarray]
) -> None:
    with pytest.raises(OutputError, match="--overwrite") as exc:
        VideoWriter(tiny_video, 25)
    assert str(tiny_video) in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(OutputError, match="input"):
        VideoWriter(tiny_video, 25, audio_from=tiny_video, overwrite=True)
    with pytest.raises(OutputError, match="extension"):
        VideoWriter(tmp_path / "x.gif", 25)

    before = tiny_video.stat().st_size
    with VideoWriter(tiny_video, 25, overwrite=True, encoder_options=FAST) as writer:
        writer.write(make_frame(0))
    assert tiny_video.stat().st_size != before
    assert probe_video(tiny_video).frame_count == 1
    assert _only(tmp_path) == ["tiny.mp4"]


def test_frame_checks(tmp_path: Path, make_frame: Callable[..., np.ndarray]) -> None:
    with VideoWriter(tmp_path / "a.mp4", 25, (96, 64), encoder_options=FAST) as writer:
        writer.write(make_frame(0))
        with pytest.raises(ValueError, match="48x32"):
            writer.write(make_frame(1, 48, 32))
        with pytest.raises(ValueError, match="uint8"):
            writer.write(make_frame(1).astype(np.float32))
    with pytest.raises(RuntimeError, match="closed"):
        writer.write(make_frame(2))


def test_odd_size_is_padded_to_even(tmp_path: Path, make_frame: Callable[..., np.ndarray]) -> None:
    out = tmp_path / "odd.mp4"
    frame = make_frame(3, 31, 21)
    with VideoWriter(out, 25, encoder_options=FAST) as writer:
        writer.write(frame)
        writer.write(frame)
    assert writer.encoded_size == (32, 22)
    back = next(iter(VideoReader(out)))
    assert back.shape == (22, 32, 3)
    assert np.abs(back[:21, :31].astype(int) - frame).mean() < 6
    assert np.abs(back[21, :31].astype(int) - frame[20]).mean() < 12  # edge row repeated


def test_rotation_metadata_gives_upright_frames(
    tmp_path: Path, make_frame: Callable[..., np.ndarray]
) -> None:
    stored = make_frame(0, 96, 64)
    path = tmp_path / "rotated.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.set_display_rotation(90)  # turn 90 degrees counter-clockwise to display
        for i in range(3):
            f = av.VideoFrame.from_ndarray(stored, format="rgb24")
            f.pts = i
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))

    info = probe_video(path)
    assert info.rotation == 90 and (info.width, info.height) == (64, 96)
    frame = next(iter(VideoReader(path)))
    assert frame.shape == (96, 64, 3)
    assert np.abs(frame.astype(int) - np.rot90(stored, 1)).mean() < 6
    # OpenCV's FFmpeg backend auto-rotates independently: the same picture.
    cap = cv2.VideoCapture(str(path))
    ok, bgr = cap.read()
    cap.release()
    if ok and bgr.shape[:2] == (96, 64):
        assert np.abs(frame.astype(int) - bgr[..., ::-1]).mean() < 6


# ---- probe errors ----------------------------------------------------------------------------


def _expect_input_error(path: Path, match: str) -> None:
    with pytest.raises(InputError, match=match) as exc:
        probe_video(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(InputError):
        VideoReader(path)


def test_probe_errors(tmp_path: Path, make_tone: Callable[..., np.ndarray]) -> None:
    _expect_input_error(tmp_path / "missing.mp4", "not found")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    _expect_input_error(empty, "empty")
    text = tmp_path / "notes.mp4"
    text.write_text("hello, this is not a video\n" * 20)
    _expect_input_error(text, "not a video")
    audio = tmp_path / "tone.m4a"
    write_audio(audio, make_tone(0.5, 44100), 44100)
    _expect_input_error(audio, "audio only")


def test_truncated_mp4_with_index_at_front(tiny_video: Path, tmp_path: Path) -> None:
    data = tiny_video.read_bytes()  # VideoWriter puts the index first (faststart)
    assert data.find(b"moov") < data.find(b"mdat")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    _expect_input_error(cut, "truncated")


def test_truncated_mp4_with_index_at_end(
    tmp_path: Path, make_frame: Callable[..., np.ndarray]
) -> None:
    whole = tmp_path / "plain.mp4"
    with av.open(str(whole), "w") as out:  # PyAV default: moov written last
        stream = out.add_stream("libx264", rate=25, options=FAST)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(25):
            f = av.VideoFrame.from_ndarray(make_frame(i), format="rgb24")
            f.pts = i
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    data = whole.read_bytes()
    assert data.find(b"moov") > data.find(b"mdat")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    _expect_input_error(cut, "truncated")


def test_reader_stops_with_warning_mid_stream(
    tmp_path: Path, make_frame: Callable[..., np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    whole = tmp_path / "whole.mkv"  # Matroska has no up-front index to catch the cut
    rng = np.random.default_rng(0)
    with VideoWriter(whole, 25, encoder_options=FAST) as writer:
        for _ in range(40):
            writer.write(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))  # incompressible
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    reader = VideoReader(cut)
    with caplog.at_level(logging.WARNING, logger="facelab.io.video"):
        n = sum(1 for _ in reader)
    assert 0 < n < 40
    assert reader.truncated
    assert any("truncated" in r.getMessage() for r in caplog.records)


# ---- real videos from ../shared/data -----------------------------------------------------------


def test_hamilton_clip_round_trip(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "face_videos" / "short_hamilton_clip.mp4"
    info = probe_video(src)
    assert (info.width, info.height, info.frame_count) == (640, 360, 275)
    assert info.fps == Fraction(30000, 1001)  # stored as 2997/100, snapped to NTSC

    out = tmp_path / "hamilton.mp4"
    reader = VideoReader(src)
    with VideoWriter(out, info.fps, audio_from=src, encoder_options=FAST, crf=28) as writer:
        for frame in reader:
            assert frame.shape == (360, 640, 3)
            writer.write(frame)
    assert writer.frames_written == 275 and not reader.truncated

    back = probe_video(out)
    assert (back.width, back.height, back.frame_count, back.fps) == (
        640,
        360,
        275,
        Fraction(30000, 1001),
    )
    assert back.has_audio and back.audio_codec == "aac"
    assert _audio_seconds(out) == pytest.approx(_audio_seconds(src), abs=0.03)
    # The source's video starts ~0.84 s after its audio; the copy keeps that offset (lip sync).
    src_gap = _start(src, "video") - _start(src, "audio")
    assert src_gap > 0.8
    assert _start(out, "video") - _start(out, "audio") == pytest.approx(src_gap, abs=0.002)
    assert sum(1 for _ in VideoReader(out)) == 275


def test_tpsmm_audio_is_stream_0(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "face_videos" / "tpsmm_driving.mp4"
    assert _streams(src)[0] == ("audio", "aac")
    info = probe_video(src)
    assert (info.width, info.height, info.frame_count, info.fps) == (410, 412, 169, Fraction(25))
    out = tmp_path / "tpsmm.mp4"
    with VideoWriter(out, info.fps, audio_from=src, encoder_options=FAST, crf=30) as writer:
        for frame in VideoReader(src):
            writer.write(frame)
    back = probe_video(out)
    assert (back.width, back.height, back.frame_count, back.fps) == (410, 412, 169, Fraction(25))
    assert ("audio", "aac") in _streams(out)
    assert _audio_seconds(out) == pytest.approx(_audio_seconds(src), abs=0.03)


def test_shared_truncated_hamilton(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / "face_videos" / "short_hamilton_clip.mp4").read_bytes()
    cut = tmp_path / "half.mp4"
    cut.write_bytes(data[: len(data) // 2])
    _expect_input_error(cut, "truncated")


def test_bundled_sample_video() -> None:
    path = Path(__file__).resolve().parents[2] / "samples" / "astronaut_pan.mp4"
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count, info.fps) == (320, 240, 75, Fraction(25))
    assert info.audio_codec == "aac" and _audio_seconds(path) == pytest.approx(3.0, abs=0.05)
