"""Build networks by name, and load official pytorch-CycleGAN-and-pix2pix state_dicts.

    net = create_generator("resnet_9blocks", ngf=64, norm="instance")
    net = create_discriminator("basic", input_nc=6, norm="batch")
    list_models()  # {"generators": [...], "discriminators": [...]}

Nets are built on the CPU in float32; the caller moves them with `.to(device)`.
"""

from __future__ import annotations

import importlib

import re
from collections import OrderedDict
from typing import Any, Callable, Mapping

import torch
from torch import nn

from facelab.errors import ConfigError, WeightsError
from facelab.nn.discriminators import NLayerDiscriminator, PixelDiscriminator
from facelab.nn.generators import ResnetGenerator, UnetGenerator

_GENERATORS: dict[str, Callable[..., nn.Module]] = {}
_DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {}


def register_generator(name: str) -> Callable:
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _GENERATORS[name] = fn
        return fn

    return deco


def register_discriminator(name: str) -> Callable:
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _DISCRIMINATORS[name] = fn
        return fn

    return deco


@register_generator("resnet_9blocks")
def resnet_9blocks(input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "instance",
                   use_dropout: bool = False) -> nn.Module:
    return ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, n_blocks=9)


@register_generator("resnet_6blocks")
def resnet_6blocks(input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "instance",
                   use_dropout: bool = False) -> nn.Module:
    return ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, n_blocks=6)


@register_generator("unet_256")
def unet_256(input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "batch",
             use_dropout: bool = False) -> nn.Module:
    return UnetGenerator(input_nc, output_nc, 8, ngf, norm, use_dropout)


@register_generator("unet_128")
def unet_128(input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "batch",
             use_dropout: bool = False) -> nn.Module:
    return UnetGenerator(input_nc, output_nc, 7, ngf, norm, use_dropout)


@register_discriminator("basic")
def basic(input_nc: int = 3, ndf: int = 64, norm: str = "batch", n_layers_D: int = 3) -> nn.Module:
    """The 70x70 PatchGAN (`n_layers_D` is ignored, as in the official code)."""
    return NLayerDiscriminator(input_nc, ndf, 3, norm)


@register_discriminator("n_layers")
def n_layers(input_nc: int = 3, ndf: int = 64, norm: str = "batch", n_layers_D: int = 3) -> nn.Module:
    return NLayerDiscriminator(input_nc, ndf, n_layers_D, norm)


@register_discriminator("pixel")
def pixel(input_nc: int = 3, ndf: int = 64, norm: str = "batch", n_layers_D: int = 3) -> nn.Module:
    return PixelDiscriminator(input_nc, ndf, norm)


def _register_builtins() -> None:
    """Import the modules that register networks living outside nn/ (the face-swap autoencoder),
    so the registry is the same whatever the caller imported first."""
    importlib.import_module("facelab.swap.autoencoder")  # registers "faceswap_ae"


def list_models() -> dict[str, list[str]]:
    _register_builtins()
    return {"generators": sorted(_GENERATORS), "discriminators": sorted(_DISCRIMINATORS)}


def create_generator(name: str, **kwargs: Any) -> nn.Module:
    if name not in _GENERATORS:
        _register_builtins()
    if name not in _GENERATORS:
        raise ConfigError(f"unknown generator {name!r}; choose one of {', '.join(sorted(_GENERATORS))}")
    return _GENERATORS[name](**kwargs)


def create_discriminator(name: str, **kwargs: Any) -> nn.Module:
    if name not in _DISCRIMINATORS:
        raise ConfigError(f"unknown discriminator {name!r}; choose one of {', '.join(sorted(_DISCRIMINATORS))}")
    return _DISCRIMINATORS[name](**kwargs)


# ---------------------------------------------------------------------------------------------
# Official checkpoints: one explicit converter.

_LEGACY_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


