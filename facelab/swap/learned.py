"""Learned face swap: a translator trained between two people's aligned face sets.

    run = train_swap(swap_config("faces/alice", "faces/bob", "runs/a2b"))   # CycleGAN on aligned crops
    run = train_swap(swap_config("faces/alice", "faces/bob", "runs/ae", arch="autoencoder"))
    source, settings = load_swap_model("runs/a2b", SwapSettings())
    swap_video_file(source, "alice_talk.mp4", "out.mp4", detector, settings)

The face sets are folders of aligned crops, as written by `facelab extract` (which records the
crop size and margin in `faces.json`; the swap must align target faces the same way, so the run
stores them and `load_swap_model` restores them). Training reuses the translators' loop
(checkpoints, logs, image grids, `--resume`) at the crop size, with one of two models (`arch`):

- "cyclegan": the translators' CycleGAN with its official defaults;
- "autoencoder": faceswap's shared encoder with one decoder per person
  (facelab.nn.autoencoder), with faceswap's Adam settings and batch of 16.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from facelab.config import CycleGANConfig, FaceSwapAEConfig, SwapCrop
from facelab.data.datasets import find_images
from facelab.errors import ConfigError, InputError
from facelab.swap.oneshot import SwapSettings, TranslatorSource

log = logging.getLogger(__name__)


def crop_geometry(folder: str | Path) -> dict[str, Any]:
    """Size and margin of the aligned crops in `folder` (from its faces.json, else the images)."""
    folder = Path(folder)
    images = find_images(folder)
    if not images:
        raise InputError(folder, "no face crops found; make them with `facelab extract VIDEO -o DIR`")
    for sidecar in [folder / "faces.json", *sorted(folder.rglob("faces.json"))][:2]:
        if sidecar.is_file():
            meta = json.loads(sidecar.read_text())
            settings = meta.get("settings", meta)
            if "size" in settings and "margin" in settings:
                return {"size": int(settings["size"]), "margin": float(settings["margin"]), "count": len(images)}
    from facelab.io.image import read_image

    h, w = read_image(images[0]).shape[:2]
    if h != w:
        raise InputError(images[0], f"face crops must be square aligned crops, this one is {w}x{h}")
    log.warning("%s has no faces.json; assuming crops of %d px with the swap's default margin", folder, h)
    return {"size": h, "margin": SwapSettings().margin, "count": len(images)}


ARCHS = ("cyclegan", "autoencoder")


def swap_config(faces_a: str | Path, faces_b: str | Path, out: str | Path, *, arch: str = "cyclegan",
                latent: int | None = None, **overrides: Any) -> CycleGANConfig | FaceSwapAEConfig:
    """A training config for two face sets, at the crops' own size; `overrides` are fields of the
    architecture's config (:class:`~facelab.config.CycleGANConfig`, :class:`~facelab.config.FaceSwapAEConfig`).

    arch "cyclegan": the official CycleGAN defaults. arch "autoencoder": model "faceswap_ae" with
    lr 5e-5, beta1 0.5, batch 16 (faceswap's); `latent` is its bottleneck width (default by size,
    see facelab.nn.autoencoder.default_latent), and `ngf` its width (64 = faceswap's original).
    """
    if arch not in ARCHS:
        raise ConfigError(f"unknown swap model {arch!r}; choose one of {', '.join(ARCHS)}")
    if latent is not None and arch != "autoencoder":
        raise ConfigError("latent sets the autoencoder's bottleneck; it needs arch='autoencoder'")
    geo_a, geo_b = crop_geometry(faces_a), crop_geometry(faces_b)
    if (geo_a["size"], geo_a["margin"]) != (geo_b["size"], geo_b["margin"]):
        raise ConfigError(f"the two face sets were aligned differently ({geo_a} vs {geo_b}); "
                          "extract both with the same --size and --margin")
    size = geo_a["size"]
    data: dict[str, Any] = dict(dataroot=str(faces_a), dataroot_b=str(faces_b), out=str(out), preprocess="none",
                                load_size=size, crop_size=size, flip=True, swap=SwapCrop(size, geo_a["margin"]))
    cfg: CycleGANConfig | FaceSwapAEConfig
    if arch == "cyclegan":
        cfg = CycleGANConfig(**data)
    else:
        from facelab.nn.autoencoder import default_latent

        cfg = FaceSwapAEConfig(**data, latent=latent or default_latent(size))
    return replace(cfg, **overrides)


def train_swap(cfg: CycleGANConfig | FaceSwapAEConfig, on_step: Callable[[dict[str, Any]], None] | None = None
               ) -> Path:
    from facelab.translate.trainer import train

    if cfg.swap is None:
        raise ConfigError("not a swap config; build it with facelab.swap.learned.swap_config")
    return train(cfg, on_step=on_step)


def load_swap_model(run: str | Path, settings: SwapSettings, *, direction: str = "AtoB",
                    device: str = "auto") -> tuple[TranslatorSource, SwapSettings]:
    """The translator of a swap run, and the settings with the crop geometry it was trained on."""
    from facelab.translate.infer import load_translator

    tr = load_translator(weights=run, direction=direction, device=device, inference="eval")
    geo = tr.info.get("meta", {}).get("config", {}).get("extra", {}).get("swap")
    if geo is None:
        raise ConfigError(f"{run}: a {tr.info.get('kind', 'translator')} run without face-crop geometry, not a "
                          "face-swap model (train one with `facelab train swap`; translators go to `facelab translate`)")
    settings = replace(settings, size=int(geo["size"]), margin=float(geo["margin"]))
    return TranslatorSource(translator=tr, weights=str(run)), settings
