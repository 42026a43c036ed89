"""CycleGAN (Zhu, Park, Isola, Efros 2017, https://arxiv.org/abs/1703.10593).

Two generators G_A: A -> B and G_B: B -> A, two PatchGAN discriminators D_A (judges B) and
D_B (judges A). Generator loss = GAN(D_A(G_A(a))) + GAN(D_B(G_B(b)))
                                + lambda_A * |G_B(G_A(a)) - a| + lambda_B * |G_A(G_B(b)) - b|
                                + lambda_idt * (lambda_B * |G_A(b) - b| + lambda_A * |G_B(a) - a|).
Discriminators see fakes replayed from a history pool (Shrivastava et al. 2017) half the time.
Step order as in the official `optimize_parameters`: generators first, then discriminators.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import torch
from torch import nn

from facelab.config import CycleGANConfig, GANConfig
from facelab.device import autocast
from facelab.losses import GANLoss, discriminator_loss, l1
from facelab.nn.factory import create_discriminator, create_generator
from facelab.nn.layers import init_weights, requires_grad


class ImagePool:
    """History of generated images: once full, each query returns, with probability 0.5, an older
    image (and stores the new one in its place), else the new image itself."""

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.random() > 0.5:
                i = random.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "images": [t.cpu() for t in self.images]}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.images = [t.to(device) for t in state["images"]]


def pools_state(pools: dict[str, ImagePool]) -> dict[str, Any]:
    """The pools' contents for a checkpoint (so a resumed run replays the same history)."""
    return {k: p.state_dict() for k, p in pools.items()}


def load_pools_state(pools: dict[str, ImagePool], state: dict[str, Any], device: torch.device) -> None:
    for k, p in pools.items():
        if k in state:
            p.load_state_dict(state[k], device)


def g_kwargs(cfg: GANConfig, input_nc: int, output_nc: int) -> dict[str, Any]:
    return {"input_nc": input_nc, "output_nc": output_nc, "ngf": cfg.ngf, "norm": cfg.norm,
            "use_dropout": cfg.use_dropout}


def d_kwargs(cfg: GANConfig, input_nc: int) -> dict[str, Any]:
    return {"input_nc": input_nc, "ndf": cfg.ndf, "norm": cfg.norm, "n_layers_D": cfg.n_layers_D}


class CycleGAN:
    """Holds the nets and optimisers; `train_step(batch)` returns the losses as floats."""

    kind = "cyclegan"

    def __init__(self, cfg: CycleGANConfig, device: torch.device, amp_dtype: torch.dtype | None,
                 scaler: torch.amp.GradScaler) -> None:
        self.cfg, self.device, self.amp_dtype, self.scaler = cfg, device, amp_dtype, scaler
        self.arch = {
            "G_A": (cfg.netG, g_kwargs(cfg, cfg.input_nc, cfg.output_nc)),
            "G_B": (cfg.netG, g_kwargs(cfg, cfg.output_nc, cfg.input_nc)),
            "D_A": (cfg.netD, d_kwargs(cfg, cfg.output_nc)),
            "D_B": (cfg.netD, d_kwargs(cfg, cfg.input_nc)),
        }
        self.nets: dict[str, nn.Module] = {}
        for name, (arch, kw) in self.arch.items():
            make = create_generator if name.startswith("G") else create_discriminator
            self.nets[name] = init_weights(make(arch, **kw), cfg.init_type, cfg.init_gain).to(device)
        self.optimizers = {
            "G": torch.optim.Adam(itertools.chain(self.nets["G_A"].parameters(), self.nets["G_B"].parameters()),
                                  lr=cfg.lr, betas=(cfg.beta1, 0.999)),
            "D": torch.optim.Adam(itertools.chain(self.nets["D_A"].parameters(), self.nets["D_B"].parameters()),
                                  lr=cfg.lr, betas=(cfg.beta1, 0.999)),
        }
        # what train_step calls where gradients flow: the nets, or their DDP wrappers under torchrun
        # (facelab.distributed). The frozen Ds of the generator step are called unwrapped: they get no
        # gradient, so DDP has nothing to all-reduce there (and no reduction is left pending).
        # Under DDP each rank keeps its own image pools (of the fakes of its share of the batch).
        self.train_nets: dict[str, nn.Module] = dict(self.nets)
        self.gan = GANLoss(cfg.gan_mode)
        self.pools = {"fake_A": ImagePool(cfg.pool_size), "fake_B": ImagePool(cfg.pool_size)}
        self.visuals: dict[str, torch.Tensor] = {}

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        cfg, G_A, G_B, D_A, D_B = self.cfg, *(self.train_nets[k] for k in ("G_A", "G_B", "D_A", "D_B"))
        frozen_D_A, frozen_D_B = self.nets["D_A"], self.nets["D_B"]
        real_A = batch["A"].to(self.device, non_blocking=True)
        real_B = batch["B"].to(self.device, non_blocking=True)

        # 1. generators (discriminators frozen so their weights get no gradient)
        requires_grad([frozen_D_A, frozen_D_B], False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with autocast(self.device, self.amp_dtype):
            fake_B, fake_A = G_A(real_A), G_B(real_B)
            rec_A, rec_B = G_B(fake_B), G_A(fake_A)
            losses = {"G_A": self.gan(frozen_D_A(fake_B), True), "G_B": self.gan(frozen_D_B(fake_A), True),
                      "cycle_A": l1(rec_A, real_A) * cfg.lambda_A, "cycle_B": l1(rec_B, real_B) * cfg.lambda_B}
            if cfg.lambda_identity > 0:
                losses["idt_A"] = l1(G_A(real_B), real_B) * cfg.lambda_B * cfg.lambda_identity
                losses["idt_B"] = l1(G_B(real_A), real_A) * cfg.lambda_A * cfg.lambda_identity
            loss_G = sum(losses.values())
        self.scaler.scale(loss_G).backward()
        self.scaler.step(self.optimizers["G"])

        # 2. discriminators, on fakes replayed from the history pools
        requires_grad([frozen_D_A, frozen_D_B], True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with autocast(self.device, self.amp_dtype):
            loss_D_A, parts_A = discriminator_loss(D_A, self.gan, real_B, self.pools["fake_B"].query(fake_B),
                                                   cfg.lambda_gp)
            loss_D_B, parts_B = discriminator_loss(D_B, self.gan, real_A, self.pools["fake_A"].query(fake_A),
                                                   cfg.lambda_gp)
        self.scaler.scale(loss_D_A + loss_D_B).backward()
        self.scaler.step(self.optimizers["D"])
        self.scaler.update()

        self.visuals = {"real_A": real_A, "fake_B": fake_B, "rec_A": rec_A,
                        "real_B": real_B, "fake_A": fake_A, "rec_B": rec_B}
        out = {k: v.item() for k, v in losses.items()}
        out.update(D_A=loss_D_A.item(), D_B=loss_D_B.item())
        if "gp" in parts_A:  # wgangp: the gradient penalty included in D_A / D_B
            out.update(gp_A=parts_A["gp"].item(), gp_B=parts_B["gp"].item())
        return out

    def pool_state(self) -> dict[str, Any]:
        return pools_state(self.pools)

    def load_pool_state(self, state: dict[str, Any]) -> None:
        load_pools_state(self.pools, state, self.device)
