"""Background decoding and encoding: order, bounded look-ahead, errors, early stops, real videos."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from facelab.errors import OutputError
from facelab.io.background import BackgroundWriter, prefetch
from facelab.io.video import VideoReader, VideoWriter, probe_video


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_prefetch_keeps_order_and_stays_within_depth() -> None:
    made: list[int] = []

    def source() -> Iterator[int]:
        for i in range(50):
            made.append(i)
            yield i

    got = []
    for i in prefetch(source(), depth=3):
        time.sleep(0.002)
        # the producer is never more than depth (queued) + 1 (waiting to be queued) ahead
        assert len(made) - (i + 1) <= 4, (len(made), i)
        got.append(i)
    assert got == list(range(50))
    assert "facelab-prefetch" not in _threads()


def test_prefetch_raises_the_producer_error_where_it_happened() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad frame 3")

    got = []
    with pytest.raises(ValueError, match="bad frame 3"):
        for i in prefetch(source()):
            got.append(i)
    assert got == [1, 2]
    with pytest.raises(ValueError, match="depth"):
        next(prefetch([1], depth=0))


def test_prefetch_stopped_early_closes_the_source_in_its_thread() -> None:
    closed_in: list[str] = []

    def source() -> Iterator[int]:
        try:
            yield from range(10_000)
        finally:
            closed_in.append(threading.current_thread().name)

    for i in prefetch(source(), depth=2):
        if i == 5:
            break
    assert closed_in == ["facelab-prefetch"]
    assert "facelab-prefetch" not in _threads()


def test_prefetch_of_a_real_video_gives_the_same_frames(tiny_video: Path) -> None:
    with VideoReader(tiny_video) as reader:
        direct = list(reader.frames_with_index())
    with VideoReader(tiny_video) as reader:
        ahead = list(prefetch(reader.frames_with_index()))
        assert reader.frames_decoded == len(direct) and not reader.truncated
    assert [i for i, _ in ahead] == [i for i, _ in direct]
    for (_, a), (_, b) in zip(ahead, direct):
        np.testing.assert_array_equal(a, b)


def test_background_writer_writes_a_real_video(tiny_video: Path, tmp_path: Path) -> None:
    info = probe_video(tiny_video)
    out = tmp_path / "copy.mp4"
    with VideoReader(tiny_video) as reader, BackgroundWriter(
            VideoWriter(out, info.fps, (info.width, info.height), audio_from=tiny_video), depth=2) as writer:
        for frame in prefetch(reader):
            writer.write(frame)
    copy = probe_video(out)
    assert copy.frame_count == info.frame_count and copy.has_audio
    assert "facelab-writer" not in _threads()


def test_background_writer_error_reaches_the_caller_and_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "bad.mp4"
    frame = np.zeros((32, 48, 3), np.uint8)
    wrong = np.zeros((16, 16, 3), np.uint8)
    writer = BackgroundWriter(VideoWriter(out, 25, (48, 32)))
    writer.write(frame)
    writer.write(wrong)  # fails in the thread: the size does not match
    with pytest.raises(ValueError, match="16x16"):
        for _ in range(10):
            writer.write(frame)
            time.sleep(0.01)
    assert not out.exists() and not list(tmp_path.iterdir())  # aborted: no partial or temporary file
    with pytest.raises(RuntimeError, match="closed"):
        writer.write(frame)


def test_background_writer_aborts_on_an_exception(tmp_path: Path) -> None:
    out = tmp_path / "never.mp4"
    with pytest.raises(KeyError):
        with BackgroundWriter(VideoWriter(out, 25, (48, 32))) as writer:
            for _ in range(5):
                writer.write(np.zeros((32, 48, 3), np.uint8))
            raise KeyError("stop")
    assert not list(tmp_path.iterdir())
    # closing with nothing written is the writer's own error, raised by close()
    with pytest.raises(OutputError, match="no frames"):
        BackgroundWriter(VideoWriter(tmp_path / "empty.mp4", 25, (48, 32))).close()
