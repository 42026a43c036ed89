"""`facelab translate` end to end: official-format weights, folders, videos, bad input, no overwrites."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from facelab.cli import cli
from facelab.io.image import image_to_tensor, read_image, tensor_to_image
from facelab.io.video import probe_video
from facelab.nn.factory import create_generator
from facelab.nn.layers import init_weights, set_test_mode
from facelab.translate.infer import load_translator


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["-q", "--device", "cpu", *args], env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def official_h2z(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint in the official format for horse2zebra's architecture (resnet_9blocks, ngf 64),
    carrying the InstanceNorm running-stat keys that old official checkpoints have."""
    torch.manual_seed(0)
    net = init_weights(create_generator("resnet_9blocks", ngf=64, norm="instance"))
    sd = dict(net.state_dict())
    sd["model.2.running_mean"] = torch.zeros(64)  # legacy key, ignored by the converter
    sd["model.2.running_var"] = torch.ones(64)
    path = tmp_path_factory.mktemp("weights") / "latest_net_G.pth"
    torch.save(sd, path)
    return path


@pytest.fixture(scope="module")
def tiny_official(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small official-format resnet_9blocks (ngf 8) whose architecture is inferred from its keys."""
    torch.manual_seed(1)
    net = init_weights(create_generator("resnet_9blocks", ngf=8, norm="instance"))
    path = tmp_path_factory.mktemp("weights") / "tiny.pth"
    torch.save(net.state_dict(), path)
    return path


def photo(path: Path, size: tuple[int, int] = (70, 50), mode: str = "RGB") -> Path:
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).convert(mode).save(path)
    return path


def test_model_with_official_weights_file_offline(tmp_path: Path, official_h2z: Path) -> None:
    src = photo(tmp_path / "horse.png", (90, 60))
    out = tmp_path / "zebra.png"
    env = {"FACELAB_OFFLINE": "1", "FACELAB_HOME": str(tmp_path / "home")}
    res = run("translate", "--model", "horse2zebra", "--weights", str(official_h2z), str(src), "-o", str(out), env=env)
    assert res.exit_code == 0, res.output
    got = read_image(out)
    assert got.shape == (60, 90, 3)  # original resolution kept
    # the same function as the network applied directly
    net = create_generator("resnet_9blocks", ngf=64, norm="instance")
    sd = torch.load(official_h2z, weights_only=True)
    net.load_state_dict({k: v for k, v in sd.items() if "running" not in k})
    with torch.inference_mode():
        want = tensor_to_image(set_test_mode(net)(image_to_tensor(read_image(src))[None])[0])
    assert np.array_equal(got, want)


def test_missing_model_offline_names_the_file_folder_and_url(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["translate", "--model", "zebra2horse", str(photo(tmp_path / "a.png")),
                                   "-o", str(tmp_path / "b.png")],
                             env={"FACELAB_OFFLINE": "1", "FACELAB_HOME": str(tmp_path / "home")})
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "zebra2horse.pth" in lines[0] and "http://efrosgans.eecs.berkeley.edu/" in lines[0]
    assert not (tmp_path / "b.png").exists()


def test_folder_recursive_keeps_relative_paths_and_reports_bad_items(tmp_path: Path, tiny_official: Path) -> None:
    src = tmp_path / "in"
    photo(src / "a.jpg")
    photo(src / "sub" / "b.png", mode="L")  # grayscale
    photo(src / "sub" / "deep" / "c.png", mode="RGBA")
    (src / "sub" / "broken.jpg").write_text("not a jpeg")
    (src / "notes.txt").write_text("ignored")
    res = run("translate", "--weights", str(tiny_official), str(src), "-o", str(tmp_path / "out"))
    assert res.exit_code == 3, res.output  # finished, with a failure
    assert "broken.jpg" in res.output
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a.jpg", "sub/b.png", "sub/deep/c.png"]
    assert read_image(out / "sub" / "b.png").shape == (50, 70, 3)


def test_never_overwrites_inputs_and_needs_overwrite_for_outputs(tmp_path: Path, tiny_official: Path) -> None:
    src = photo(tmp_path / "a.png")
    before = src.read_bytes()
    res = run("translate", "--weights", str(tiny_official), str(src), "-o", str(src))
    assert res.exit_code == 1 and "overwrite an input" in res.output
    assert src.read_bytes() == before
    out = tmp_path / "b.png"
    assert run("translate", "--weights", str(tiny_official), str(src), "-o", str(out)).exit_code == 0
    res = run("translate", "--weights", str(tiny_official), str(src), "-o", str(out))
    assert res.exit_code == 1 and "--overwrite" in res.output
    assert run("translate", "--weights", str(tiny_official), str(src), "-o", str(out), "--overwrite").exit_code == 0


def test_size_option_and_pix2pix_inference_modes(tmp_path: Path) -> None:
    torch.manual_seed(2)
    net = init_weights(create_generator("unet_128", ngf=4, norm="batch", use_dropout=True))
    w = tmp_path / "p2p.pth"
    torch.save(net.state_dict(), w)
    img = read_image(photo(tmp_path / "x.png", (100, 80)))
    ev = load_translator(weights=w, device="cpu", inference="eval", size="64")
    a, b = ev.translate([img])[0], ev.translate([img])[0]
    assert a.shape == (64, 64, 3) and np.array_equal(a, b)  # eval: deterministic
    off = load_translator(weights=w, device="cpu", inference="official")
    assert off.per_image and off.info["arch"] == "unet_128"
    torch.manual_seed(5)
    c = off.translate([img])[0]
    torch.manual_seed(5)
    d = off.translate([img])[0]
    assert c.shape == (80, 100, 3) and np.array_equal(c, d)  # dropout on, reproducible with a seed


def test_video_keeps_frames_fps_size_and_audio(tmp_path: Path, tiny_video: Path, tiny_official: Path) -> None:
    out = tmp_path / "out.mp4"
    res = run("translate", "--weights", str(tiny_official), str(tiny_video), "-o", str(out), "--batch-size", "8")
    assert res.exit_code == 0, res.output
    a, b = probe_video(tiny_video), probe_video(out)
    assert (b.width, b.height, b.fps, b.has_audio) == (a.width, a.height, a.fps, True)
    with av.open(str(out)) as c:
        n = sum(1 for _ in c.decode(video=0))
        assert "synthetic" in c.metadata.get("comment", "")
    assert n == 50


@pytest.mark.slow
def test_video_from_shared_data(tmp_path: Path, shared_data: Path, tiny_official: Path) -> None:
    """tpsmm_driving.mp4 has its audio as stream 0; 169 frames at 410x412."""
    src = shared_data / "face_videos" / "tpsmm_driving.mp4"
    out = tmp_path / "driving.mp4"
    res = run("translate", "--weights", str(tiny_official), "--size", "128", str(src), "-o", str(out))
    assert res.exit_code == 0, res.output
    a, b = probe_video(src), probe_video(out)
    assert (b.width, b.height, b.fps, b.has_audio) == (128, 128, a.fps, True)
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 169
