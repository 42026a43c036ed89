"""Training the face-swap autoencoder (:mod:`facelab.nn.autoencoder`) in facelab's training loop.

    model = FaceSwapAE(cfg, device, amp_dtype, scaler)   # cfg.model == "faceswap_ae"
    losses = model.train_step(batch)                      # {"rec_A": ..., "rec_B": ...}

The adapter :func:`facelab.translate.trainer.train` runs like the GANs (it has the trainer's
`TrainModel` shape): Adam with betas (cfg.beta1, 0.999), by default faceswap's lr 5e-5, beta1 0.5
and batch 16 (:class:`facelab.config.FaceSwapAEConfig`);
loss = L1(decoder_X(encoder(warp(x))), x) for both people. No discriminator, no mask.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from facelab.config import FaceSwapAEConfig
from facelab.device import autocast
from facelab.losses import l1
from facelab.nn.autoencoder import FaceSwapAutoencoder, default_latent, faceswap_ae, random_warp


class FaceSwapAE:
    """The autoencoder and its optimiser for facelab.translate.trainer; `train_step(batch)` returns the losses.

    Batches are UnalignedDataset items: "A" and "B" hold aligned crops of the two people.
    """

    kind = "faceswap_ae"

    def __init__(self, cfg: FaceSwapAEConfig, device: torch.device, amp_dtype: torch.dtype | None,
                 scaler: torch.amp.GradScaler) -> None:
        self.cfg, self.device, self.amp_dtype, self.scaler = cfg, device, amp_dtype, scaler
        latent = cfg.latent or default_latent(cfg.crop_size)
        self.arch = {"G": ("faceswap_ae", {"size": cfg.crop_size, "ngf": cfg.ngf, "latent": latent, "out": "b"})}
        self.nets: dict[str, nn.Module] = {"G": faceswap_ae(**self.arch["G"][1]).to(device)}
        self.optimizers = {"G": torch.optim.Adam(self.nets["G"].parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))}
        self._real: dict[str, torch.Tensor] = {}
        self._visuals: dict[str, torch.Tensor] | None = None

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        net: FaceSwapAutoencoder = self.nets["G"]  # type: ignore[assignment]
        real = {side: batch[side].to(self.device, non_blocking=True) for side in ("A", "B")}
        for images in real.values():
            net.check_input(images)
        warped, target = zip(*(random_warp(real[side]) for side in ("A", "B")))
        self.optimizers["G"].zero_grad(set_to_none=True)
        with autocast(self.device, self.amp_dtype):
            code_a, code_b = net.encoder(torch.cat(warped)).split([len(warped[0]), len(warped[1])])
            losses = {"rec_A": l1(net.decoder_a(code_a), target[0]), "rec_B": l1(net.decoder_b(code_b), target[1])}
        self.scaler.scale(losses["rec_A"] + losses["rec_B"]).backward()
        self.scaler.step(self.optimizers["G"])
        self.scaler.update()
        self._real, self._visuals = real, None
        return {k: v.item() for k, v in losses.items()}

    @property
    def visuals(self) -> dict[str, torch.Tensor]:
        """Real, reconstructed and swapped faces of the last batch (unwarped), made when first asked for:
        real_A, rec_A = decoder_a(encoder(A)), fake_B = decoder_b(encoder(A)), and the same for B."""
        if self._visuals is None and self._real:
            net: FaceSwapAutoencoder = self.nets["G"]  # type: ignore[assignment]
            with torch.no_grad(), autocast(self.device, self.amp_dtype):
                code_a, code_b = net.encoder(self._real["A"]), net.encoder(self._real["B"])
                self._visuals = {"real_A": self._real["A"], "rec_A": net.decoder_a(code_a),
                                 "fake_B": net.decoder_b(code_a), "real_B": self._real["B"],
                                 "rec_B": net.decoder_b(code_b), "fake_A": net.decoder_a(code_b)}
        return self._visuals or {}

    def pool_state(self) -> dict[str, Any]:
        return {}  # no discriminator, no image pool

    def load_pool_state(self, state: dict[str, Any]) -> None:
        pass
