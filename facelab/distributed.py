"""Training on several processes with `torchrun` and DistributedDataParallel (DDP).

    torchrun --nproc_per_node 4 -m facelab train pix2pix DATA -o RUN --batch-size 16

torchrun starts one process per device and sets WORLD_SIZE, RANK and LOCAL_RANK; `dist_env()`
reads them, and facelab.translate.trainer does the rest:

- `--batch-size` is the **global** batch: each of the N ranks trains on `batch_size / N` images
  (it must divide), and `DistributedEpochSampler` gives rank r the r-th slice of each global batch
  of the single-process order, so the ranks' batches together are exactly the single-process batch.
- The nets are wrapped in DDP (gradients averaged over ranks at every backward), BatchNorm becomes
  a synchronised BatchNorm (statistics over the global batch: torch's SyncBatchNorm on CUDA,
  `SyncBatchNorm2d` below on the CPU, where torch's refuses to run), and the logged losses are
  the mean over ranks. Together these make a run on N processes compute what one process does on
  the same global batch, up to float rounding in the all-reduce.
- Only rank 0 writes logs, image grids, index.html and checkpoints (of the unwrapped nets, so they
  are the same files a single-process run writes and load without DDP).

Backends: "nccl" on CUDA (one GPU per rank, `cuda:LOCAL_RANK`), "gloo" on the CPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from facelab.data.datasets import EpochSampler
from facelab.errors import ConfigError


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands in a torchrun job (world_size 1: not distributed)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and reports progress."""
        return self.rank == 0


def dist_env() -> DistEnv:
    """The torchrun environment (WORLD_SIZE, RANK, LOCAL_RANK), or a single process when unset."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise ConfigError(f"WORLD_SIZE, RANK and LOCAL_RANK must be integers (as torchrun sets them): {exc}") from None
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"RANK {rank} does not fit WORLD_SIZE {world}; start distributed runs with torchrun")
    return DistEnv(rank=rank, local_rank=local, world_size=world)


def refuse_distributed(what: str) -> None:
    """Raise ConfigError under torchrun with more than one process, for trainers that do not support it."""
    if dist_env().enabled:
        raise ConfigError(f"{what} does not support several processes (WORLD_SIZE={os.environ['WORLD_SIZE']}); "
                          "run it as a single process: without torchrun, or with --nproc_per_node 1")


def init_distributed(env: DistEnv, device: torch.device) -> torch.device:
    """Join the process group (nccl on CUDA, gloo on the CPU); returns this rank's device.

    The rendezvous comes from torchrun's environment (MASTER_ADDR, MASTER_PORT): `env://`.
    """
    if device.type == "cuda":
        if env.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {env.local_rank} but only {torch.cuda.device_count()} CUDA devices; "
                              "use --nproc_per_node <= the number of GPUs")
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=env.rank,
                                world_size=env.world_size)
    return device


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class DistributedEpochSampler(EpochSampler):
    """EpochSampler split over ranks: rank r gets the r-th slice of every global batch.

    The single-process order (the same permutation, the same keys, so the same per-item
    augmentation) is cut into global batches of `batch_size`; each rank yields its
    `batch_size / world_size` consecutive keys of each. An incomplete last global batch is
    dropped, as the single-process loader drops it. `skip` (mid-epoch resume) counts global items.
    """

    def __init__(self, n: int, seed: int, batch_size: int, rank: int, world_size: int,
                 shuffle: bool = True) -> None:
        if batch_size % world_size:
            raise ConfigError(f"--batch-size {batch_size} (the global batch) does not split evenly over "
                              f"{world_size} processes; use a multiple of {world_size}")
        super().__init__(n, seed, shuffle)
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.per_rank = batch_size // world_size

    def __len__(self) -> int:
        return (self.n // self.batch_size) * self.per_rank

    def __iter__(self) -> Iterator[int]:
        keys = list(super().__iter__())
        mine: list[int] = []
        for start in range(0, len(keys) - self.batch_size + 1, self.batch_size):
            first = start + self.rank * self.per_rank
            mine += keys[first:first + self.per_rank]
        return iter(mine)


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks, differentiable: the gradient of a sum over ranks is the sum over ranks of the gradients."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        g = grad.clone()
        dist.all_reduce(g)
        return g


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """`x` summed over all ranks, with autograd through the sum."""
    return _AllReduceSum.apply(x)


class SyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d with statistics over the global batch of all ranks, on any device.

    torch.nn.SyncBatchNorm runs on GPUs only; this one uses differentiable all-reduces
    (`all_reduce_sum`), two passes (mean, then the mean squared deviation) as BatchNorm
    computes them. Same parameters and buffers as BatchNorm2d, so state dicts are interchangeable.
    Outside training, or without a process group, it is a plain BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        count = x.numel() // c * dist.get_world_size()  # ranks have equal batches (DistributedEpochSampler)
        mean = all_reduce_sum(x.sum((0, 2, 3))) / count
        centred = x - mean.view(1, c, 1, 1)
        var = all_reduce_sum((centred * centred).sum((0, 2, 3))) / count
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                assert self.num_batches_tracked is not None
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * count / max(count - 1, 1), alpha=m)
        y = centred * torch.rsqrt(var + self.eps).view(1, c, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        return y


def convert_sync_batchnorm(net: nn.Module, device: torch.device) -> nn.Module:
    """BatchNorm -> synchronised BatchNorm, keeping the same Parameter objects (optimisers stay valid)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(net)
    if type(net) is nn.BatchNorm2d:
        sync = SyncBatchNorm2d(net.num_features, net.eps, net.momentum, net.affine, net.track_running_stats)
        if net.affine:
            sync.weight, sync.bias = net.weight, net.bias
        sync.running_mean, sync.running_var = net.running_mean, net.running_var
        sync.num_batches_tracked = net.num_batches_tracked
        sync.train(net.training)
        return sync
    for name, child in net.named_children():
        new = convert_sync_batchnorm(child, device)
        if new is not child:
            setattr(net, name, new)
    return net


def wrap_ddp(net: nn.Module, device: torch.device) -> nn.Module:
    """DDP around `net`; construction broadcasts rank 0's parameters and buffers, so all ranks start equal.

    broadcast_buffers=False: the only buffers are BatchNorm's running statistics, which the
    synchronised BatchNorm keeps equal on every rank; a broadcast at each forward would also
    rewrite them in place between the several forwards of one GAN step.
    """
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None,
                                   broadcast_buffers=False)


def mean_over_ranks(losses: dict[str, float], stop: bool, device: torch.device) -> tuple[dict[str, float], bool]:
    """Losses averaged over ranks, and whether any rank was asked to stop, in one all-reduce.

    Every rank then sees the same numbers and stops at the same iteration (a SIGINT/SIGTERM may
    reach the ranks at different moments), so no rank waits in a collective the others skip.
    """
    names = list(losses)
    t = torch.tensor([losses[k] for k in names] + [1.0 if stop else 0.0], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    world = dist.get_world_size()
    values = t.tolist()
    return {k: v / world for k, v in zip(names, values)}, values[-1] > 0


def gather_objects(obj: Any) -> list[Any]:
    """`obj` of every rank, in rank order, on every rank (small objects: RNG states)."""
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
