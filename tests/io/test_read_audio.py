"""facelab.io.audio.read_audio: a video's audio as mono float on the video's clock (lip-sync check)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from facelab.io.audio import read_audio, write_audio


def _clip_with_offset(path: Path, video_start: float, seconds: float = 2.0, rate: int = 16_000) -> None:
    """An MP4 whose video starts ``video_start`` s after its audio; a click in the audio at 1.0 s."""
    t = np.arange(int(seconds * rate)) / rate
    audio = (0.02 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    audio[int(1.0 * rate): int(1.05 * rate)] = 0.9  # the click
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=rate)
        a.layout = "mono"
        for k in range(0, len(audio), 1024):
            fr = av.AudioFrame.from_ndarray(audio[None, k:k + 1024], format="fltp", layout="mono")
            fr.sample_rate, fr.pts, fr.time_base = rate, k, Fraction(1, rate)
            out.mux(a.encode(fr))
        out.mux(a.encode(None))
        first = round(video_start * 25)
        for i in range(first, int(seconds * 25)):
            img = np.full((48, 64, 3), 128, np.uint8)
            fr = av.VideoFrame.from_ndarray(img, format="rgb24")
            fr.pts, fr.time_base = i, Fraction(1, 25)
            out.mux(v.encode(fr))
        out.mux(v.encode(None))


@pytest.mark.parametrize("video_start", [0.0, 0.4])
def test_audio_is_on_the_clock_of_the_first_video_frame(tmp_path: Path, video_start: float) -> None:
    path = tmp_path / "clip.mp4"
    _clip_with_offset(path, video_start)
    a = read_audio(path)
    assert a is not None and a.sample_rate == 16_000
    click = int(np.argmax(np.abs(a.samples) > 0.5)) / a.sample_rate
    assert click == pytest.approx(1.0 - video_start, abs=0.03)  # seconds after the first video frame


def test_no_audio_stream_is_none_and_audio_only_files_read(tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    with av.open(str(silent), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            fr = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            fr.pts, fr.time_base = i, Fraction(1, 25)
            out.mux(v.encode(fr))
        out.mux(v.encode(None))
    assert read_audio(silent) is None
    m4a = tmp_path / "tone.m4a"
    write_audio(m4a, 0.3 * np.sin(2 * np.pi * 440 * np.arange(22_050) / 22_050), 22_050)
    a = read_audio(m4a, sample_rate=8_000)
    assert a is not None and a.duration == pytest.approx(1.0, abs=0.1) and a.samples.std() > 0.1
