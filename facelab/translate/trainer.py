"""One flat training loop for Pix2Pix, CycleGAN and the face-swap autoencoder.

    run_dir = train(cfg, on_step=callback)

Reads top to bottom: 1. seed and device, 2. data, 3. model, 4. resume, 5. epochs of steps with
logging, image grids and checkpoints, 6. the final checkpoint. Outputs in `cfg.out`:

    config.json             the resolved config
    log.jsonl, log.csv      one row of losses per logged iteration
    images/                 grids of real/fake/reconstructed images every `display_every` iterations
    index.html              the grids, newest epoch first
    checkpoints/latest.pt   full training state (nets, optimisers, schedulers, pools, RNG, counters)
    checkpoints/epoch_N.pt  the same every `save_epoch_every` epochs
    final.pt                generators only, for `facelab translate --weights`

Under `torchrun --nproc_per_node N -m facelab train ...` the same loop runs on N processes with
DistributedDataParallel (facelab.distributed): `batch_size` stays the global batch, each rank
trains on its slice, and only rank 0 writes the files above.
"""

from __future__ import annotations

import csv
import html
import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from torch.utils.data import DataLoader

from facelab import __version__
from facelab.checkpoint import FORMAT, atomic_save, describe_checkpoint, net_record, remove_stale_temps, safe_load
from facelab.config import Pix2PixConfig, TrainLoopConfig, TranslatorConfig
from facelab.data.datasets import AlignedDataset, EpochSampler, Preprocess, UnalignedDataset, seed_worker
from facelab.device import amp_dtype, grad_scaler, resolve_device
from facelab.distributed import (
    DistEnv,
    DistributedEpochSampler,
    barrier,
    convert_sync_batchnorm,
    dist_env,
    gather_objects,
    init_distributed,
    mean_over_ranks,
    shutdown_distributed,
    wrap_ddp,
)
from facelab.errors import ConfigError, InputError, TrainingInterrupted, WeightsError
from facelab.interrupt import StopOnSignal
from facelab.io import make_output_dir
from facelab.io.image import tensor_to_image, write_image
from facelab.resume import check_batch_size, check_run_folder, rng_state, set_rng_state, truncate_csv, truncate_jsonl
from facelab.translate.cyclegan import CycleGAN
from facelab.translate.faceswap_ae import FaceSwapAE
from facelab.translate.pix2pix import Pix2Pix

log = logging.getLogger(__name__)

LR_POLICIES = ("linear", "step", "cosine", "plateau")
StepCallback = Callable[[dict[str, Any]], None]


class TrainModel(Protocol):
    """What the loop needs of a model: its nets and optimisers, one training step, and its state.

    CycleGAN, Pix2Pix and FaceSwapAE have this shape; another model needs these members and an
    entry in `MODELS`. `nets` are the plain modules (checkpoints, visuals); a model that trains
    under torchrun also has `train_nets`, the modules its `train_step` runs (DDP wrappers there).
    """

    nets: dict[str, nn.Module]

    @property
    def kind(self) -> str: ...  # the checkpoint's "kind" and `cfg.model`

    @property
    def arch(self) -> Mapping[str, tuple[str, Mapping[str, Any]]]: ...  # net name -> (arch, arch_kwargs)

    @property
    def optimizers(self) -> Mapping[str, torch.optim.Optimizer]: ...

    @property
    def scaler(self) -> torch.amp.GradScaler: ...

    @property
    def visuals(self) -> Mapping[str, torch.Tensor]: ...  # images of the last step, for the grids

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]: ...

    def pool_state(self) -> dict[str, Any]: ...

    def load_pool_state(self, state: dict[str, Any]) -> None: ...


