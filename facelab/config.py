"""Frozen configs per task, saved as JSON beside the outputs they produced."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    """Everything a translator training run depends on. Defaults are the official ones per model
    (see `defaults_for`); `facelab train pix2pix|cyclegan --help` shows them."""

    model: str  # "pix2pix" | "cyclegan"
    dataroot: str
    out: str
    dataroot_b: str | None = None  # unaligned: A images in `dataroot`, B images here (e.g. two face sets)
    # networks
    netG: str = "resnet_9blocks"
    netD: str = "basic"
    ngf: int = 64
    ndf: int = 64
    n_layers_D: int = 3
    norm: str = "instance"
    use_dropout: bool = False
    input_nc: int = 3
    output_nc: int = 3
    init_type: str = "normal"
    init_gain: float = 0.02
    # losses
    gan_mode: str = "lsgan"
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    lambda_L1: float = 100.0
    lambda_gp: float = 10.0
    pool_size: int = 50
    # optimisation
    lr: float = 2e-4
    beta1: float = 0.5
    lr_policy: str = "linear"
    n_epochs: int = 100
    n_epochs_decay: int = 100
    lr_decay_iters: int = 50
    batch_size: int = 1
    max_steps: int | None = None  # stop after this many iterations (quick runs, tests)
    # data
    direction: str = "AtoB"
    preprocess: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    augment: str = "none"
    max_dataset_size: int | None = None
    workers: int = 2
    # bookkeeping
    device: str = "auto"
    amp: bool | None = None  # None: on for CUDA, off for CPU
    seed: int = 0
    deterministic: bool = False
    print_every: int = 10
    display_every: int = 100  # image grid every N iterations
    save_epoch_every: int = 5
    save_latest_every: int = 500  # iterations
    resume: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def save(self, path: str | Path) -> None:
        """Write atomically: `--resume` reads it back, and a kill mid-write must not tear it."""
        from facelab.files import write_text_atomic  # lazy: configs stay importable without the media stack

        write_text_atomic(path, self.to_json() + "\n")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# The official per-model defaults (pytorch-CycleGAN-and-pix2pix models/*_model.py modify_commandline_options).
DEFAULTS: dict[str, dict[str, Any]] = {
    "cyclegan": {"netG": "resnet_9blocks", "norm": "instance", "use_dropout": False, "gan_mode": "lsgan",
                 "pool_size": 50, "lambda_identity": 0.5},
    "pix2pix": {"netG": "unet_256", "norm": "batch", "use_dropout": True, "gan_mode": "vanilla",
                "pool_size": 0, "lambda_L1": 100.0},
}


def defaults_for(model: str) -> dict[str, Any]:
    return dict(DEFAULTS[model])