def convert_official_state_dict(net: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    """Map an official state_dict onto `net`'s keys.

    - strips the `module.` prefix that DataParallel adds;
    - drops the InstanceNorm running-stat keys that PyTorch < 0.4 saved (the official loader's
      `__patch_instance_norm_state_dict` does the same): InstanceNorm here keeps no statistics,
      so they never affected the output.
    """
    own = net.state_dict()
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key, value in state_dict.items():
        key = key[len("module."):] if key.startswith("module.") else key
        if key not in own and key.rsplit(".", 1)[-1] in _LEGACY_SUFFIXES:
            continue
        out[key] = value
    return out


def load_official_state_dict(net: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint",
                             expected: str | None = None) -> nn.Module:
    """Load an official (or facelab) state_dict into `net` strictly, with a readable error on mismatch.

    `expected` names the architecture `net` was built as (e.g. "the recorded unet_256 ngf=64
    norm=batch generator"), so that the error says which two architectures disagree.
    """
    converted = convert_official_state_dict(net, state_dict)
    own = net.state_dict()
    missing = [k for k in own if k not in converted]
    unexpected = [k for k in converted if k not in own]
    wrong_shape = [k for k in converted if k in own and tuple(converted[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong_shape:
        guess = infer_official_arch(state_dict)
        hint = f"; it looks like a {describe_arch(guess)}" if guess else ""
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        if wrong_shape:
            k = wrong_shape[0]
            detail.append(f"{len(wrong_shape)} shape mismatches (e.g. {k}: {tuple(converted[k].shape)} vs {tuple(own[k].shape)})")
        target = expected or "the network built for it"
        raise WeightsError(f"{source}: weights do not fit {target} ({', '.join(detail)}){hint}")
    net.load_state_dict(converted, strict=True)
    return net


def describe_arch(arch: Mapping[str, Any]) -> str:
    parts = [str(arch.get("netG", "?"))] + [f"{k}={arch[k]}" for k in ("ngf", "norm") if arch.get(k) is not None]
    if arch.get("use_dropout"):
        parts.append("dropout")
    return " ".join(parts) + " generator"


def infer_official_arch(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    """Guess the generator architecture of an official state_dict from its keys and shapes.

    Returns kwargs for `create_generator` plus `netG`, or None if the keys fit no known generator.
    U-Net dropout leaves no trace in the keys, so the pix2pix default (dropout on) is assumed.
    """
    keys = [k[len("module."):] if k.startswith("module.") else k for k in state_dict]
    sd = {k: v for k, v in zip(keys, state_dict.values())}
    if "model.1.weight" in sd and any(".conv_block." in k for k in keys):
        blocks = {int(m.group(1)) for k in keys if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
        first = sd["model.1.weight"]
        norm = "batch" if "model.2.weight" in sd else "instance" if "model.1.bias" in sd else "none"
        dropout = any(re.match(r"model\.\d+\.conv_block\.6\.weight", k) for k in keys)
        n = len(blocks)
        return {"netG": f"resnet_{n}blocks" if n in (6, 9) else None, "input_nc": first.shape[1],
                "output_nc": sd[max((k for k in keys if re.match(r"model\.\d+\.weight$", k)),
                                    key=lambda k: int(k.split(".")[1]))].shape[0],
                "ngf": first.shape[0], "norm": norm, "use_dropout": dropout} if n in (6, 9) else None
    if "model.model.0.weight" in sd:
        depth = max(k.count("model.") for k in keys) - 1  # nesting level of the innermost block
        num_downs = depth
        first = sd["model.model.0.weight"]
        norm = "batch" if any(k.endswith("running_mean") and "model.model.1" in k for k in keys) else (
            "instance" if "model.model.1.model.1.bias" in sd else "none")
        name = {8: "unet_256", 7: "unet_128"}.get(num_downs)
        if name is None:
            return None
        out_key = "model.model.3.weight"
        return {"netG": name, "input_nc": first.shape[1],
                "output_nc": sd[out_key].shape[1] if out_key in sd else 3,
                "ngf": first.shape[0], "norm": norm, "use_dropout": True}
    return None
