"""Device choice and mixed precision, in one place so that nothing hard-codes 'cuda'."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch

from facelab.errors import ConfigError

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cuda", "cpu")


def resolve_device(name: str = "auto") -> torch.device:
    """Turn `auto|cuda|cpu|cuda:N` into a torch.device; `auto` picks CUDA when present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for, but no CUDA device is available; use --device cpu")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"unknown device {name!r}; choose one of auto, cuda, cpu")


def amp_dtype(device: torch.device, enabled: bool | None = None) -> torch.dtype | None:
    """The autocast dtype to use, or None for full float32.

    Mixed precision is on by default on CUDA (bf16 where the GPU supports it, else fp16 with a
    GradScaler) and off on the CPU. There it is bf16: about 2x faster than float32 for a
    ``resnet_9blocks`` forward on CPUs with AVX-512 BF16 or AMX (measured on the 2-core AMD EPYC
    of docs/benchmarks.md), slower on CPUs without, and the outputs differ from float32 by a few
    grey levels, so it stays opt-in.
    """
    if enabled is None:
        enabled = device.type == "cuda"
    if not enabled:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """`torch.autocast` when dtype is set, a no-op otherwise."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler that is enabled only for fp16 (bf16 has float32's range and needs none)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


@contextlib.contextmanager
def one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run a tiny CPU workload on one intra-op thread, then restore the thread count.

    Why: PyTorch's OpenMP threads busy-wait for each other, and a net too small to split (MTCNN's
    O-Net on a few 48x48 crops) only pays for that when another thread (a video decoder or
    encoder) keeps the second core busy: in ``facelab swap`` at 720p the re-detection took 12-19
    ms a frame on two threads and 4-8 ms on one. Not for use while other threads run PyTorch work
    (the thread count is global).
    """
    n = torch.get_num_threads()
    if device.type != "cpu" or n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def set_cpu_threads(n: int | None = None) -> None:
    """Use every core for intra-op work unless told otherwise (torch's default can be lower in containers)."""
    if n is None:
        import os

        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))