#: cfg.model -> the model's class, called as cls(cfg, device, amp_dtype, scaler).
MODELS: dict[str, Callable[..., TrainModel]] = {"cyclegan": CycleGAN, "pix2pix": Pix2Pix, "faceswap_ae": FaceSwapAE}


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainLoopConfig) -> LRScheduler:
    """The official `get_scheduler`, stepped once per epoch.

    linear: constant lr for `n_epochs`, then linear decay to zero over `n_epochs_decay`;
    step: x0.1 every `lr_decay_iters` epochs; cosine: cosine annealing over `n_epochs`.
    """
    if cfg.lr_policy == "linear":
        def rule(epoch: int) -> float:  # epoch counts from 0 here; the official epoch_count starts at 1
            return 1.0 - max(0, epoch + 1 - cfg.n_epochs) / float(cfg.n_epochs_decay + 1)

        return torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=rule)
    if cfg.lr_policy == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_decay_iters, gamma=0.1)
    if cfg.lr_policy == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.n_epochs, eta_min=0)
    if cfg.lr_policy == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.2, threshold=0.01, patience=5)
    raise ConfigError(f"unknown lr policy {cfg.lr_policy!r}; choose one of {', '.join(LR_POLICIES)}")


def build_model(cfg: TranslatorConfig, device: torch.device) -> TrainModel:
    dtype = amp_dtype(device, cfg.amp)
    cls = MODELS.get(cfg.model)
    if cls is None:
        raise ConfigError(f"unknown model {cfg.model!r}; choose {', '.join(MODELS)}")
    return cls(cfg, device, dtype, grad_scaler(device, dtype))


def build_dataset(cfg: TranslatorConfig) -> AlignedDataset | UnalignedDataset:
    pre = Preprocess(cfg.preprocess, cfg.load_size, cfg.crop_size, cfg.flip, cfg.augment)
    if isinstance(cfg, Pix2PixConfig):
        return AlignedDataset(cfg.dataroot, pre, cfg.direction, max_items=cfg.max_dataset_size)
    ds = UnalignedDataset(cfg.dataroot, pre, max_items=cfg.max_dataset_size, root_b=cfg.dataroot_b)
    if cfg.direction == "BtoA":
        ds.a_paths, ds.b_paths = ds.b_paths, ds.a_paths
    return ds


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def training_state(model: TrainModel, scheds: Mapping[str, LRScheduler], cfg: TranslatorConfig, epoch: int,
                   iteration: int) -> dict[str, Any]:
    """Everything `--resume` needs. Under torchrun this is rank 0's view (the nets, optimisers and
    schedulers are equal on every rank; the image pools are rank 0's) plus `rng_ranks`, added by train()."""
    return {
        "format": FORMAT, "version": 1, "kind": model.kind,
        "nets": {name: net_record(net, *model.arch[name]) for name, net in model.nets.items()},
        "optim": {k: o.state_dict() for k, o in model.optimizers.items()},
        "sched": {k: s.state_dict() for k, s in scheds.items()},
        "scaler": model.scaler.state_dict(),
        "pools": model.pool_state(),
        "rng": rng_state(),
        "meta": {"epoch": epoch, "iteration": iteration, "config": json.loads(cfg.to_json()), "facelab": __version__},
    }


def inference_export(model: TrainModel, cfg: TranslatorConfig, epoch: int, iteration: int) -> dict[str, Any]:
    """Generators only: what `facelab translate --weights` needs, a fraction of the size."""
    gens = {n: net_record(net, *model.arch[n]) for n, net in model.nets.items() if n.startswith("G")}
    return {"format": FORMAT, "version": 1, "kind": model.kind, "nets": gens,
            "meta": {"epoch": epoch, "iteration": iteration, "config": json.loads(cfg.to_json()),
                     "facelab": __version__, "direction": cfg.direction}}


def save_grid(visuals: Mapping[str, torch.Tensor], path: Path) -> None:
    """One row per image of the batch (at most 4), one column per visual."""
    rows = []
    for i in range(min(4, next(iter(visuals.values())).shape[0])):
        rows.append(np.concatenate([tensor_to_image(v[i].detach().float().cpu()) for v in visuals.values()], 1))
    write_image(path, np.concatenate(rows, 0), overwrite=True)


