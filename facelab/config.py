"""Frozen configs per trainer, saved as ``config.json`` beside the runs they produced.

    cfg = Pix2PixConfig(dataroot="datasets/facades", out="runs/facades", direction="BtoA")
    cfg = CycleGANConfig(dataroot="datasets/horse2zebra", out="runs/h2z")
    cfg = FaceSwapAEConfig(dataroot="faces/alice", dataroot_b="faces/bob", out="runs/ae", swap=SwapCrop(128, 0.3))
    cfg = config_from_dict(json.loads(Path("runs/h2z/config.json").read_text()))

Each model trained by :func:`facelab.translate.trainer.train` has its own config with only the
fields it uses; the loop's own fields (data, schedule, bookkeeping) sit in :class:`TrainLoopConfig`,
which all of them extend. Defaults are each model's official ones (pytorch-CycleGAN-and-pix2pix
``models/*_model.py``, faceswap's trainer for the autoencoder); ``facelab train pix2pix|cyclegan
--help`` shows them. The detector's config is :class:`facelab.detector.train.DetectorTrainConfig`.

The JSON keeps the names and places of the single config that all the models once shared:
``"model"``, the fields by name, and the face-swap crop and the autoencoder's bottleneck under
``"extra"`` (``{"swap": {"size", "margin"}, "autoencoder": {"latent"}}``). So a run's JSON reads
the same to old and new code, and :meth:`TrainLoopConfig.from_dict` reads an old run's JSON
(every model's fields in one dict) by taking the fields its model has.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from facelab.errors import ConfigError

__all__ = ["TRAIN_CONFIGS", "CycleGANConfig", "FaceSwapAEConfig", "GANConfig", "Pix2PixConfig", "SwapCrop",
           "TrainLoopConfig", "TranslatorConfig", "config_from_dict"]

_C = TypeVar("_C", bound="TrainLoopConfig")


@dataclass(frozen=True)
class SwapCrop:
    """The aligned face crops a face-swap model trains on (``facelab extract --size --margin``);
    the swap must align target faces the same way, so the run records them."""

    size: int
    margin: float


@dataclass(frozen=True)
class TrainLoopConfig:
    """The training loop's fields, which every model has: data, optimiser schedule, bookkeeping."""

    model: ClassVar[str]  # the model's name: `facelab train MODEL`, the checkpoint's "kind"

    dataroot: str
    out: str
    # data
    direction: str = "AtoB"
    preprocess: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    augment: str = "none"
    max_dataset_size: int | None = None
    workers: int = 2
    # optimisation
    lr: float = 2e-4
    beta1: float = 0.5
    lr_policy: str = "linear"
    n_epochs: int = 100
    n_epochs_decay: int = 100
    lr_decay_iters: int = 50
    batch_size: int = 1
    max_steps: int | None = None  # stop after this many iterations (quick runs, tests)
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

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (module docstring): ``model``, the fields, and ``extra`` where there is one."""
        d: dict[str, Any] = {"model": self.model}
        extra: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "swap":
                if value is not None:
                    extra["swap"] = dataclasses.asdict(value)
            elif f.name == "latent":
                extra["autoencoder"] = {"latent": value}
            else:
                d[f.name] = value
        if extra:
            d["extra"] = extra
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def save(self, path: str | Path) -> None:
        """Write atomically: `--resume` reads it back, and a kill mid-write must not tear it."""
        from facelab.files import write_text_atomic  # lazy: configs stay importable without the media stack

        write_text_atomic(path, self.to_json() + "\n")

    @classmethod
    def from_dict(cls: type[_C], d: Mapping[str, Any]) -> _C:
        """Read a saved config (:meth:`to_dict`, or an older run's JSON with every model's fields);
        keys of other models are left out.

        Raises:
            ConfigError: the JSON is another model's (its ``"model"``).
        """
        if d.get("model", cls.model) != cls.model:
            raise ConfigError(f"a {d.get('model')} config, not a {cls.model} one")
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names and k not in ("swap", "latent")}
        extra = d.get("extra") or {}
        if "swap" in names and extra.get("swap") is not None:
            kw["swap"] = SwapCrop(size=int(extra["swap"]["size"]), margin=float(extra["swap"]["margin"]))
        if "latent" in names:
            kw["latent"] = (extra.get("autoencoder") or {}).get("latent")
        return cls(**kw)


@dataclass(frozen=True)
class GANConfig(TrainLoopConfig):
    """What the two GANs share: generator and discriminator (pytorch-CycleGAN-and-pix2pix's
    options), their initialisation, the GAN loss and the fake-image pool."""

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
    lambda_gp: float = 10.0
    pool_size: int = 50


@dataclass(frozen=True)
class Pix2PixConfig(GANConfig):
    """Pix2Pix on aligned pairs (:class:`facelab.translate.pix2pix.Pix2Pix`), official defaults:
    U-Net 256, batch norm, dropout, vanilla GAN, no image pool, lambda_L1 100."""

    model: ClassVar[str] = "pix2pix"

    netG: str = "unet_256"
    norm: str = "batch"
    use_dropout: bool = True
    gan_mode: str = "vanilla"
    pool_size: int = 0
    lambda_L1: float = 100.0


@dataclass(frozen=True)
class CycleGANConfig(GANConfig):
    """CycleGAN on unpaired sets (:class:`facelab.translate.cyclegan.CycleGAN`), official defaults:
    ResNet 9 blocks, instance norm, LSGAN, pool 50, lambda_A = lambda_B = 10, identity 0.5.

    ``dataroot_b``: the B images in their own folder (e.g. two face sets) instead of
    ``dataroot/trainB``; ``swap``: set when the run is a face-swap model (``facelab train swap``).
    """

    model: ClassVar[str] = "cyclegan"

    dataroot_b: str | None = None
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    swap: SwapCrop | None = None


@dataclass(frozen=True)
class FaceSwapAEConfig(TrainLoopConfig):
    """The face-swap autoencoder (:class:`facelab.translate.faceswap_ae.FaceSwapAE`) between the
    faces in ``dataroot`` (A) and ``dataroot_b`` (B), with faceswap's Adam settings (lr 5e-5,
    beta1 0.5) and batch of 16. ``ngf``: its width (64 = faceswap's original); ``latent``: its
    bottleneck (None: by crop size, :func:`facelab.nn.autoencoder.default_latent`)."""

    model: ClassVar[str] = "faceswap_ae"

    lr: float = 5e-5
    batch_size: int = 16
    dataroot_b: str | None = None
    ngf: int = 64
    latent: int | None = None
    swap: SwapCrop | None = None


#: What :func:`facelab.translate.trainer.train` takes.
TranslatorConfig = Pix2PixConfig | CycleGANConfig | FaceSwapAEConfig

#: model name -> its config class.
TRAIN_CONFIGS: dict[str, type[Pix2PixConfig] | type[CycleGANConfig] | type[FaceSwapAEConfig]] = {
    c.model: c for c in (Pix2PixConfig, CycleGANConfig, FaceSwapAEConfig)}


def config_from_dict(d: Mapping[str, Any]) -> TranslatorConfig:
    """The config a run's ``config.json`` (or a checkpoint's ``meta["config"]``) describes, in this
    format or the older one; see :meth:`TrainLoopConfig.from_dict`.

    Raises:
        ConfigError: no or an unknown ``"model"``.
    """
    cls = TRAIN_CONFIGS.get(str(d.get("model")))
    if cls is None:
        raise ConfigError(f"unknown model {d.get('model')!r} in the config; choose {', '.join(TRAIN_CONFIGS)}")
    return cls.from_dict(d)
