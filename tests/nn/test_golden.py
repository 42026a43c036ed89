"""facelab's networks load official pytorch-CycleGAN-and-pix2pix state_dicts and compute the same function.

The golden files were made with the official `models/networks.py` (see ../shared/data/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from facelab.checkpoint import infer_official_arch
from facelab.losses import GANLoss
from facelab.nn.factory import create_discriminator, create_generator, load_official_state_dict
from facelab.nn.layers import set_test_mode

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "golden" / "official_cyclegan_pix2pix"
FILES = sorted(GOLDEN.glob("*.pt")) if GOLDEN.is_dir() else []
pytestmark = pytest.mark.skipif(not FILES, reason="../shared/data/golden is absent")


def build(cfg: dict) -> torch.nn.Module:
    arch = cfg["arch"]
    if arch.startswith(("resnet", "unet")):
        return create_generator(arch, input_nc=cfg["input_nc"], output_nc=cfg["output_nc"], ngf=cfg["ngf"],
                                norm=cfg["norm"], use_dropout=cfg["use_dropout"])
    return create_discriminator(arch, input_nc=cfg["input_nc"], ndf=cfg["ndf"], norm=cfg["norm"],
                                n_layers_D=cfg.get("n_layers_D", cfg.get("n_layers", 3)))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_matches_official_output(path: Path) -> None:
    g = torch.load(path, weights_only=True)
    net = build(g["config"])
    load_official_state_dict(net, g["state_dict"], path.name)
    if g["mode"] == "eval":
        set_test_mode(net)
    else:
        assert g["mode"] == "bn_batch_stats_no_dropout"
        set_test_mode(net, batch_stats=True, dropout=False)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.inference_mode():
        out = net(g["input"].clone())
    assert out.shape == g["output"].shape
    assert (out - g["output"]).abs().max().item() < 1e-4
    # inference never changes the weights or the BatchNorm running statistics
    for k, v in net.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("path", [p for p in FILES if p.stem.startswith(("resnet", "unet"))],
                         ids=lambda p: p.stem)
def test_arch_inferred_from_official_keys(path: Path) -> None:
    g = torch.load(path, weights_only=True)
    cfg, guess = g["config"], infer_official_arch(g["state_dict"])
    assert guess is not None
    assert (guess["netG"], guess["ngf"], guess["norm"], guess["input_nc"], guess["output_nc"]) == (
        cfg["arch"], cfg["ngf"], cfg["norm"], cfg["input_nc"], cfg["output_nc"])
    if cfg["arch"].startswith("resnet"):
        assert guess["use_dropout"] == cfg["use_dropout"]


def test_official_gan_loss_values() -> None:
    ref = json.loads((GOLDEN / "gan_losses.json").read_text())
    pred = torch.tensor(ref["pred"])
    for mode, want in ref["gan_loss"].items():
        loss = GANLoss(mode)
        assert loss(pred, True).item() == pytest.approx(want["real"], abs=1e-6)
        assert loss(pred, False).item() == pytest.approx(want["fake"], abs=1e-6)
