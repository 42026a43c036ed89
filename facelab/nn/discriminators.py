"""PatchGAN and pixel discriminators, layer for layer the official pix2pix/CycleGAN ones.

PatchGAN (Isola et al. 2017, https://arxiv.org/abs/1611.07004): a fully convolutional net whose
every output logit judges one receptive-field patch; `n_layers=3` gives the 70x70 PatchGAN.
Shapes: (B, input_nc, H, W) -> (B, 1, H', W') logits (no sigmoid; the loss applies it).
"""

from __future__ import annotations

import torch
from torch import nn

from facelab.nn.layers import conv_bias, norm_factory


class NLayerDiscriminator(nn.Module):
    """PatchGAN with `n_layers` stride-2 convs (3 = the 70x70 `basic` discriminator)."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        make_norm, bias = norm_factory(norm), conv_bias(norm)
        kw, padw = 4, 1
        seq: list[nn.Module] = [nn.Conv2d(input_nc, ndf, kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, kw, stride=2, padding=padw, bias=bias),
                    make_norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, kw, stride=1, padding=padw, bias=bias),
                make_norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        seq.append(nn.Conv2d(ndf * mult, 1, kw, stride=1, padding=padw))
        self.model = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN: judges every pixel on its own (colour statistics, no structure)."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, norm: str = "batch") -> None:
        super().__init__()
        make_norm, bias = norm_factory(norm), conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1, stride=1, padding=0), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, stride=1, padding=0, bias=bias), make_norm(ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, stride=1, padding=0, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
