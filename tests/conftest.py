"""Fixtures shared by the whole test suite.

* ``shared_data``: the folder of real test files, ``<repo>/../shared/data`` (skips when absent).
* ``tiny_detector_weights``: a detector checkpoint of the ``tiny`` CNN (random weights, seed 0,
  threshold 0.4, the 224 px / margin 0.3 crop), written once per session.
* ``tiny_generator``: an official-format ResNet generator checkpoint (``resnet_6blocks``, ngf 4,
  random weights, seed 0) for the ``facelab translate --weights`` paths; fast on 4K frames too.
* ``tiny_video``: a fresh copy, in the test's ``tmp_path``, of a synthetic 2-second MP4 with an
  AAC audio track, made by facelab's own writer. Its properties are in ``TINY_VIDEO``.
* ``_config_dir`` (automatic): ``FACELAB_CONFIG_DIR`` points at a session folder, so the local C2PA
  signing key that `facelab swap`/`translate` make on first use never lands in the user's ``~/.config``;
  the key is made there up front, so no command's output depends on whether it ran first.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from facelab.credentials import local_signing_key
from facelab.io.video import VideoWriter, write_audio

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

#: What the ``tiny_video`` file holds.
TINY_VIDEO = {
    "width": 96,
    "height": 64,
    "fps": Fraction(25),
    "frames": 50,
    "sample_rate": 44100,
    "audio_seconds": 2.0,
}


@pytest.fixture(scope="session", autouse=True)
def _config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """facelab's config folder (the local C2PA signing key) in a session folder, never ``~/.config``."""
    folder = tmp_path_factory.mktemp("facelab-config")
    local_signing_key(folder / "c2pa")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACELAB_CONFIG_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``../shared/data`` (real photos and videos); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA.resolve()


def tiny_frame(i: int, width: int = 96, height: int = 64) -> np.ndarray:
    """Frame ``i`` of the synthetic video: a colour gradient and a white square moving right.

    Returns:
        uint8 ``(height, width, 3)`` RGB.
    """
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack(
        [
            x * 255 // max(width - 1, 1),
            y * 255 // max(height - 1, 1),
            np.full_like(x, (i * 5) % 256),
        ],
        axis=-1,
    ).astype(np.uint8)
    side = max(4, height // 4)
    left = (2 * i) % max(width - side, 1)
    frame[height // 2 - side // 2 : height // 2 + side // 2, left : left + side] = 255
    return frame


def sine_wave(seconds: float, sample_rate: int, freq: float = 440.0) -> np.ndarray:
    """Stereo float32 ``(2, N)`` sine at ``freq`` Hz, amplitude 0.3."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    wave = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([wave, wave])


@pytest.fixture(scope="session")
def _tiny_video_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_video")
    spec = TINY_VIDEO
    audio = folder / "tone.m4a"
    write_audio(audio, sine_wave(spec["audio_seconds"], spec["sample_rate"]), spec["sample_rate"])
    path = folder / "tiny.mp4"
    with VideoWriter(
        path, spec["fps"], (spec["width"], spec["height"]), audio_from=audio
    ) as writer:
        for i in range(spec["frames"]):
            writer.write(tiny_frame(i, spec["width"], spec["height"]))
    return path


@pytest.fixture
def tiny_video(_tiny_video_master: Path, tmp_path: Path) -> Path:
    """A synthetic MP4 in ``tmp_path``: 50 frames of 96x64 at 25 fps (H.264) and 2 s of AAC audio.

    Frame ``i`` is ``tiny_frame(i)`` (after lossy coding). Each test gets its own copy.
    """
    path = tmp_path / "tiny.mp4"
    shutil.copyfile(_tiny_video_master, path)
    return path


@pytest.fixture
def make_frame() -> Callable[..., np.ndarray]:
    """``tiny_video``'s frame maker: ``make_frame(i, width, height) -> uint8 (H, W, 3) RGB``."""
    return tiny_frame


@pytest.fixture
def make_tone() -> Callable[..., np.ndarray]:
    """``make_tone(seconds, sample_rate, freq=440.0) -> float32 (2, N)`` stereo sine."""
    return sine_wave


@pytest.fixture(scope="session")
def tiny_detector_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real detector checkpoint for the ``facelab detect`` / ``eval`` paths (its scores mean nothing)."""
    import torch

    from facelab.checkpoint import atomic_save
    from facelab.detector.cnn import checkpoint_record, create_classifier

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    meta = {"crop": {"size": 224, "margin": 0.3}, "threshold": 0.4, "mean": [0.5] * 3, "std": [0.5] * 3}
    atomic_save(checkpoint_record(create_classifier("tiny", pretrained=False), "tiny", {}, meta), path)
    return path


@pytest.fixture(scope="session")
def tiny_generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny official-format ResNet generator (``resnet_6blocks``, ngf 4; its outputs mean nothing)."""
    import torch

    from facelab.nn.factory import create_generator
    from facelab.nn.layers import init_weights

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny_g.pth"
    torch.save(init_weights(create_generator("resnet_6blocks", ngf=4, norm="instance")).state_dict(), path)
    return path