def write_html(out: Path, entries: list[tuple[int, int, str]], names: list[str]) -> None:
    """index.html: the latest grid of each epoch, newest first (columns: `names`)."""
    parts = [f"<!doctype html><meta charset='utf-8'><title>facelab training: {html.escape(out.name)}</title>",
             "<style>body{font-family:sans-serif}img{max-width:100%;image-rendering:pixelated}</style>",
             f"<h1>{html.escape(out.name)}</h1><p>columns: {html.escape(', '.join(names))}</p>"]
    for epoch, it, rel in sorted(entries, reverse=True):
        parts.append(f"<h3>epoch {epoch}, iteration {it}</h3><img src='{html.escape(rel)}'>")
    tmp = out / ".index.html.tmp"
    tmp.write_text("\n".join(parts))
    tmp.replace(out / "index.html")


class _Logger:
    """Losses to log.jsonl and log.csv (header from the first row).

    On resume, rows logged after the checkpoint (`keep_until`) are dropped first: those
    iterations run again, and their rows would otherwise appear twice.
    """

    def __init__(self, out: Path, append: bool, keep_until: int = 0) -> None:
        self.csv_path = out / "log.csv"
        if append:  # the rows of the iterations after the checkpoint, which run again
            truncate_jsonl(out / "log.jsonl", "iteration", keep_until)
            truncate_csv(self.csv_path, "iteration", keep_until)
        self.jsonl = (out / "log.jsonl").open("a" if append else "w")
        self.csv_file = self.csv_path.open("a" if append else "w", newline="")
        self.writer: csv.DictWriter | None = None
        self.append = append and self.csv_path.stat().st_size > 0

    def write(self, row: dict[str, Any]) -> None:
        self.jsonl.write(json.dumps(row) + "\n")
        self.jsonl.flush()
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=list(row), extrasaction="ignore")
            if not self.append:
                self.writer.writeheader()
        self.writer.writerow(row)
        self.csv_file.flush()

    def close(self) -> None:
        self.jsonl.close()
        self.csv_file.close()


def restore_training_state(state: Any, path: Path, model: TrainModel,
                           scheds: Mapping[str, LRScheduler]) -> None:
    """Load a `training_state` into the model, optimisers and schedulers, or say why it does not fit.

    Raises:
        WeightsError: not a training checkpoint (e.g. a final.pt, a detector's), a run of another
            model, or nets whose recorded architecture differs from the one the options build.
    """
    needed = ("nets", "optim", "sched", "scaler", "rng", "meta")
    if not isinstance(state, dict) or state.get("format") != FORMAT or any(k not in state for k in needed):
        raise WeightsError(f"{path}: {describe_checkpoint(state)}, not a training checkpoint with optimiser state; "
                           "--resume needs the checkpoints/latest.pt that `facelab train` writes")
    if state.get("kind") != model.kind:
        raise WeightsError(f"{path}: a {state.get('kind')} run, but this command trains {model.kind}; "
                           f"resume it with `facelab train {state.get('kind')}`")
    for name, net in model.nets.items():
        record = state["nets"].get(name)
        if record is None:
            raise WeightsError(f"{path}: has no network {name!r} (it has {', '.join(state['nets'])})")
        arch, kwargs = model.arch[name]
        if (record.get("arch"), dict(record.get("arch_kwargs", {}))) != (arch, dict(kwargs)):
            raise WeightsError(f"{path}: {name} was trained as {record.get('arch')} {record.get('arch_kwargs')}, "
                               f"but the options build {arch} {dict(kwargs)}; leave out the options that change "
                               "the architecture (--resume reuses the run's config.json)")
        try:
            net.load_state_dict(record["state_dict"])
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise WeightsError(f"{path}: {name}'s weights do not fit {arch} ({first})") from None
    try:
        for k, o in model.optimizers.items():
            o.load_state_dict(state["optim"][k])
        for k, s in scheds.items():
            s.load_state_dict(state["sched"][k])
        model.scaler.load_state_dict(state["scaler"])
        model.load_pool_state(state.get("pools", {}))
        set_rng_state(state["rng"])
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise WeightsError(f"{path}: optimiser, schedule or RNG state does not fit this run "
                           f"({type(exc).__name__}: {exc}); was it written by another facelab version?") from None


