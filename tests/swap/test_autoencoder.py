"""The faceswap autoencoder: shapes, the random warp, and real (tiny) training on aligned photo crops."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from facelab.checkpoint import safe_load
from facelab.cli import cli
from facelab.errors import ConfigError
from facelab.faces.align import align_face
from facelab.faces.detect import FaceDetector
from facelab.faces.mask import dilate
from facelab.io.image import read_image, write_image
from facelab.nn.autoencoder import FaceSwapAutoencoder, default_latent, random_warp
from facelab.nn.factory import create_generator
from facelab.swap.learned import load_swap_model, swap_config, train_swap
from facelab.swap.oneshot import SwapSettings, swap_face


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Two shared cores: a second OpenMP thread makes these small convs several times slower under load."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("size", [64, 128])
def test_shapes_and_directions(size: int) -> None:
    net = create_generator("faceswap_ae", size=size, ngf=4, latent=32)
    x = torch.rand(2, 3, size, size) * 2 - 1
    assert net.encoder(x).shape == (2, 32, size // 8, size // 8)  # 8 * ngf channels at 1/8 size
    to_b = net(x)
    assert to_b.shape == x.shape and to_b.abs().max() <= 1
    to_a = net.towards("a")(x)
    assert to_a.shape == x.shape and not torch.allclose(to_a, to_b)
    assert torch.equal(net.towards("b")(x), to_b)
    with pytest.raises(ConfigError, match=f"{size}, {size}"):
        net(torch.zeros(1, 3, size + 16, size + 16))


def test_faceswap_original_layout_and_sizes() -> None:
    with torch.device("meta"):  # 82 M parameters: check the layers without allocating them
        net = FaceSwapAutoencoder(64)
    layers = [(m.in_channels, m.out_channels) if isinstance(m, nn.Conv2d) else (m.in_features, m.out_features)
              for m in net.encoder if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers == [(3, 128), (128, 256), (256, 512), (512, 1024), (4 * 4 * 1024, 1024), (1024, 4 * 4 * 1024)]
    assert [default_latent(s) for s in (64, 128, 256)] == [1024, 512, 256]
    for bad in (8, 72, 100):
        with pytest.raises(ConfigError, match="multiple of 16"):
            FaceSwapAutoencoder(bad, ngf=4)
    with pytest.raises(ConfigError, match="'a' or 'b'"):
        FaceSwapAutoencoder(64, ngf=4, latent=8, out="c")


def test_random_warp_keeps_shape_is_smooth_and_not_identity() -> None:
    y, x = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    images = torch.stack([x, y, x * y]).expand(4, 3, 64, 64).contiguous()  # smooth ramps
    warped, target = random_warp(images, generator=torch.Generator().manual_seed(0))
    assert warped.shape == target.shape == images.shape
    assert (warped - target).abs().mean() > 0.01 and (target - images).abs().mean() > 0.01
    assert (warped - target).abs().mean() < 0.2  # a small, smooth distortion
    again, _ = random_warp(images, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, warped)
    still, same = random_warp(images, warp=0, rotation=0, zoom=0, shift=0)
    assert torch.allclose(still, images, atol=1e-5) and torch.allclose(same, images, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Real faces: 64 px crops of Obama (A) and Biden (B), a 40-step run, the swap.


@pytest.fixture(scope="module")
def face_sets(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    photos = shared_data / "faces" / "face_recognition"
    detector = FaceDetector(device="cpu", min_face_size=60, max_side=480)
    root = tmp_path_factory.mktemp("faces")
    for side, names in (("A", sorted(photos.glob("obama*.jpg"))), ("B", [photos / "biden.jpg",
                                                                       photos / "train_biden_biden2.jpg"])):
        (root / side).mkdir()
        for path in names:
            image = read_image(path)
            face = detector.detect(image)[0]
            write_image(root / side / f"{path.stem}.png", align_face(image, face.landmarks, 64, 0.2).crop)
        (root / side / "faces.json").write_text(json.dumps({"settings": {"size": 64, "margin": 0.2}}))
    target = read_image(photos / "obama_small.jpg")
    return {"A": root / "A", "B": root / "B", "target": target,
            "landmarks": detector.detect(target)[0].landmarks, "target_path": photos / "obama_small.jpg"}


@pytest.fixture(scope="module")
def run(face_sets: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, float]]]:
    out = tmp_path_factory.mktemp("ae") / "run"
    cfg = swap_config(face_sets["A"], face_sets["B"], out, arch="autoencoder", ngf=8, latent=64, lr=5e-4,
                      batch_size=4, max_steps=40, workers=0, print_every=1, display_every=20,
                      save_epoch_every=1000, device="cpu")
    losses: list[dict[str, float]] = []
    train_swap(cfg, on_step=lambda info: losses.append(info["losses"]))
    return out, losses


def test_training_reduces_the_reconstruction_loss(run: tuple[Path, list[dict[str, float]]]) -> None:
    out, losses = run
    assert len(losses) == 40 and set(losses[0]) == {"rec_A", "rec_B"}
    for side in ("rec_A", "rec_B"):
        first, last = (statistics.mean(step[side] for step in part) for part in (losses[:10], losses[-10:]))
        assert last < 0.9 * first, (side, first, last)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"] == "faceswap_ae" and cfg["extra"] == {"swap": {"size": 64, "margin": 0.2},
                                                              "autoencoder": {"latent": 64}}
    final = safe_load(out / "final.pt")
    assert final["kind"] == "faceswap_ae" and list(final["nets"]) == ["G"]
    assert final["nets"]["G"]["arch_kwargs"] == {"size": 64, "ngf": 8, "latent": 64, "out": "b"}
    assert "real_A, rec_A, fake_B, real_B, rec_B, fake_A" in (out / "index.html").read_text()
    assert (out / "images" / "iter_0000040.jpg").is_file()


def test_run_swaps_both_ways_and_changes_only_the_face(run: tuple[Path, list[dict[str, float]]],
                                                       face_sets: dict[str, Any]) -> None:
    target, landmarks = face_sets["target"], face_sets["landmarks"]
    outputs = {}
    for direction, decoder in (("AtoB", "b"), ("BtoA", "a")):
        source, settings = load_swap_model(run[0], SwapSettings(), direction=direction, device="cpu")
        assert (settings.size, settings.margin) == (64, 0.2)  # restored from the run, not the default 256
        assert source.translator.net.out == decoder and source.describe()["arch"] == "faceswap_ae"
        out, mask = swap_face(target, landmarks, source, settings)
        changed = (out != target).any(-1)
        assert changed.sum() > 0.3 * (mask > 0).sum()
        assert not (changed & (dilate((mask > 0).astype(np.float32), 1) == 0)).any()
        assert np.array_equal(out[mask == 0], target[mask == 0])
        outputs[direction] = out
    assert not np.array_equal(outputs["AtoB"], outputs["BtoA"])


def test_cli_train_swap_autoencoder_then_swap(face_sets: dict[str, Any], tmp_path: Path) -> None:
    runner, base = CliRunner(), ["-q", "--device", "cpu"]
    res = runner.invoke(cli, [*base, "train", "swap", "--arch", "autoencoder", "--faces-a", str(face_sets["A"]),
                              "--faces-b", str(face_sets["B"]), "-o", str(tmp_path / "ae"), "--ngf", "4",
                              "--latent", "16", "--max-steps", "2", "--batch-size", "2", "--workers", "0"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "ae" / "config.json").read_text())
    assert (cfg["model"], cfg["lr"], cfg["beta1"], cfg["ngf"]) == ("faceswap_ae", 5e-5, 0.5, 4)
    out = tmp_path / "swapped.png"
    res = runner.invoke(cli, [*base, "swap", "--model", str(tmp_path / "ae"), "--target",
                              str(face_sets["target_path"]), "-o", str(out), "--direction", "BtoA"])
    assert res.exit_code == 0, res.output
    side = json.loads((tmp_path / "swapped.png.json").read_text())
    assert side["faces_changed"] == 1 and side["source"]["arch"] == "faceswap_ae"
    assert read_image(out).shape == face_sets["target"].shape
    # options of the other architecture are usage errors
    for extra in (["--arch", "autoencoder", "--netG", "unet_128"], ["--latent", "64"]):
        res = runner.invoke(cli, [*base, "train", "swap", "--faces-a", str(face_sets["A"]), "--faces-b",
                                  str(face_sets["B"]), "-o", str(tmp_path / "x"), *extra])
        assert res.exit_code == 2 and "applies to --arch" in res.output, res.output
