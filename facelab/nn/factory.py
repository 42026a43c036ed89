"""Build networks by name, and load official pytorch-CycleGAN-and-pix2pix state_dicts.

    net = create_generator("resnet_9blocks", ngf=64, norm="instance")
    net = create_discriminator("basic", input_nc=6, norm="batch")
    list_models()  # {"generators": [...], "discriminators": [...]}
    net, info = load_generator("runs/h2z/final.pt")   # a facelab checkpoint or an official .pth

Nets are built on the CPU in float32; the caller moves them with `.to(device)`.

The registry is filled by the modules that define the nets, as they are imported
(`@register_generator("name")`, as timm's `@register_model`); `facelab/nn/__init__.py` imports
them all, so any import of `facelab.nn...` sees every model. It never imports upward: a model
defined elsewhere registers itself the same way when its module is imported.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from facelab.checkpoint import describe_arch, describe_checkpoint, infer_official_arch, is_facelab_checkpoint, safe_load
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


def list_models() -> dict[str, list[str]]:
    return {"generators": sorted(_GENERATORS), "discriminators": sorted(_DISCRIMINATORS)}


def create_generator(name: str, **kwargs: Any) -> nn.Module:
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


def convert_official_state_dict(net: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """Map an official state_dict onto `net`'s keys.

    - strips the `module.` prefix that DataParallel adds;
    - drops the InstanceNorm running-stat keys that PyTorch < 0.4 saved (the official loader's
      `__patch_instance_norm_state_dict` does the same): InstanceNorm here keeps no statistics,
      so they never affected the output.
    """
    own = net.state_dict()
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
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


# ---------------------------------------------------------------------------------------------
# Generators from checkpoint files.


def build_net(record: Mapping[str, Any], source: str = "checkpoint") -> nn.Module:
    """Rebuild a generator from a `net_record`."""
    net = create_generator(record["arch"], **record["arch_kwargs"])
    expected = describe_arch({"netG": record["arch"], **record["arch_kwargs"]})
    return load_official_state_dict(net, record["state_dict"], source, expected=f"the recorded {expected}")


def load_generator(path: str | Path, *, net_name: str | None = None,
                   arch: Mapping[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Load one generator from a facelab checkpoint or an official state_dict.

    `net_name` picks the net in a facelab checkpoint (e.g. "G_A", "G_B", "G"); `arch` describes
    an official file (`{"netG": "resnet_9blocks", "ngf": 64, "norm": "instance", ...}`); without
    it the architecture is inferred from the keys. Returns the net (CPU, float32) and an info dict
    with `arch`, `arch_kwargs`, `kind`, `source`.
    """
    obj = safe_load(path)
    if is_facelab_checkpoint(obj):
        nets = obj["nets"]
        gens = [k for k in nets if k.startswith("G")]
        name = net_name or ("G" if "G" in nets else "G_A" if "G_A" in nets else (gens[0] if gens else None))
        if name not in nets:
            raise WeightsError(f"{path}: checkpoint has no network {name!r}; it has {', '.join(nets)}")
        record = nets[name]
        net = build_net(record, str(path))
        info = {"arch": record["arch"], "arch_kwargs": dict(record["arch_kwargs"]), "kind": obj.get("kind"),
                "net": name, "source": str(path), "meta": obj.get("meta", {})}
        return net, info
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: {describe_checkpoint(obj)}, not an image-translation generator "
                           "(a facelab run's final.pt or an official CycleGAN / pix2pix .pth)")
    spec = dict(arch) if arch is not None else infer_official_arch(obj)
    if spec is None or spec.get("netG") is None:
        raise WeightsError(f"{path}: cannot tell which generator these weights are for; "
                           "pass --model NAME (see `facelab weights list`) so the architecture is known")
    kwargs = {k: spec[k] for k in ("input_nc", "output_nc", "ngf", "norm", "use_dropout") if k in spec}
    net = create_generator(spec["netG"], **kwargs)
    load_official_state_dict(net, obj, str(path), expected=f"the {describe_arch(spec)}"
                             + (" of the chosen --model" if arch is not None else ""))
    return net, {"arch": spec["netG"], "arch_kwargs": kwargs, "kind": "official", "net": "G",
                 "source": str(path), "meta": {}, "description": describe_arch(spec)}
