"""One config per trainer, with only its own fields; config.json keeps its keys, old runs' JSON still loads."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from facelab.config import (
    TRAIN_CONFIGS,
    CycleGANConfig,
    FaceSwapAEConfig,
    Pix2PixConfig,
    SwapCrop,
    config_from_dict,
)
from facelab.errors import ConfigError

# The config.json of a pix2pix run written before the split, by the one TrainConfig that the
# three trainers shared: every model's fields and the `extra` dict (facelab 0.1, official defaults).
OLD_PIX2PIX = {
    "amp": None, "augment": "none", "batch_size": 1, "beta1": 0.5, "crop_size": 256, "dataroot": "DATA",
    "dataroot_b": None, "deterministic": False, "device": "auto", "direction": "AtoB", "display_every": 100,
    "extra": {}, "flip": True, "gan_mode": "vanilla", "init_gain": 0.02, "init_type": "normal", "input_nc": 3,
    "lambda_A": 10.0, "lambda_B": 10.0, "lambda_L1": 100.0, "lambda_gp": 10.0, "lambda_identity": 0.5,
    "load_size": 286, "lr": 0.0002, "lr_decay_iters": 50, "lr_policy": "linear", "max_dataset_size": None,
    "max_steps": None, "model": "pix2pix", "n_epochs": 100, "n_epochs_decay": 100, "n_layers_D": 3, "ndf": 64,
    "netD": "basic", "netG": "unet_256", "ngf": 64, "norm": "batch", "out": "RUN", "output_nc": 3, "pool_size": 0,
    "preprocess": "resize_and_crop", "print_every": 10, "resume": False, "save_epoch_every": 5,
    "save_latest_every": 500, "seed": 0, "use_dropout": True, "workers": 2,
}
# ... and of the two face-swap models (`facelab train swap`), whose crop and bottleneck sat in `extra`
OLD_CYCLEGAN_SWAP = {**OLD_PIX2PIX, "model": "cyclegan", "dataroot_b": "B", "netG": "resnet_9blocks", "norm": "instance",
                     "use_dropout": False, "gan_mode": "lsgan", "pool_size": 50, "preprocess": "none", "load_size": 64,
                     "crop_size": 64, "extra": {"swap": {"size": 64, "margin": 0.3}}}
OLD_FACESWAP_AE = {**OLD_PIX2PIX, "model": "faceswap_ae", "dataroot_b": "B", "netG": "resnet_9blocks",
                   "norm": "instance", "use_dropout": False, "gan_mode": "lsgan", "pool_size": 50, "lr": 5e-5,
                   "batch_size": 16, "preprocess": "none", "load_size": 64, "crop_size": 64,
                   "extra": {"swap": {"size": 64, "margin": 0.3}, "autoencoder": {"latent": 1024}}}


def fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_each_trainer_has_only_its_own_fields() -> None:
    assert set(TRAIN_CONFIGS) == {"pix2pix", "cyclegan", "faceswap_ae"}
    assert {"lambda_L1"} <= fields(Pix2PixConfig) and not {"lambda_A", "dataroot_b", "swap", "latent"} & fields(Pix2PixConfig)
    assert {"lambda_A", "lambda_identity", "dataroot_b", "swap"} <= fields(CycleGANConfig)
    assert "lambda_L1" not in fields(CycleGANConfig)
    assert {"ngf", "latent", "swap", "dataroot_b"} <= fields(FaceSwapAEConfig)
    assert not {"netG", "netD", "ndf", "gan_mode", "pool_size", "lambda_gp", "norm"} & fields(FaceSwapAEConfig)
    assert all("extra" not in fields(cls) for cls in TRAIN_CONFIGS.values())


def test_defaults_are_each_models_official_ones() -> None:
    p, c, ae = Pix2PixConfig("d", "o"), CycleGANConfig("d", "o"), FaceSwapAEConfig("d", "o")
    assert (p.netG, p.norm, p.use_dropout, p.gan_mode, p.pool_size, p.lambda_L1) == ("unet_256", "batch", True,
                                                                                      "vanilla", 0, 100.0)
    assert (c.netG, c.norm, c.use_dropout, c.gan_mode, c.pool_size) == ("resnet_9blocks", "instance", False, "lsgan", 50)
    assert (c.lambda_A, c.lambda_B, c.lambda_identity) == (10.0, 10.0, 0.5)
    assert (p.lr, p.beta1, c.lr, c.beta1) == (2e-4, 0.5, 2e-4, 0.5)
    assert (ae.lr, ae.beta1, ae.batch_size, ae.ngf, ae.latent) == (5e-5, 0.5, 16, 64, None)
    assert (p.model, c.model, ae.model) == ("pix2pix", "cyclegan", "faceswap_ae")


@pytest.mark.parametrize("old", [OLD_PIX2PIX, OLD_CYCLEGAN_SWAP, OLD_FACESWAP_AE], ids=lambda d: d["model"])
def test_the_json_keeps_the_old_keys_and_old_json_loads(old: dict) -> None:
    """The new JSON is the old one less other models' fields: same names, same values, the swap crop
    and the bottleneck still under "extra"; and the old JSON loads into the model's config."""
    cfg = config_from_dict(old)
    assert type(cfg) is TRAIN_CONFIGS[old["model"]]
    new = json.loads(cfg.to_json())
    assert {k: old[k] for k in new} == new
    assert config_from_dict(new) == cfg


def test_swap_crop_and_bottleneck_are_typed_fields() -> None:
    ae = config_from_dict(OLD_FACESWAP_AE)
    assert isinstance(ae, FaceSwapAEConfig)
    assert (ae.swap, ae.latent, ae.dataroot_b) == (SwapCrop(size=64, margin=0.3), 1024, "B")
    cyc = config_from_dict(OLD_CYCLEGAN_SWAP)
    assert isinstance(cyc, CycleGANConfig) and cyc.swap == SwapCrop(64, 0.3)
    plain = CycleGANConfig("d", "o")
    assert plain.swap is None and "extra" not in plain.to_dict()


def test_save_and_read_back(tmp_path: Path) -> None:
    cfg = FaceSwapAEConfig("a", "run", dataroot_b="b", swap=SwapCrop(128, 0.25), latent=512, ngf=8)
    cfg.save(tmp_path / "config.json")
    assert config_from_dict(json.loads((tmp_path / "config.json").read_text())) == cfg
    assert FaceSwapAEConfig.from_dict(cfg.to_dict()) == cfg


def test_a_config_of_another_model_is_refused() -> None:
    with pytest.raises(ConfigError, match="a cyclegan config, not a pix2pix one"):
        Pix2PixConfig.from_dict(OLD_CYCLEGAN_SWAP)
    with pytest.raises(ConfigError, match="unknown model 'stylegan'"):
        config_from_dict({**OLD_PIX2PIX, "model": "stylegan"})
