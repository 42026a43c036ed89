"""Normalisation choice and weight initialisation shared by the generators and discriminators.

These follow pytorch-CycleGAN-and-pix2pix (Zhu, Park, Isola, Efros; Isola et al.):
https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix/blob/master/models/networks.py
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from facelab.errors import ConfigError

NORMS = ("batch", "instance", "none")

NormFactory = Callable[[int], nn.Module]


def norm_factory(norm: str) -> NormFactory:
    """A callable `channels -> nn.Module` for `batch|instance|none`.

    InstanceNorm has no affine parameters and keeps no running statistics, as in the official code.
    """
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda channels: nn.Identity()
    raise ConfigError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")


def conv_bias(norm: str) -> bool:
    """Whether convolutions followed by this norm carry a bias.

    The official code gives convs a bias only before InstanceNorm (BatchNorm has its own shift);
    with `none` it also drops the bias, and we keep that so official checkpoints load key for key.
    """
    return norm == "instance"


def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise conv/linear weights (normal, xavier, kaiming, orthogonal) and BatchNorm as N(1, gain).

    Official default: `normal` with std 0.02 (DCGAN, Radford et al. 2015), biases zero.
    """

    def init(m: nn.Module) -> None:
        name = m.__class__.__name__
        weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)
        if isinstance(weight, torch.Tensor) and ("Conv" in name or "Linear" in name):
            if init_type == "normal":
                nn.init.normal_(weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(weight, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                nn.init.orthogonal_(weight, gain=gain)
            else:
                raise ConfigError(f"unknown init {init_type!r}; choose normal, xavier, kaiming or orthogonal")
            if isinstance(bias, torch.Tensor):
                nn.init.zeros_(bias)
        elif "BatchNorm2d" in name and isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor):
            nn.init.normal_(weight, 1.0, gain)
            nn.init.zeros_(bias)

    net.apply(init)
    return net


def set_test_mode(net: nn.Module, *, batch_stats: bool = False, dropout: bool = False) -> nn.Module:
    """Put `net` in inference mode, optionally keeping the official pix2pix test-time behaviour.

    The official `test.py` does not call `eval()` unless `--eval` is given, so pix2pix generators
    normalise with the statistics of the current batch and keep dropout on (the paper's noise).
    `batch_stats=True` reproduces the first without updating the stored running statistics
    (momentum 0); `dropout=True` the second. Both False is plain `net.eval()`.
    """
    net.eval()
    for m in net.modules():
        if batch_stats and isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train()
            m.momentum = 0.0  # use the batch's statistics, leave running_mean/var untouched
        if dropout and isinstance(m, nn.Dropout):
            m.train()
    return net


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def requires_grad(nets: list[nn.Module] | nn.Module, flag: bool) -> None:
    """Freeze or unfreeze nets (the discriminators while the generators step)."""
    for net in nets if isinstance(nets, list) else [nets]:
        for p in net.parameters():
            p.requires_grad_(flag)


def pad_to_multiple(x: torch.Tensor, multiple: int, min_size: int = 0) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (B, C, H, W) at the bottom/right to multiples of `multiple`, and to at least `min_size`
    per side; returns the original (H, W).

    Reflection padding where the image is large enough (fewer seams than zeros), replicate otherwise.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    ph, pw = max(ph, min_size - h), max(pw, min_size - w)
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return nn.functional.pad(x, (0, pw, 0, ph), mode=mode), (h, w)