def setup_distributed(cfg: TranslatorConfig, model: TrainModel, env: DistEnv, device: torch.device) -> None:
    """Synchronised BatchNorm and DDP wrappers in `model.train_nets`; `model.nets` stay the plain modules
    (checkpoints, visuals). Then a per-rank RNG stream, so dropout and the image pools differ between ranks."""
    train_nets: dict[str, nn.Module] | None = getattr(model, "train_nets", None)
    if train_nets is None:
        raise ConfigError(f"{cfg.model} does not support several processes yet; train it as a single process "
                          "(without torchrun), or use the cyclegan swap model")
    for name in list(model.nets):
        model.nets[name] = convert_sync_batchnorm(model.nets[name], device)
        train_nets[name] = wrap_ddp(model.nets[name], device)
    seed_everything(cfg.seed + env.rank, cfg.deterministic)


def train(cfg: TranslatorConfig, on_step: StepCallback | None = None) -> Path:
    """Train `cfg.model` on `cfg.dataroot`, writing everything to `cfg.out`; returns the run folder.

    `on_step` receives {"epoch", "iteration", "total", "losses", "it_per_s"} after every iteration
    (the CLI draws its progress bar from it); under torchrun, on rank 0 only, with the losses
    averaged over ranks. SIGINT/SIGTERM save `latest.pt` (and `final.pt`) after the current
    iteration, then raise TrainingInterrupted (a KeyboardInterrupt) naming it.
    Checkpoints are written atomically; a resume removes the temporary files a kill -9 left.
    """
    out = Path(cfg.out)
    ckpt_dir = out / "checkpoints"
    check_run_folder(out, ckpt_dir / "latest.pt", cfg.resume)
    env = dist_env()
    if cfg.resume and env.is_main:
        for stale in remove_stale_temps(ckpt_dir) + remove_stale_temps(out):
            log.info("removed %s, left by a run killed while writing it", stale)

    # 1. seed and device (under torchrun: join the process group, one device per rank)
    seed_everything(cfg.seed, cfg.deterministic)
    device = resolve_device(cfg.device)
    if env.enabled:
        device = init_distributed(env, device)
        barrier()  # every rank has checked the run folder before rank 0 starts writing to it
    try:
        return _train(cfg, on_step, env, device)
    finally:
        if env.enabled:
            shutdown_distributed()


@dataclass
class _Progress:
    """Where a run is: what its checkpoints record and `--resume` restores."""

    epoch: int = 0  # epochs finished
    iteration: int = 0  # steps done in all
    epoch_iter: int = 0  # steps done in the current epoch
    html: list[tuple[int, int, str]] = field(default_factory=list)  # index.html: (epoch, iteration, grid) per epoch


