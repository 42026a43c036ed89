"""ResNet and U-Net generators, module for module the ones of pytorch-CycleGAN-and-pix2pix.

The attribute names and `nn.Sequential` indices are kept exactly, so official state_dicts load
unchanged (`model.10.conv_block.5.weight`, `model.model.1.model.3.weight`, ...).

References:
- ResNet generator: Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style Transfer", 2016
  (https://arxiv.org/abs/1603.08155), as used by CycleGAN (https://arxiv.org/abs/1703.10593).
- U-Net generator: Ronneberger et al. 2015, as used by pix2pix (https://arxiv.org/abs/1611.07004).

Shapes: input (B, input_nc, H, W) in [-1, 1], output (B, output_nc, H, W) in [-1, 1] (tanh).
Any H, W is accepted, down to 1 x 1: the input is padded to the multiple the net needs (4 for
ResNet, at least 8 x 8; 2**num_downs for U-Net) and the output cropped back.
"""

from __future__ import annotations

import torch
from torch import nn

from facelab.nn.layers import conv_bias, norm_factory, pad_to_multiple


class ResnetBlock(nn.Module):
    """conv-norm-relu-(dropout)-conv-norm with a residual connection."""

    def __init__(self, dim: int, norm: str, use_dropout: bool, padding_type: str = "reflect") -> None:
        super().__init__()
        make_norm, bias = norm_factory(norm), conv_bias(norm)
        block: list[nn.Module] = []
        for i in range(2):
            pad = 0
            if padding_type == "reflect":
                block.append(nn.ReflectionPad2d(1))
            elif padding_type == "replicate":
                block.append(nn.ReplicationPad2d(1))
            else:  # "zero"
                pad = 1
            block += [nn.Conv2d(dim, dim, kernel_size=3, padding=pad, bias=bias), make_norm(dim)]
            if i == 0:
                block.append(nn.ReLU(True))
                if use_dropout:
                    block.append(nn.Dropout(0.5))
        self.conv_block = nn.Sequential(*block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, two stride-2 downsamplings, `n_blocks` residual blocks, two upsamplings, c7s1-out."""

    multiple = 4

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False, n_blocks: int = 9, padding_type: str = "reflect") -> None:
        super().__init__()
        make_norm, bias = norm_factory(norm), conv_bias(norm)
        model: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, padding=0, bias=bias),
                                  make_norm(ngf), nn.ReLU(True)]
        for i in range(2):  # downsample
            mult = 2**i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                      make_norm(ngf * mult * 2), nn.ReLU(True)]
        for _ in range(n_blocks):
            model.append(ResnetBlock(ngf * 4, norm, use_dropout, padding_type))
        for i in range(2):  # upsample
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                         bias=bias),
                      make_norm(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # At least 8 x 8: the instance norms after the two downsamplings need more than one pixel.
        x, (h, w) = pad_to_multiple(x, self.multiple, min_size=2 * self.multiple)
        return self.model(x)[..., :h, :w]


class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: down -> submodule -> up, with the input concatenated to the output.

    Note a quirk we keep on purpose: the official block starts with an in-place LeakyReLU, which
    also rewrites the tensor used for the skip connection, so the skip carries LeakyReLU(x), not x.
    Official checkpoints were trained that way, so computing the same function requires it.
    """

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", use_dropout: bool = False) -> None:
        super().__init__()
        if submodule is None and not innermost:
            raise ValueError("every U-Net block but the innermost wraps a submodule")
        inner = submodule if submodule is not None else nn.Identity()  # the innermost block has none
        self.outermost = outermost
        make_norm, bias = norm_factory(norm), conv_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        downrelu, downnorm = nn.LeakyReLU(0.2, True), make_norm(inner_nc)
        uprelu, upnorm = nn.ReLU(True), make_norm(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, inner, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            model = [downrelu, downconv, downnorm, inner, uprelu, upconv, upnorm]
            if use_dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)  # x was rewritten in place by the LeakyReLU: see above


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` downsamplings (8 for 256x256 -> 1x1 at the bottleneck)."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = False) -> None:
        super().__init__()
        self.multiple = 2**num_downs
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True,
                                             norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, self.multiple)
        return self.model(x)[..., :h, :w]
