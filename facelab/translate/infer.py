"""Translate images and videos with a trained or official generator.

    tr = load_translator(model="horse2zebra")                 # registry name (offline cache, weights/)
    tr = load_translator(weights="runs/h2z", direction="BtoA") # a facelab run or checkpoint
    zebras = tr.translate([horse_rgb_uint8, ...])              # list of uint8 HWC RGB in and out

Test-time behaviour (`inference`):
- "official": what the official `test.py` does without `--eval`: BatchNorm normalises with the
  statistics of each image and dropout stays on (pix2pix's noise). Images then go one at a time,
  since batch statistics would otherwise mix images. For InstanceNorm nets without dropout
  (every CycleGAN model) this is the same function as "eval".
- "eval": `model.eval()`, deterministic, BatchNorm on its running statistics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from facelab import hub
from facelab.device import amp_dtype, autocast, resolve_device
from facelab.errors import ConfigError, InputError
from facelab.io.image import image_to_tensor, resize_image, tensor_to_image
from facelab.nn.autoencoder import FaceSwapAutoencoder
from facelab.nn.factory import load_generator
from facelab.nn.layers import set_test_mode

log = logging.getLogger(__name__)

INFERENCE_MODES = ("official", "eval")


@dataclass
class Translator:
    """A generator ready for inference plus everything needed to feed it."""

    net: nn.Module
    device: torch.device
    info: dict[str, Any]
    size: tuple[int, int] | None = None  # (w, h) to resize to, None = keep each image's resolution
    batch_stats: bool = False
    amp: torch.dtype | None = None
    input_nc: int = 3
    output_nc: int = 3
    stats: dict[str, float] = field(default_factory=lambda: {"images": 0})

    @property
    def per_image(self) -> bool:
        """True when images must go one at a time (BatchNorm on batch statistics)."""
        return self.batch_stats

    def _prepare(self, img: np.ndarray) -> torch.Tensor:
        if self.size is not None and (img.shape[1], img.shape[0]) != self.size:
            img = resize_image(img, self.size)
        t = image_to_tensor(img)
        if self.input_nc == 1:  # ITU-R 601 luma, as PIL's convert("L")
            t = (0.299 * t[0:1] + 0.587 * t[1:2] + 0.114 * t[2:3])
        return t

    @torch.inference_mode()
    def translate(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """uint8 (H, W, 3) RGB in, uint8 RGB out (same size, or `self.size` when set).

        Same-sized images run as one batch unless `per_image`; call with at most the batch size you want.
        """
        if not images:
            return []
        tensors = [self._prepare(im) for im in images]
        groups: list[list[int]] = []
        if self.per_image or len({t.shape for t in tensors}) > 1:
            groups = [[i] for i in range(len(tensors))]
        else:
            groups = [list(range(len(tensors)))]
        results: list[np.ndarray | None] = [None] * len(images)
        for idx in groups:
            batch = torch.stack([tensors[i] for i in idx]).to(self.device, non_blocking=True)
            if self.device.type == "cuda":
                batch = batch.contiguous(memory_format=torch.channels_last)
            with autocast(self.device, self.amp):
                out = self.net(batch)
            out = out.float().cpu()
            if self.output_nc == 1:
                out = out.expand(-1, 3, -1, -1)
            for j, i in enumerate(idx):
                results[i] = tensor_to_image(out[j])
        self.stats["images"] += len(images)
        return results  # type: ignore[return-value]


def parse_size(text: str | None) -> tuple[int, int] | None:
    """`original` (or None) -> None; `256` -> (256, 256); `640x360` -> (640, 360)."""
    if text is None or text in ("original", "native", "0"):
        return None
    try:
        if "x" in text.lower():
            w, h = (int(v) for v in text.lower().split("x"))
        else:
            w = h = int(text)
    except ValueError:
        raise ConfigError(f"--size must be 'original', N or WxH, not {text!r}") from None
    if w < 1 or h < 1 or w > 8192 or h > 8192:
        raise ConfigError(f"--size {text} is out of range (1..8192)")
    return w, h


def _checkpoint_in(path: Path) -> Path:
    """A run folder stands for its `final.pt` (or the latest training checkpoint)."""
    if path.is_dir():
        for candidate in (path / "final.pt", path / "checkpoints" / "latest.pt"):
            if candidate.is_file():
                return candidate
        raise InputError(path, "folder holds no final.pt or checkpoints/latest.pt; is it a facelab training run?")
    return path


def load_translator(model: str | None = None, weights: str | Path | None = None, *, direction: str = "AtoB",
                    device: str = "auto", inference: str = "official", size: str | None = None,
                    amp: bool | None = None, download_progress: Callable[[int, int | None], None] | None = None
                    ) -> Translator:
    """Build a Translator from a registry name and/or a weights file or run folder."""
    if model is None and weights is None:
        raise ConfigError("pass --model NAME (see `facelab weights list`) or --weights FILE")
    if inference not in INFERENCE_MODES:
        raise ConfigError(f"unknown inference mode {inference!r}; choose official or eval")
    if direction not in ("AtoB", "BtoA"):
        raise ConfigError(f"--direction must be AtoB or BtoA, not {direction!r}")
    default_size: int | None = None
    if model is not None:
        entry = hub.get_entry(model)
        if direction == "BtoA":
            raise ConfigError(f"{model} is a one-way model (official checkpoints hold one generator); "
                              "use its counterpart from `facelab weights list` for the other direction")
        path = hub.resolve(model, weights=_checkpoint_in(Path(weights)) if weights else None,
                           progress=download_progress)
        arch = dict(entry.arch)
        net, info = load_generator(path, arch=arch)
        info["model"] = model
        default_size = entry.default_size
    else:
        path = _checkpoint_in(Path(weights))  # type: ignore[arg-type]
        if not path.exists():
            raise InputError(path, "no such weights file")
        name = None
        net_probe, info = load_generator(path)  # picks G or G_A
        if info["kind"] == "cyclegan":
            name = "G_A" if direction == "AtoB" else "G_B"
            net, info = load_generator(path, net_name=name) if name != info["net"] else (net_probe, info)
        elif isinstance(net_probe, FaceSwapAutoencoder):  # one net, two decoders: AtoB decodes with B's
            net = net_probe.towards("b" if direction == "AtoB" else "a")
            info["arch_kwargs"]["out"] = net.out
            default_size = net.size  # its dense layers take crops of the training size only
        else:
            if direction == "BtoA":
                raise ConfigError(f"{path}: a {info['kind']} model translates one way only; "
                                  "--direction BtoA needs a CycleGAN or face-swap autoencoder run")
            net = net_probe
    dev = resolve_device(device)
    kw = info["arch_kwargs"]
    dropout_net = bool(kw.get("use_dropout"))
    batch_stats = inference == "official" and kw.get("norm") == "batch"
    set_test_mode(net, batch_stats=batch_stats, dropout=inference == "official" and dropout_net)
    net = net.to(dev)
    if dev.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
    chosen = parse_size(size) if size is not None else ((default_size, default_size) if default_size else None)
    info["weights_path"] = str(path)
    info["inference"] = inference
    log.info("translator %s from %s on %s (size=%s, batch_stats=%s)", info["arch"], path, dev, chosen, batch_stats)
    return Translator(net=net, device=dev, info=info, size=chosen, batch_stats=batch_stats,
                      amp=amp_dtype(dev, amp), input_nc=kw.get("input_nc", 3), output_nc=kw.get("output_nc", 3))


def batched(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch
