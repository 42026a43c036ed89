"""Provenance: synthetic-media metadata and the visible watermark on translate and swap outputs.

Real code paths: a tiny official-format generator through `facelab translate`, the real MTCNN
and one-shot swap through `facelab swap`, PIL and PyAV to read the labels back.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from facelab import __version__
from facelab.cli import cli
from facelab.hub import sha256_file
from facelab.io.image import read_image
from facelab.io.video import VideoReader
from facelab.nn.factory import create_generator
from facelab.nn.layers import init_weights
from facelab.provenance import DEFAULT_WATERMARK, draw_watermark, synthetic_label, watermark_box

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "--threads", "1", *args], catch_exceptions=False)
    return res.exit_code, res.output


@given(h=st.integers(8, 400), w=st.integers(8, 400), text=st.sampled_from([DEFAULT_WATERMARK, "SYNTHETIC", "x"]),
       seed=st.integers(0, 2**16))
@settings(max_examples=30, deadline=None)
def test_property_watermark_changes_the_corner_only(h: int, w: int, text: str, seed: int) -> None:
    frame = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = draw_watermark(frame, text)
    x1, y1, x2, y2 = watermark_box(frame.shape, text)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert 0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h
    outside = np.ones((h, w), bool)
    outside[y1:y2, x1:x2] = False
    assert np.array_equal(out[outside], frame[outside])
    if x2 > x1 and y2 > y1:
        box = out[y1:y2, x1:x2].astype(np.int16)
        assert np.abs(box - frame[y1:y2, x1:x2]).mean() > 20  # a visibly darker box
        if x1 > 0 and y1 > 0:  # the whole label fits (not on tiny frames): white text on it
            assert (box.max(axis=-1) >= 200).any()


def test_watermark_is_in_the_bottom_right_and_scales() -> None:
    heights = []
    for h, w in ((480, 640), (720, 1280), (1080, 1920)):
        x1, y1, x2, y2 = watermark_box((h, w, 3), DEFAULT_WATERMARK)
        assert x1 > w / 2 and y1 > h / 2 and x2 < w and y2 < h
        assert 0.03 * h < y2 - y1 < 0.1 * h  # readable, not dominating
        heights.append((y2 - y1) / h)
    assert max(heights) - min(heights) < 0.02  # the same share of the frame at any resolution
    with pytest.raises(ValueError, match="uint8"):
        draw_watermark(np.zeros((10, 10), np.uint8))


def test_synthetic_label_names_tool_model_and_weights(tmp_path: Path) -> None:
    weights = tmp_path / "g.pth"
    weights.write_bytes(b"weights")
    tags = synthetic_label("translated", model="h2z", arch="resnet_9blocks", weights=weights)
    assert tags["software"] == f"facelab {__version__}"
    assert tags["comment"] == (f"synthetic media: translated by facelab {__version__}; model h2z "
                               f"(resnet_9blocks, sha256 {sha256_file(weights)[:12]})")
    assert synthetic_label("x", model=None, weights=tmp_path / "missing")["comment"].endswith("model unknown")


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    net = init_weights(create_generator("resnet_9blocks", ngf=8, norm="instance"))
    path = tmp_path_factory.mktemp("weights") / "tiny.pth"
    torch.save(net.state_dict(), path)
    return path


def _box_mask(shape: tuple[int, ...], band: int = 0) -> np.ndarray:
    x1, y1, x2, y2 = watermark_box(shape, "SYNTHETIC")
    inside = np.zeros(shape[:2], bool)
    inside[max(0, y1 - band):y2 + band, max(0, x1 - band):x2 + band] = True
    return inside


def test_translate_outputs_are_labelled_and_watermarked(tmp_path: Path, tiny_generator: Path,
                                                        tiny_video: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(SAMPLES / "coffee.jpg", src / "coffee.jpg")
    Image.open(SAMPLES / "chelsea.jpg").save(src / "chelsea.png")
    shutil.copy(tiny_video, src / "clip.mp4")
    digest = sha256_file(tiny_generator)[:12]
    code, out = run("translate", "--weights", str(tiny_generator), str(src), "-o", str(tmp_path / "plain"), "--no-label")
    assert code == 0, out
    code, out = run("translate", "--weights", str(tiny_generator), str(src), "-o", str(tmp_path / "marked"),
                    "--watermark=SYNTHETIC")
    assert code == 0, out
    plain, marked = tmp_path / "plain", tmp_path / "marked"
    # metadata: PNG iTXt, JPEG EXIF ImageDescription, MP4 container comment
    png = Image.open(marked / "chelsea.png")
    assert "synthetic media: translated by facelab" in png.info["comment"] and digest in png.info["comment"]
    assert png.info["software"] == f"facelab {__version__}"
    assert digest in Image.open(marked / "coffee.jpg").getexif()[0x010E]
    with av.open(str(marked / "clip.mp4")) as c:
        assert digest in c.metadata["comment"] and "synthetic media" in c.metadata["comment"]
    assert "comment" not in Image.open(plain / "chelsea.png").info  # --no-label: none
    with av.open(str(plain / "clip.mp4")) as c:
        assert "synthetic" not in c.metadata.get("comment", "")
    # watermark: the lossless image differs in the corner box only
    a, b = read_image(plain / "chelsea.png"), read_image(marked / "chelsea.png")
    inside = _box_mask(a.shape)
    assert np.array_equal(a[~inside], b[~inside]) and np.abs(a[inside].astype(int) - b[inside]).mean() > 20
    # videos: every frame; lossy H.264 spends its bits differently, so the rest moves a little
    with VideoReader(plain / "clip.mp4") as ra, VideoReader(marked / "clip.mp4") as rb:
        n = 0
        for fa, fb in zip(ra, rb):
            d = np.abs(fa.astype(np.int16) - fb).max(axis=-1)
            assert d[_box_mask(fa.shape)].mean() > 20
            assert d[~_box_mask(fa.shape, band=16)].mean() < 0.2 * d[_box_mask(fa.shape)].mean()
            n += 1
    assert n == 50


def test_watermark_option_refuses_to_swallow_an_input(tmp_path: Path, tiny_generator: Path) -> None:
    code, out = run("translate", "--weights", str(tiny_generator), "--watermark", str(SAMPLES / "coffee.jpg"),
                    "-o", str(tmp_path / "o.jpg"))
    assert code == 2 and "--watermark=TEXT" in out


def test_swap_labels_and_watermarks_by_default_label(tmp_path: Path) -> None:
    out = tmp_path / "g.png"
    code, msg = run("swap", "--source", str(SAMPLES / "astronaut.jpg"), "--target", str(SAMPLES / "grace_hopper.jpg"),
                    "-o", str(out), "--watermark")
    assert code == 0, msg
    info = Image.open(out).info
    assert info["comment"].startswith("synthetic media: face swapped (oneshot) by facelab")
    assert "astronaut.jpg" in info["comment"]
    x1, y1, x2, y2 = watermark_box(read_image(out).shape, DEFAULT_WATERMARK)
    assert (read_image(out)[y1:y2, x1:x2].max(axis=-1) >= 200).any()
    side = (tmp_path / "g.png.json").read_text()
    assert '"watermark": "AI-generated"' in side and '"synthetic": true' in side
