"""A small face renderer for the ``rerender`` fake family: faces rebuilt by a trained autoencoder.

    renderer = train_renderer(crops, groups, steps=1500, seed=0)   # (N, S, S, 3) uint8 real crops
    rendered = renderer.render(crop, side="a")                     # uint8 (S, S, 3), smooth texture
    renderer.save(run / "renderer.pt"); FaceRenderer.load(run / "renderer.pt")

Why: blending alone (:mod:`facelab.detector.selfblend`) teaches the boundary of a pasted face,
but not what a neural renderer leaves inside it. DeepFaceLab, faceswap and talking-head models
all decode the face from a low-dimensional code at a low resolution and upsample it: the
texture is smooth, pores and fine hair are gone, and the face is slightly "averaged". The
renderer here is that kind of model, facelab's own: the classic deepfake autoencoder
(:class:`facelab.nn.autoencoder.FaceSwapAutoencoder`, one shared encoder, two decoders), small
(``ngf`` 16, 64 px) and trained for a few minutes on the training split's real faces, half of
the groups per decoder, from ``random_warp``-ed inputs as faceswap trains. Decoding a face with
its own half's decoder re-renders it; with the other half's decoder it becomes a learned swap
towards that half's average face. Either is pasted back through the landmark masks by
:func:`facelab.detector.selfblend.rerendered`.

The renderer is trained once per detector run (``RUN/renderer.pt``, float32 state dict read with
``weights_only=True``) and is deterministic in eval mode, so fakes stay fixed by
``(seed, epoch, index)`` and a resumed run makes the same ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from facelab.errors import WeightsError
from facelab.nn.autoencoder import FaceSwapAutoencoder, random_warp

__all__ = ["RENDER_SIZE", "FaceRenderer", "run_renderer", "train_renderer"]

log = logging.getLogger(__name__)

RENDER_SIZE = 64  # the renderer works at 64 px: the upsampled texture is part of what it teaches
_NGF, _LATENT = 16, 256


class FaceRenderer:
    """A trained :class:`FaceSwapAutoencoder` that re-renders aligned face crops of any size.

    Args:
        net: the autoencoder (``size`` :data:`RENDER_SIZE`).
    """

    def __init__(self, net: FaceSwapAutoencoder) -> None:
        self.net = net.eval()

    @staticmethod
    def new() -> FaceRenderer:
        return FaceRenderer(FaceSwapAutoencoder(RENDER_SIZE, ngf=_NGF, latent=_LATENT))

    @torch.inference_mode()
    def render(self, crop: np.ndarray, side: str = "a") -> np.ndarray:
        """``crop`` (uint8 ``(S, S, 3)`` RGB) through the encoder and decoder ``side``, back at ``S``."""
        s = crop.shape[0]
        small = cv2.resize(crop, (RENDER_SIZE, RENDER_SIZE), interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(small).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)
        y = self.net.decoder(side)(self.net.encoder(x))[0]
        out = ((y.clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(1, 2, 0).numpy()
        return np.asarray(cv2.resize(out, (s, s), interpolation=cv2.INTER_LINEAR if s > RENDER_SIZE else cv2.INTER_AREA))

    def save(self, path: str | Path) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"size": RENDER_SIZE, "ngf": _NGF, "latent": _LATENT, "state_dict": self.net.state_dict()}, tmp)
        tmp.replace(path)

    @staticmethod
    def load(path: str | Path) -> FaceRenderer:
        source = Path(path)
        try:
            record = torch.load(source, map_location="cpu", weights_only=True)
            net = FaceSwapAutoencoder(int(record["size"]), ngf=int(record["ngf"]), latent=int(record["latent"]))
            net.load_state_dict(record["state_dict"])
        except Exception as exc:
            raise WeightsError(f"{path}: not a face renderer checkpoint ({exc})") from None
        return FaceRenderer(net)


def train_renderer(crops: np.ndarray, groups: np.ndarray, *, steps: int = 1500, batch_size: int = 32,
                   lr: float = 2e-4, seed: int = 0,
                   on_step: Callable[[int, int, float], None] | None = None) -> FaceRenderer:
    """Train a renderer on real crops: decoder ``a`` rebuilds the even-hashed groups, ``b`` the rest.

    Args:
        crops: uint8 ``(N, S, S, 3)`` (an array or a memmap; read a batch at a time).
        groups: ``(N,)`` group of each crop (a video or a photo folder).
        steps: optimiser steps; each trains both decoders on one batch.
        on_step: called with ``(step, steps, loss)`` after every step.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 4099])
    names = sorted(set(map(str, groups)))
    side_of = {g: i % 2 for i, g in enumerate(names)}
    sides = np.array([side_of[str(g)] for g in groups])
    pools = [np.flatnonzero(sides == k) for k in (0, 1)]
    if not len(pools[1]):  # one group: both decoders learn it
        pools[1] = pools[0]
    renderer = FaceRenderer.new()
    net = renderer.net.train()
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        loss = torch.zeros(())
        for side, pool in zip(("a", "b"), pools):
            idx = np.sort(rng.choice(pool, size=batch_size, replace=len(pool) < batch_size))
            small = np.stack([cv2.resize(np.asarray(crops[i]), (RENDER_SIZE, RENDER_SIZE), interpolation=cv2.INTER_AREA)
                              for i in idx])
            x = torch.from_numpy(small).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
            if rng.random() < 0.5:
                x = x.flip(3)
            warped, target = random_warp(x, generator=gen)
            loss = loss + F.l1_loss(net.decoder(side)(net.encoder(warped)), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.item() / 2
        if on_step is not None:
            on_step(step, steps, value)
        if step % 250 == 0 or step == steps:
            log.info("renderer step %d/%d: L1 %.4f (%.0f s)", step, steps, value, time.perf_counter() - start)
    renderer.net.eval()
    return renderer


def run_renderer(path: str | Path, crops: np.ndarray, groups: np.ndarray, *, steps: int, seed: int) -> FaceRenderer:
    """A detector run's renderer: loaded from ``path`` when it exists (a resume), else trained and saved there."""
    path = Path(path)
    if path.is_file():
        return FaceRenderer.load(path)
    log.info("training the face renderer of the rerender family: %d steps", steps)
    renderer = train_renderer(crops, groups, steps=steps, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    renderer.save(path)
    return renderer
