"""Pix2Pix (Isola, Zhu, Zhou, Efros 2017, https://arxiv.org/abs/1611.07004).

A conditional GAN: G maps A to B; the PatchGAN D judges (A, B) pairs concatenated on channels.
Generator loss = GAN(D(A, G(A)), real) + lambda_L1 * |G(A) - B|  (lambda_L1 = 100).
Step order as in the official `optimize_parameters`: discriminator first, then generator.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from facelab.config import Pix2PixConfig
from facelab.device import autocast
from facelab.losses import GANLoss, discriminator_loss, l1
from facelab.nn.factory import create_discriminator, create_generator
from facelab.nn.layers import init_weights, requires_grad
from facelab.translate.cyclegan import ImagePool, d_kwargs, g_kwargs, load_pools_state, pools_state


class Pix2Pix:
    """Holds G, D and their optimisers; `train_step(batch)` returns the losses as floats."""

    kind = "pix2pix"

    def __init__(self, cfg: Pix2PixConfig, device: torch.device, amp_dtype: torch.dtype | None,
                 scaler: torch.amp.GradScaler) -> None:
        self.cfg, self.device, self.amp_dtype, self.scaler = cfg, device, amp_dtype, scaler
        self.arch = {"G": (cfg.netG, g_kwargs(cfg, cfg.input_nc, cfg.output_nc)),
                     "D": (cfg.netD, d_kwargs(cfg, cfg.input_nc + cfg.output_nc))}
        self.nets: dict[str, nn.Module] = {}
        for name, (arch, kw) in self.arch.items():
            make = create_generator if name == "G" else create_discriminator
            self.nets[name] = init_weights(make(arch, **kw), cfg.init_type, cfg.init_gain).to(device)
        self.optimizers = {name: torch.optim.Adam(self.nets[name].parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
                           for name in ("G", "D")}
        # what train_step calls where gradients flow: the nets, or their DDP wrappers under torchrun
        # (facelab.distributed). The frozen D of the generator step is called unwrapped: it gets no
        # gradient, so DDP has nothing to all-reduce there (and no reduction is left pending)
        self.train_nets: dict[str, nn.Module] = dict(self.nets)
        self.gan = GANLoss(cfg.gan_mode)
        self.pools = {"fake_AB": ImagePool(cfg.pool_size)}
        self.visuals: dict[str, torch.Tensor] = {}

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        G, D, cfg = self.train_nets["G"], self.train_nets["D"], self.cfg
        real_A = batch["A"].to(self.device, non_blocking=True)
        real_B = batch["B"].to(self.device, non_blocking=True)
        with autocast(self.device, self.amp_dtype):
            fake_B = G(real_A)

        # 1. discriminator on real and (pooled, detached) fake pairs
        requires_grad(self.nets["D"], True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with autocast(self.device, self.amp_dtype):
            fake_AB = self.pools["fake_AB"].query(torch.cat([real_A, fake_B], 1))
            loss_D, parts = discriminator_loss(D, self.gan, torch.cat([real_A, real_B], 1), fake_AB, cfg.lambda_gp)
        self.scaler.scale(loss_D).backward()
        self.scaler.step(self.optimizers["D"])

        # 2. generator: fool D and stay close to the target in L1
        requires_grad(self.nets["D"], False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with autocast(self.device, self.amp_dtype):
            loss_G_GAN = self.gan(self.nets["D"](torch.cat([real_A, fake_B], 1)), True)
            loss_G_L1 = l1(fake_B, real_B) * cfg.lambda_L1
            loss_G = loss_G_GAN + loss_G_L1
        self.scaler.scale(loss_G).backward()
        self.scaler.step(self.optimizers["G"])
        self.scaler.update()

        self.visuals = {"real_A": real_A, "fake_B": fake_B, "real_B": real_B}
        out = {"G_GAN": loss_G_GAN.item(), "G_L1": loss_G_L1.item(), "D_real": parts["real"].item(),
               "D_fake": parts["fake"].item(), "D": loss_D.item()}
        if "gp" in parts:  # wgangp: the gradient penalty included in D
            out["gp"] = parts["gp"].item()
        return out

    def pool_state(self) -> dict[str, Any]:
        return pools_state(self.pools)

    def load_pool_state(self, state: dict[str, Any]) -> None:
        load_pools_state(self.pools, state, self.device)
