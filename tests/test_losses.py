from __future__ import annotations

import torch

from facelab.losses import GANLoss, discriminator_loss, gradient_penalty
from facelab.nn.factory import create_discriminator


def test_gradient_penalty_is_applied_and_differentiable() -> None:
    torch.manual_seed(0)
    netD = create_discriminator("basic", input_nc=3, ndf=4, norm="instance")
    real, fake = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    gp = gradient_penalty(netD, real, fake)
    assert gp.item() > 0
    gp.backward()
    # every weight gets a gradient (a bias added to the output does not change d D / d x)
    assert all(p.grad is not None for n, p in netD.named_parameters() if n.endswith("weight"))

    loss_w, parts = discriminator_loss(netD, GANLoss("wgangp"), real, fake)
    assert "gp" in parts and parts["gp"].item() > 0
    loss_ls, parts_ls = discriminator_loss(netD, GANLoss("lsgan"), real, fake)
    assert "gp" not in parts_ls


def test_gradient_penalty_value_for_a_linear_critic() -> None:
    """For D(x) = sum(w * x) the gradient is w everywhere, so the penalty is 10 * (|w| - 1)^2."""
    w = torch.full((1, 3, 4, 4), 0.5)
    gp = gradient_penalty(lambda x: (x * w).flatten(1).sum(1), torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4))
    assert abs(gp.item() - 10 * (w.norm().item() - 1) ** 2) < 1e-4