def _train(cfg: TranslatorConfig, on_step: StepCallback | None, env: DistEnv, device: torch.device) -> Path:
    out = Path(cfg.out)
    latest = out / "checkpoints" / "latest.pt"
    main = env.is_main

    # 2. data, 3. model, optimisers, schedulers
    loader, sampler = _data(cfg, env, device)
    model, scheds = _model(cfg, env, device)
    n_epochs_total = cfg.n_epochs + cfg.n_epochs_decay
    total = min(n_epochs_total * len(loader), cfg.max_steps or n_epochs_total * len(loader))

    # 4. resume; under torchrun only rank 0 writes the run folder
    pos = _resume(cfg, latest, model, scheds, env, device) if cfg.resume else _Progress()
    fresh = not cfg.resume and not (out.is_dir() and any(out.iterdir()))  # this call makes the run folder
    logger: _Logger | None = None
    if main:
        make_output_dir(out)
        (out / "images").mkdir(exist_ok=True)
        cfg.save(out / "config.json")
        logger = _Logger(out, append=cfg.resume, keep_until=pos.iteration)
    report = _Report(cfg, out, logger, on_step if main else None, total, pos.iteration)

    # stopper.requested: a signal asked this process to stop; agreed: the ranks agreed on it after a
    # step. Under torchrun the loop obeys only "agreed", since a signal may land on one rank after the
    # all-reduce
    stopper = StopOnSignal("saving a checkpoint and stopping after this iteration").install()
    agreed = False

    def halted() -> bool:
        return agreed if env.enabled else stopper.requested

    def checkpoint(path: Path = latest) -> None:
        _checkpoint(path, model, scheds, cfg, pos, env)

    # 5. the loop (an epoch interrupted mid-way resumes with only the batches it had left)
    losses: dict[str, float] = {}
    try:
        while pos.epoch < n_epochs_total and pos.iteration < total and not halted():
            for net in model.nets.values():
                net.train()
            sampler.set_epoch(pos.epoch, skip=pos.epoch_iter * cfg.batch_size)  # mid-epoch resume: the batches left
            for batch in loader:
                if pos.epoch_iter >= len(loader):
                    break
                losses = model.train_step(batch)
                if env.enabled:  # the mean over ranks = the loss on the global batch; a stop on one rank stops all
                    losses, agreed = mean_over_ranks(losses, stopper.requested, device)
                pos.iteration, pos.epoch_iter = pos.iteration + 1, pos.epoch_iter + 1
                report.step(model, pos, losses)
                if pos.iteration % cfg.save_latest_every == 0:
                    checkpoint()
                if pos.iteration >= total or halted():
                    break
            if pos.epoch_iter < len(loader):  # stopped mid-epoch
                break
            for s in scheds.values():  # the epoch ran to its end
                if isinstance(s, ReduceLROnPlateau):
                    s.step(sum(losses.values()))
                else:
                    s.step()
            pos.epoch, pos.epoch_iter = pos.epoch + 1, 0
            if pos.epoch % cfg.save_epoch_every == 0:
                checkpoint(latest.parent / f"epoch_{pos.epoch}.pt")
            checkpoint()
        # 6. final state: full checkpoint for --resume, generators alone for translate
        checkpoint()
        if main:
            atomic_save(inference_export(model, cfg, pos.epoch, pos.iteration), out / "final.pt")
    except Exception:
        if main and fresh and not latest.is_file():  # failed before anything resumable: leave no half-made run
            if logger is not None:
                logger.close()
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        if logger is not None:
            logger.close()
        stopper.restore()
    if halted():
        raise TrainingInterrupted(latest, pos.iteration)
    return out


def _data(cfg: TranslatorConfig, env: DistEnv, device: torch.device) -> tuple[DataLoader, EpochSampler]:
    """The data set and its loader; under torchrun each rank loads its slice of every global batch."""
    dataset = build_dataset(cfg)
    dataset.seed = cfg.seed  # augmentations drawn from (seed, epoch, index): see EpochSampler
    sampler = (DistributedEpochSampler(len(dataset), cfg.seed, cfg.batch_size, env.rank, env.world_size)
               if env.enabled else EpochSampler(len(dataset), cfg.seed))
    per_rank = cfg.batch_size // env.world_size
    # its own generator: starting a DataLoader iterator must not draw from the global RNG, whose
    # state is checkpointed (dropout, pools) and has to continue unchanged across a resume
    loader_gen = torch.Generator()
    loader_gen.manual_seed(cfg.seed)
    loader = DataLoader(dataset, batch_size=per_rank, sampler=sampler, num_workers=cfg.workers,
                        pin_memory=device.type == "cuda", drop_last=len(dataset) >= cfg.batch_size or env.enabled,
                        worker_init_fn=seed_worker, generator=loader_gen, persistent_workers=cfg.workers > 0)
    if len(loader) == 0:
        raise InputError(cfg.dataroot, f"fewer images than one batch of {cfg.batch_size}"
                         + (" (the global batch, split over the processes)" if env.enabled else ""))
    return loader, sampler


