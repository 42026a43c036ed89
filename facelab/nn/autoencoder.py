"""The classic deepfake autoencoder: one shared encoder, one decoder per person.

    net = create_generator("faceswap_ae", size=64, ngf=64)   # faceswap's "original" model
    faces_as_b = net.towards("b")(faces_of_a)               # encode A, decode with B's decoder

Each decoder learns to rebuild its own person's aligned face from a randomly warped copy
(`random_warp`). Since the encoder is shared, its code has to describe what both people have in
common (pose, expression, lighting, gaze) while the decoders hold who they are; decoding a code
of A with B's decoder gives B's face in A's pose and expression. This is the model of the
r/deepfakes code (2017) kept as "original" in deepfakes/faceswap
(https://github.com/deepfakes/faceswap/blob/master/plugins/train/model/original.py) and the
ancestor of DeepFaceLab's (Perov et al. 2020, https://arxiv.org/abs/2005.05535).

Architecture, for a crop of S x S (S a multiple of 16), width w = `ngf`, bottleneck L = `latent`:

    encoder   4 x [conv 5x5 stride 2 + LeakyReLU(0.1)]: 2w, 4w, 8w, 16w channels  -> (16w, S/16, S/16)
              flatten -> dense L -> dense L*(S/16)^2 -> reshape (L, S/16, S/16)
              upscale to 8w                                                       -> (8w, S/8, S/8)
    decoder   upscale to 4w, 2w, w -> conv 5x5 to 3 -> tanh (facelab images are in [-1, 1])  -> (3, S, S)
    upscale   conv 3x3 to 4c + LeakyReLU(0.1) + PixelShuffle(2)

With w = 64, L = 1024 at S = 64 this is faceswap's "original" layer for layer. The dense layers
grow with (S/16)^2, so the default L shrinks with the size as faceswap's and DeepFaceLab's larger
models do (`default_latent`: 1024 at 64 px, 512 at 128 px as DFL-H128, 256 above as SAEHD).
Parameters at w = 64: 82 M at 64 px, 89 M at 128 px, 118 M at 256 px.

Training (`facelab.translate.faceswap_ae.FaceSwapAE`, run by facelab.translate.trainer like the
GANs): each decoder rebuilds its person from a `random_warp` of the face; see that module.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from facelab.errors import ConfigError
from facelab.nn.factory import register_generator

SIDES = ("a", "b")


def default_latent(size: int) -> int:
    """The bottleneck width for a crop size: faceswap original (64), DFL-H128 (128), SAEHD (larger)."""
    return 1024 if size <= 64 else 512 if size <= 128 else 256


def _upscale(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch * 4, 3, padding=1), nn.LeakyReLU(0.1), nn.PixelShuffle(2))


def _icnr_(conv: nn.Conv2d, scale: int = 2) -> None:
    """ICNR init (Aitken et al. 2017, https://arxiv.org/abs/1707.02937): the sub-pixel conv starts
    out as conv + nearest-neighbour upsampling, which avoids PixelShuffle's checkerboard at init."""
    out_ch, in_ch, k, _ = conv.weight.shape
    sub = torch.empty(out_ch // scale**2, in_ch, k, k)
    nn.init.kaiming_uniform_(sub, a=0.1, nonlinearity="leaky_relu")
    with torch.no_grad():  # PixelShuffle takes channels c*4 .. c*4+3 for output channel c
        conv.weight.copy_(sub.repeat_interleave(scale**2, dim=0))


class FaceSwapAutoencoder(nn.Module):
    """Shared encoder and decoders `decoder_a`, `decoder_b`; `forward` decodes with `decoder_<out>`.

    Args:
        size: side of the square input crops (a multiple of 16); the dense layers depend on it.
        ngf: width multiplier (64: faceswap's 128-256-512-1024 encoder).
        latent: bottleneck width; None = `default_latent(size)`.
        out: the decoder `forward` uses: "b" turns faces of A into B (AtoB), "a" the reverse.

    Shapes: (N, 3, size, size) in [-1, 1] -> (N, 3, size, size) in [-1, 1].
    """

    multiple = 16

    def __init__(self, size: int = 64, ngf: int = 64, latent: int | None = None, out: str = "b") -> None:
        super().__init__()
        if size < 16 or size % 16:
            raise ConfigError(f"the faceswap autoencoder needs crops whose size is a multiple of 16 "
                              f"(64, 128, 256), not {size}; extract the faces with such a --size")
        self.size, self.ngf = int(size), int(ngf)
        self.latent = int(latent) if latent is not None else default_latent(self.size)
        self.out = "b"
        self.towards(out)
        r, w = self.size // 16, self.ngf
        downs: list[nn.Module] = []
        for c_in, c_out in zip((3, 2 * w, 4 * w, 8 * w), (2 * w, 4 * w, 8 * w, 16 * w)):
            downs += [nn.Conv2d(c_in, c_out, 5, stride=2, padding=2), nn.LeakyReLU(0.1)]
        self.encoder = nn.Sequential(
            *downs, nn.Flatten(),
            nn.Linear(16 * w * r * r, self.latent), nn.Linear(self.latent, self.latent * r * r),
            nn.Unflatten(1, (self.latent, r, r)), _upscale(self.latent, 8 * w))
        self.decoder_a = self._decoder(w)
        self.decoder_b = self._decoder(w)
        self._init()

    @staticmethod
    def _decoder(w: int) -> nn.Sequential:
        return nn.Sequential(_upscale(8 * w, 4 * w), _upscale(4 * w, 2 * w), _upscale(2 * w, w),
                             nn.Conv2d(w, 3, 5, padding=2), nn.Tanh())

    def _init(self) -> None:
        """He-uniform convs (faceswap's choice for LeakyReLU nets), ICNR before each PixelShuffle,
        Glorot dense layers (Keras' default, which faceswap's dense layers keep), zero biases."""
        for seq in (self.encoder, self.decoder_a, self.decoder_b):
            for m in seq.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                elif isinstance(m, nn.Conv2d):
                    nn.init.kaiming_uniform_(m.weight, a=0.1, nonlinearity="leaky_relu")
                if isinstance(m, (nn.Linear, nn.Conv2d)) and m.bias is not None:
                    nn.init.zeros_(m.bias)
            for m in seq.modules():
                if isinstance(m, nn.Sequential) and isinstance(m[-1], nn.PixelShuffle) and isinstance(m[0], nn.Conv2d):
                    _icnr_(m[0])

    def towards(self, side: str) -> FaceSwapAutoencoder:
        """Make `forward` decode with person `side`'s decoder ("a" or "b"); returns self."""
        if side not in SIDES:
            raise ConfigError(f"decoder side must be 'a' or 'b', not {side!r}")
        self.out = side
        return self

    def decoder(self, side: str) -> nn.Module:
        return self.decoder_a if side == "a" else self.decoder_b

    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != (self.size, self.size):
            raise ConfigError(f"this autoencoder takes (N, 3, {self.size}, {self.size}) face crops, got "
                              f"{tuple(x.shape)}; align faces at --size {self.size}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.decoder(self.out)(self.encoder(x))


@register_generator("faceswap_ae")
def faceswap_ae(size: int = 64, ngf: int = 64, latent: int | None = None, out: str = "b") -> FaceSwapAutoencoder:
    return FaceSwapAutoencoder(size, ngf, latent, out)


def random_warp(images: torch.Tensor, *, warp: float = 0.04, rotation: float = 10.0, zoom: float = 0.05,
                shift: float = 0.05, points: int = 5, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """faceswap's training augmentation, on the batch's own device: returns (warped, target).

    Both outputs share one random similarity per image (rotation within ±`rotation` degrees,
    scale 1 ± `zoom`, shift within ± `shift` of the side): plain augmentation, which the
    autoencoder reproduces. The input alone is also bent by a smooth random distortion, which the
    autoencoder must undo: a `points` x `points` grid of control points spread over the image,
    each moved by N(0, `warp`) (faceswap: 5 px at 256 px, 0.04 here in [-1, 1] units), upsampled
    bicubically to a dense displacement field.

    Shapes: images (N, C, H, W) float, square -> warped, target (N, C, H, W).

    Convention: `F.grid_sample` coordinates, x right and y down, -1 and 1 at the outer edges of
    the border pixels (align_corners=False); the affine maps output to input points; samples
    outside the image repeat the border pixel (faceswap's BORDER_REPLICATE). Random numbers come
    from the CPU generator (`generator` or torch's global one), so a seed gives the same warps on
    any device.
    """
    if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"random_warp expects square (N, C, H, W) images, got {tuple(images.shape)}")
    n, _, h, w = images.shape
    u = torch.rand(4, n, generator=generator) * 2 - 1  # uniform in [-1, 1): angle, scale, tx, ty
    angle, scale = u[0] * math.radians(rotation), 1 + u[1] * zoom
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, u[2] * 2 * shift], 1),
                         torch.stack([sin, cos, u[3] * 2 * shift], 1)], 1)  # (N, 2, 3)
    bend = torch.randn(n, 2, points, points, generator=generator) * warp
    bend = F.interpolate(bend, size=(h, w), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
    grid = F.affine_grid(theta.to(images), [n, 1, h, w], align_corners=False)
    warped = F.grid_sample(images, grid + bend.to(images), mode="bilinear", padding_mode="border", align_corners=False)
    target = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return warped, target

