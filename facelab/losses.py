"""GAN, cycle-consistency, identity and L1 losses, with the official pix2pix/CycleGAN semantics.

- vanilla: the original GAN's cross-entropy (Goodfellow et al. 2014), on logits.
- lsgan: least squares (Mao et al. 2017, https://arxiv.org/abs/1611.04076), CycleGAN's default.
- wgangp: Wasserstein loss (Arjovsky et al. 2017) with the gradient penalty of Gulrajani et al.
  2017 (https://arxiv.org/abs/1704.00028). The official repo defines the penalty but never calls
  it; here `discriminator_loss` adds it whenever the mode is `wgangp`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from facelab.errors import ConfigError

GAN_MODES = ("vanilla", "lsgan", "wgangp")


class GANLoss(nn.Module):
    """`loss(prediction, target_is_real)` for a discriminator's raw output (any shape)."""

    def __init__(self, gan_mode: str = "lsgan", real_label: float = 1.0, fake_label: float = 0.0) -> None:
        super().__init__()
        if gan_mode not in GAN_MODES:
            raise ConfigError(f"unknown GAN mode {gan_mode!r}; choose one of {', '.join(GAN_MODES)}")
        self.gan_mode = gan_mode
        self.real_label, self.fake_label = real_label, fake_label

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        prediction = prediction.float()  # losses in float32 even under autocast
        if self.gan_mode == "wgangp":
            return -prediction.mean() if target_is_real else prediction.mean()
        target = torch.full_like(prediction, self.real_label if target_is_real else self.fake_label)
        if self.gan_mode == "lsgan":
            return F.mse_loss(prediction, target)
        return F.binary_cross_entropy_with_logits(prediction, target)


def gradient_penalty(netD: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     kind: str = "mixed", constant: float = 1.0, lambda_gp: float = 10.0) -> torch.Tensor:
    """WGAN-GP penalty `lambda_gp * E[(||grad D(x_hat)||_2 - constant)^2]`.

    `kind`: `mixed` (x_hat on random lines between real and fake, the paper's choice), `real` or `fake`.
    """
    if lambda_gp <= 0:
        return real.new_zeros(())
    if kind == "real":
        x = real
    elif kind == "fake":
        x = fake
    elif kind == "mixed":
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        x = alpha * real + (1 - alpha) * fake
    else:
        raise ConfigError(f"unknown gradient penalty kind {kind!r}; choose mixed, real or fake")
    x = x.detach().requires_grad_(True)
    out = netD(x)
    (grad,) = torch.autograd.grad(outputs=out, inputs=x, grad_outputs=torch.ones_like(out),
                                  create_graph=True, retain_graph=True, only_inputs=True)
    grad = grad.reshape(grad.shape[0], -1).float()
    return (((grad + 1e-16).norm(2, dim=1) - constant) ** 2).mean() * lambda_gp


def discriminator_loss(netD: Callable[[torch.Tensor], torch.Tensor], criterion: GANLoss, real: torch.Tensor,
                       fake: torch.Tensor, lambda_gp: float = 10.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The official `backward_D_basic`: `0.5 * (loss(D(real), True) + loss(D(fake), False))`, plus the
    gradient penalty under `wgangp`. `fake` is detached here so no gradient reaches the generator."""
    fake = fake.detach()
    loss_real = criterion(netD(real), True)
    loss_fake = criterion(netD(fake), False)
    loss = (loss_real + loss_fake) * 0.5
    parts = {"real": loss_real.detach(), "fake": loss_fake.detach()}
    if criterion.gan_mode == "wgangp":
        gp = gradient_penalty(netD, real, fake, lambda_gp=lambda_gp)
        loss = loss + gp
        parts["gp"] = gp.detach()
    return loss, parts


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute error in float32 (used for cycle, identity and pix2pix's L1 terms)."""
    return F.l1_loss(a.float(), b.float())