def _model(cfg: TranslatorConfig, env: DistEnv, device: torch.device) -> tuple[TrainModel, dict[str, LRScheduler]]:
    """The model with its optimisers (under torchrun: DDP-wrapped), and a schedule per optimiser."""
    model = build_model(cfg, device)
    generator = "G" if "G" in model.nets else "G_A"
    multiple = getattr(model.nets[generator], "multiple", 1)
    if cfg.preprocess != "none" and cfg.crop_size % multiple:
        log.warning("crop size %d is not a multiple of %d, which %s needs: every batch is padded, wasting "
                    "compute; use --crop-size %d or a resnet generator", cfg.crop_size, multiple,
                    model.arch[generator][0], -(-cfg.crop_size // multiple) * multiple)
    if env.enabled:
        setup_distributed(cfg, model, env, device)
    return model, {k: make_scheduler(o, cfg) for k, o in model.optimizers.items()}


def _resume(cfg: TranslatorConfig, latest: Path, model: TrainModel, scheds: dict[str, LRScheduler], env: DistEnv,
            device: torch.device) -> _Progress:
    """Load `latest` into the model, optimisers, schedulers and RNGs; where the run continues."""
    state = safe_load(latest, map_location=device)
    restore_training_state(state, latest, model, scheds)
    meta = state["meta"]
    check_batch_size(latest, meta.get("config", {}).get("batch_size", cfg.batch_size), cfg.batch_size,
                     mid_epoch=bool(meta.get("epoch_iter", 0)))
    if env.enabled:  # each rank continues its own RNG stream when the world size is unchanged
        ranks_rng = state.get("rng_ranks")
        if isinstance(ranks_rng, list) and len(ranks_rng) == env.world_size:
            set_rng_state(ranks_rng[env.rank])
        else:
            seed_everything(cfg.seed + env.rank + 1_000_003 * meta["iteration"], cfg.deterministic)
    log.info("resumed %s at epoch %d, iteration %d", latest, meta["epoch"], meta["iteration"])
    return _Progress(epoch=meta["epoch"], iteration=meta["iteration"], epoch_iter=meta.get("epoch_iter", 0),
                     html=[(int(e), int(i), str(rel)) for e, i, rel in meta.get("html", [])])


def _checkpoint(path: Path, model: TrainModel, scheds: dict[str, LRScheduler], cfg: TranslatorConfig, pos: _Progress,
                env: DistEnv) -> None:
    """Called by every rank at the same iterations; rank 0 writes, the others wait for it."""
    ranks_rng = gather_objects(rng_state()) if env.enabled else None
    if env.is_main:
        state = training_state(model, scheds, cfg, pos.epoch, pos.iteration)
        state["meta"].update(epoch_iter=pos.epoch_iter, html=[list(e) for e in pos.html])
        if ranks_rng is not None:
            state["rng_ranks"] = ranks_rng
        atomic_save(state, path)
    barrier()  # nobody runs ahead (or resumes) before the checkpoint is on disk


class _Report:
    """After every step: the losses checked, and on rank 0 the log row, the image grid with
    index.html, and the progress callback (`logger` and `on_step` are None on the other ranks)."""

    def __init__(self, cfg: TranslatorConfig, out: Path, logger: _Logger | None, on_step: StepCallback | None,
                 total: int, iteration: int) -> None:
        self.cfg, self.out, self.logger, self.on_step, self.total = cfg, out, logger, on_step, total
        self.t0 = self.last_t = time.perf_counter()
        self.last_it = iteration

    def step(self, model: TrainModel, pos: _Progress, losses: dict[str, float]) -> None:
        cfg, it, epoch = self.cfg, pos.iteration, pos.epoch + 1
        now = time.perf_counter()
        it_s = (it - self.last_it) / max(now - self.last_t, 1e-9)
        if any(not math.isfinite(v) for v in losses.values()):
            raise ConfigError(f"losses became non-finite at iteration {it}: {losses}; try a lower --lr or --no-amp")
        if self.logger is not None and (it % cfg.print_every == 0 or it == self.total):
            lr = model.optimizers["G"].param_groups[0]["lr"]
            self.logger.write({"epoch": epoch, "iteration": it, "lr": lr, "time": round(now - self.t0, 3),
                               **{k: round(v, 6) for k, v in losses.items()}})
        if self.logger is not None and (it % cfg.display_every == 0 or it == self.total):
            rel = f"images/iter_{it:07d}.jpg"
            save_grid(model.visuals, self.out / rel)
            pos.html = [e for e in pos.html if e[0] != epoch] + [(epoch, it, rel)]
            write_html(self.out, pos.html, list(model.visuals))
        if self.on_step is not None:
            self.on_step({"epoch": epoch, "iteration": it, "total": self.total, "losses": losses, "it_per_s": it_s})
        self.last_t, self.last_it = now, it
