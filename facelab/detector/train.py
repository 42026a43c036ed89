"""Train the real/fake classifier on a face-crop data set made by ``facelab fakes``.

    run_dir = train_detector(DetectorTrainConfig(dataset="data/fakes", out="runs/detector"))

Reads top to bottom: 1. data and its checks, 2. device and model, 3. optimiser and schedule,
4. resume, 5. epochs of training steps, each followed by validation, threshold calibration and
checkpoints. Outputs in ``cfg.out``::

    config.json     the resolved config
    metrics.jsonl   one line per epoch: train loss, val loss, ROC-AUC, AP, EER, accuracy, threshold
    best.pt         the epoch with the best val ROC-AUC (ties: lower val loss); load_classifier
    last.pt         the latest epoch, plus optimiser / schedule / RNG state for --resume

Defaults, and why:

- AdamW, lr 3e-4, weight decay 0.01 (not on biases and norm weights), a short linear warm-up and
  cosine decay to 0 per step: the usual recipe for fine-tuning ImageNet EfficientNets; the
  warm-up keeps the random one-logit head's first gradients from scrambling the pretrained
  features. Batch 32 fits the 224 px crops of Lite0 on any GPU.
- Class balance: fakes usually outnumber reals (several manipulations per real frame), so each
  epoch draws crops with replacement with probability 1 / (count of their class): the net sees
  50/50 batches and no ``pos_weight`` is needed.
- Augmentations (train split only): a detector that keys on one JPEG quality or one resolution
  fails on re-encoded uploads, so JPEG quality 30-100, Gaussian blur, noise, downscaling, colour
  jitter and horizontal flips; no geometric warps (the crop is aligned, and blending seams at
  fixed places are exactly the evidence).
- Threshold: the equal-error-rate point on validation (false-positive rate = miss rate). Unlike
  0.5 it does not depend on the training class ratio or calibration of the logits, and it makes
  neither kind of error cheaper; it is stored in the checkpoint with the metrics.

Augmentations depend only on (seed, epoch, position in epoch, item), so runs are reproducible
with any number of workers, and a resumed run retraces the uninterrupted one exactly (on the
CPU): a crash or kill -9 resumes at the start of the epoch after the last completed one;
SIGINT / SIGTERM stop after the current step, save ``last.pt`` mid-epoch (with the step, the
running loss and the RNG state) and raise TrainingInterrupted, and ``--resume`` continues
with the next batch. Every file is replaced atomically; each epoch's ``metrics.jsonl`` line is
written before its ``last.pt``, so a run killed in between repeats that epoch and its line once.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from facelab import __version__
from facelab.checkpoint import atomic_save, remove_stale_temps
from facelab.data.datasets import item_rng, seed_worker
from facelab.detector.cnn import checkpoint_record, classifier_info, create_classifier, normalize, read_checkpoint
from facelab.detector.crops import CropSpec
from facelab.detector.dataset import CropRow, read_dataset_info, read_manifest
from facelab.detector.metrics import compute_metrics, family_metrics
from facelab.detector.online import DatasetFakes, OnlineFakes, ValFakes, check_families
from facelab.detector.online import augmentations as online_augmentations
from facelab.detector.realfaces import RealFaces, build_real_cache
from facelab.detector.rerender import run_renderer
from facelab.device import amp_dtype, autocast, grad_scaler, resolve_device
from facelab.distributed import refuse_distributed
from facelab.errors import ConfigError, InputError, TrainingInterrupted, WeightsError
from facelab.files import write_text_atomic
from facelab.interrupt import StopOnSignal
from facelab.io import make_output_dir
from facelab.io.image import read_image
from facelab.resume import check_batch_size, check_run_folder, rng_state, set_rng_state, truncate_jsonl

__all__ = ["CropDataset", "CropSampler", "DetectorTrainConfig", "augmentations", "freeze_stages", "parse_mix",
           "train_detector", "validation_indices"]

log = logging.getLogger(__name__)

StepCallback = Callable[[dict[str, Any]], None]
FramesCallback = Callable[[int, int | None], None]


@dataclass(frozen=True)
class DetectorTrainConfig:
    """Everything a detector training run depends on (saved as ``config.json``).

    Attributes:
        out: run folder to create (or to continue with ``resume``).
        dataset: data set folder of ``facelab fakes`` (``manifest.csv``, ``dataset.json``,
            ``crops/``); with ``real``, its fake crops are the ``dataset`` family: trained on
            with the share ``fakes`` gives it, and scored in validation (its val split) always.
        real: real media (videos, photos, folders, ``facelab extract`` outputs) to train on with
            fakes made online from them (:mod:`facelab.detector.online`); instead of ``dataset``.
        real_cache: folder of the aligned real crops (:mod:`facelab.detector.realfaces`), made
            once and reused; default ``<out>/reals``.
        crop_size: crop side in pixels with ``real`` (margin 0.3 as every detector crop).
        fakes: with ``real``: the fake families and their shares, ``family:weight,...``
            (:data:`facelab.detector.selfblend.FAMILIES`).
        renderer_steps: with ``real`` and the ``rerender`` family: steps of training the face
            renderer (:mod:`facelab.detector.rerender`) before the detector, saved as
            ``<out>/renderer.pt`` and reused on resume.
        group_power: with ``real``: each crop is drawn with weight ``n ** -group_power``, ``n``
            the crops of its group (a video or a photo folder): 0 draws every crop alike, 1 every
            group alike; in between, the many photos of many people weigh more against the
            hundreds of frames of one video.
        freeze: leading stages of the backbone kept at their ImageNet weights (efficientnet_lite0:
            1 = the stem, 2 = stem and first block, ...), so fine-tuning cannot forget them.
        arch: classifier architecture (:func:`~facelab.detector.cnn.list_classifiers`).
        pretrained: start from the architecture's bundled ImageNet weights.
        epochs: passes over the train split (each of ``len(train)`` drawn crops).
        batch_size: crops per step.
        lr: AdamW peak learning rate.
        weight_decay: AdamW decoupled weight decay (biases and norm weights are exempt).
        warmup_steps: linear warm-up steps (at most 10% of all steps), then cosine decay to 0.
        workers: DataLoader worker processes (0: load in the main process).
        seed: seeds the weights of the head, the sampling order and every augmentation.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision; None = on for CUDA (bf16, or fp16 with a GradScaler), off on the CPU.
        balance: draw real and fake crops equally often (sampling with replacement).
        augment: the deepfake-relevant augmentations on train crops.
        max_steps_per_epoch: cut every epoch short (smoke runs, very large data sets).
        resume: continue the run in ``out`` from its ``last.pt``.
    """

    out: str
    dataset: str | None = None
    real: tuple[str, ...] = ()
    real_cache: str | None = None
    crop_size: int = 128
    fakes: str = "sbi:0.5,swap:0.5"
    renderer_steps: int = 1500
    group_power: float = 0.0
    freeze: int = 0
    arch: str = "efficientnet_lite0"
    pretrained: bool = True
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 100
    workers: int = 0
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None
    balance: bool = True
    augment: bool = True
    max_steps_per_epoch: int | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        classifier_info(self.arch)  # ConfigError naming the choices
        if self.dataset is None and not self.real:
            raise ConfigError("give a data set made by `facelab fakes`, --real media, or both")
        if self.real:
            object.__setattr__(self, "real", tuple(str(p) for p in self.real))
            try:
                mix = check_families(parse_mix(self.fakes))
            except ValueError as exc:
                raise ConfigError(f"--fakes {self.fakes!r}: {exc}") from None
            if "dataset" in mix and self.dataset is None:
                raise ConfigError(f"--fakes {self.fakes!r}: the dataset family takes the fakes of a data set made by "
                                  "`facelab fakes`; give its folder as DATASET")
        if self.crop_size < 32 or self.freeze < 0:
            raise ConfigError("crop_size must be at least 32 and freeze at least 0")
        if self.renderer_steps < 1 or not 0.0 <= self.group_power <= 1.0:
            raise ConfigError("renderer_steps must be at least 1 and group_power in [0, 1]")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0 or min(self.weight_decay, self.warmup_steps, self.workers, self.seed) < 0:
            raise ConfigError("lr must be > 0; weight decay, warm-up steps, workers and seed must be >= 0")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            raise ConfigError(f"max_steps_per_epoch must be at least 1, got {self.max_steps_per_epoch}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        """Write atomically: ``--resume`` reads it back, and a kill mid-write must not tear it."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")


def parse_mix(text: str) -> dict[str, float]:
    """``"sbi:0.6,swap:0.4"`` (a bare name weighs 1) -> ``{"sbi": 0.6, "swap": 0.4}``; ValueError when malformed."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition(":")
        try:
            mix[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"{part!r} is not family:weight") from None
    return mix


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def augmentations() -> A.Compose:
    """The train-time pipeline on uint8 ``(S, S, 3)`` RGB crops (size unchanged).

    Photometric and resolution changes first, JPEG last: uploads are resized and filtered
    before the final re-encode, so compression artefacts sit on top of everything else.
    """
    return A.Compose([
        A.HorizontalFlip(p=0.5),
        A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.03, p=0.5),
        A.GaussianBlur(blur_limit=(3, 7), p=0.15),
        A.Downscale(scale_range=(0.4, 0.9), p=0.2),
        A.GaussNoise(std_range=(0.01, 0.05), p=0.15),
        A.ImageCompression(quality_range=(30, 100), p=0.5),
    ])


class CropDataset(Dataset):
    """Face crops of one split as ``(uint8 (S, S, 3) tensor, float label)``.

    ``keyed=True``: indexed by :class:`CropSampler` keys, each item's augmentation drawn from
    ``(seed, key)`` only; otherwise keys are plain indices (validation).
    """

    def __init__(self, root: str | Path, rows: Sequence[CropRow], size: int, transform: A.Compose | None = None,
                 seed: int = 0, keyed: bool = False) -> None:
        self.root, self.rows, self.size, self.transform = Path(root), list(rows), size, transform
        self.seed, self.keyed = seed, keyed

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: int) -> tuple[torch.Tensor, float]:
        index, rng = item_rng(self.seed, key, len(self.rows)) if self.keyed else (int(key), None)
        row = self.rows[index]
        path = self.root / row.path
        img = read_image(path)
        if img.shape != (self.size, self.size, 3):
            raise InputError(path, f"is {img.shape[1]}x{img.shape[0]}, but the data set's crops are "
                                   f"{self.size}x{self.size} (dataset.json)")
        if self.transform is not None and rng is not None:
            self.transform.set_random_seed(int(rng.integers(2**31 - 1)))
            img = self.transform(image=img)["image"]
        return torch.from_numpy(np.ascontiguousarray(img)), float(row.y)


class CropSampler(Sampler[int]):
    """``n`` draws per epoch, shuffled, class-balanced or by given ``weights``, fixed by ``(seed, epoch)``.

    Yields keys ``(epoch * n + position) * n + index``: :func:`facelab.data.datasets.item_rng`
    splits them into the item ``index`` and a generator for ``(seed, epoch, position, index)``,
    so an item drawn twice in a balanced epoch gets two different augmentations.
    """

    def __init__(self, labels: Sequence[int], seed: int = 0, balance: bool = True,
                 weights: np.ndarray | None = None) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        self.n, self.seed, self.epoch, self.skip = len(self.labels), seed, 0, 0
        self.balance = balance or weights is not None
        if weights is None:
            counts = np.bincount(self.labels, minlength=2).astype(np.float64)
            weights = 1.0 / counts[self.labels]
        self.weights = torch.from_numpy(np.asarray(weights, dtype=np.float64))

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Draw epoch ``epoch``'s order, leaving out its first ``skip`` keys (a mid-epoch resume)."""
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return self.n - self.skip

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        if self.balance:
            order = torch.multinomial(self.weights, self.n, replacement=True, generator=g).tolist()
        else:
            order = torch.randperm(self.n, generator=g).tolist()
        base = self.epoch * self.n
        return iter([(base + pos) * self.n + i for pos, i in enumerate(order)][self.skip:])


def _split(root: Path, rows: list[CropRow]) -> tuple[list[CropRow], list[CropRow]]:
    """Train and val rows, with the checks that make a run meaningful."""
    train = [r for r in rows if r.split == "train"]
    val = [r for r in rows if r.split == "val"]
    manifest = root / "manifest.csv"
    if not train:
        raise InputError(manifest, "no rows in the train split")
    if not val:
        raise InputError(manifest, "no rows in the val split; the best checkpoint and the threshold are chosen on "
                                   "validation (make the data set with a validation share)")
    for label in ("real", "fake"):
        if not any(r.label == label for r in train):
            raise InputError(manifest, f"the train split has no {label} crops; the classifier needs both classes")
    if len({r.label for r in val}) < 2:
        log.warning("the val split has only %s crops: ROC-AUC and EER are undefined, threshold stays 0.5",
                    val[0].label)
    return train, val


@dataclass
class _Data:
    """What the loop needs from either kind of input."""

    train: CropDataset | OnlineFakes
    sampler: CropSampler
    val: CropDataset | ValFakes
    spec: CropSpec
    pairs: bool  # items are (real, fake) pairs
    source: str  # for the checkpoint's meta
    describe: str  # for the log


def _dataset_data(cfg: DetectorTrainConfig) -> _Data:
    """A `facelab fakes` data set: its crops, class-balanced, and its val split."""
    root = Path(str(cfg.dataset))
    rows = read_manifest(root)
    info = read_dataset_info(root)
    if "crop" not in info:
        raise InputError(root / "dataset.json", "has no 'crop' entry (size, margin) saying how the crops were made")
    spec = CropSpec.from_dict(info["crop"])
    train_rows, val_rows = _split(root, rows)
    train_set = CropDataset(root, train_rows, spec.size, augmentations() if cfg.augment else None, cfg.seed,
                            keyed=True)
    describe = (f"train: {len(train_rows)} crops ({sum(r.y == 0 for r in train_rows)} real, "
                f"{sum(r.y == 1 for r in train_rows)} fake, balance={cfg.balance}); val: {len(val_rows)} crops")
    return _Data(train_set, CropSampler([r.y for r in train_rows], cfg.seed, cfg.balance),
                 CropDataset(root, val_rows, spec.size), spec, False, str(root), describe)


def validation_indices(faces: RealFaces, limit: int = 1000) -> np.ndarray:
    """The val split's crops a run validates on: all, or ``limit`` evenly spread (every frame of a
    val video adds little)."""
    val_idx = faces.indices("val")
    if val_idx.size > limit:
        val_idx = val_idx[np.linspace(0, val_idx.size - 1, limit).round().astype(np.int64)]
    return val_idx


def _real_data(cfg: DetectorTrainConfig, on_frames: FramesCallback | None = None) -> _Data:
    """Real media: the cached real crops, each drawn with a fresh fake; val reals of unseen groups."""
    spec = CropSpec(cfg.crop_size, 0.3)
    cache = Path(cfg.real_cache) if cfg.real_cache else Path(cfg.out) / "reals"
    faces = build_real_cache(cfg.real, cache, spec, seed=cfg.seed, device=cfg.device, on_frames=on_frames)
    train_idx, val_idx = faces.indices("train"), validation_indices(faces)
    if train_idx.size == 0 or val_idx.size == 0:
        raise InputError(cache, f"{train_idx.size} train and {val_idx.size} val crops; the real media need faces "
                                "from at least two videos or photo folders")
    mix = check_families(parse_mix(cfg.fakes))
    extra_train, extra_val = _dataset_fakes(cfg, spec) if cfg.dataset is not None else (None, None)
    if "dataset" in mix and extra_train is None:
        raise InputError(Path(str(cfg.dataset)) / "manifest.csv", "no fake crops in the train split for --fakes dataset")
    train_sorted = np.sort(train_idx)
    renderer = (run_renderer(Path(cfg.out) / "renderer.pt", faces.crops[train_sorted], faces.group[train_sorted],
                             steps=cfg.renderer_steps, seed=cfg.seed) if "rerender" in mix else None)
    train = OnlineFakes(faces, train_idx, mix, cfg.seed, online_augmentations() if cfg.augment else None, renderer,
                        extra_train)
    val = ValFakes(faces, val_idx, cfg.seed, renderer=renderer, extra=extra_val)
    describe = (f"train: {train_idx.size} real crops of {len(set(faces.group[train_idx]))} groups, each with a fresh "
                f"fake ({', '.join(f'{k} {v:.2f}' for k, v in mix.items())}); val: {val_idx.size} real crops of "
                f"{len(set(faces.group[val_idx]))} unseen groups and one fake of each of {', '.join(val.families)}")
    groups = faces.group[train_idx]
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    weights = counts[inverse].astype(np.float64) ** -cfg.group_power
    return _Data(train, CropSampler([0] * train_idx.size, cfg.seed, balance=False,
                                    weights=weights if cfg.group_power > 0 else None),
                 val, spec, True, str(cache), describe)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def _dataset_fakes(cfg: DetectorTrainConfig, spec: CropSpec) -> tuple[DatasetFakes | None, DatasetFakes]:
    """The fake crops of ``cfg.dataset`` beside real media: (train split or None, val split)."""
    root = Path(str(cfg.dataset))
    info = read_dataset_info(root)
    crop = CropSpec.from_dict(info["crop"]) if "crop" in info else None
    if crop is None or crop.margin != spec.margin or crop.size < spec.size:
        raise InputError(root / "dataset.json", f"its crops ({info.get('crop')}) do not fit the run's "
                                                f"(margin {spec.margin}, size at least {spec.size})")
    rows = [r for r in read_manifest(root) if r.y == 1]
    train = [r.path for r in rows if r.split == "train"]
    val = [r.path for r in rows if r.split == "val"]
    if not val:
        raise InputError(root / "manifest.csv", "no fake crops in the val split, which validation scores")
    return (DatasetFakes(root, train, spec.size) if train else None), DatasetFakes(root, val, spec.size)


def _warmup_cosine(total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return factor


def _param_groups(net: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No decay on biases and norm scales (1-D tensors): decaying them only hurts calibration."""
    decay = [p for p in net.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in net.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


@torch.inference_mode()
def _validate(net: torch.nn.Module, loader: DataLoader, device: torch.device, dtype: torch.dtype | None,
              mean: Sequence[float], std: Sequence[float]) -> tuple[np.ndarray, np.ndarray, float, np.ndarray | None]:
    """(labels (n,), fake probabilities (n,), mean BCE loss, fake family per item or None) over the val loader."""
    net.eval()
    ys, logits, fams = [], [], []
    for batch in loader:
        x, y = batch[0], batch[1]
        x = normalize(x.to(device, non_blocking=True), mean, std).contiguous(memory_format=torch.channels_last)
        with autocast(device, dtype):
            logits.append(net(x).float().cpu())
        ys.append(torch.as_tensor(y).float())
        if len(batch) > 2:
            fams.append(torch.as_tensor(batch[2]))
    lg, yt = torch.cat(logits), torch.cat(ys)
    loss = float(torch.nn.functional.binary_cross_entropy_with_logits(lg, yt))
    fam = torch.cat(fams).numpy() if fams else None
    return yt.numpy().astype(np.int64), torch.sigmoid(lg).numpy(), loss, fam


def freeze_stages(net: torch.nn.Module, arch: str, stages: int) -> list[torch.nn.Module]:
    """Freeze the first ``stages`` stages of the backbone (weights and BatchNorm statistics).

    efficientnet_lite0: stage 1 is the stem (``conv_stem``, ``bn1``), stage ``k`` adds
    ``blocks[k - 2]``. Returns the frozen modules, which the caller keeps in eval mode.
    """
    if stages == 0:
        return []
    if arch != "efficientnet_lite0":
        raise ConfigError(f"--freeze is implemented for efficientnet_lite0, not {arch}")
    from timm.models.efficientnet import EfficientNet

    body = getattr(net, "net", None)  # LogitNet's timm model
    if not isinstance(body, EfficientNet):
        raise ConfigError(f"--freeze expects efficientnet_lite0 as timm's EfficientNet, not {type(body).__name__}")
    modules: list[torch.nn.Module] = [body.conv_stem, body.bn1] + list(body.blocks[: max(0, stages - 1)])
    if stages - 1 > len(body.blocks):
        raise ConfigError(f"--freeze {stages}: efficientnet_lite0 has {1 + len(body.blocks)} stages")
    for m in modules:
        for prm in m.parameters():
            prm.requires_grad_(False)
    return modules


def _is_better(auc: float | None, loss: float, best: dict[str, Any] | None) -> bool:
    if best is None:
        return True
    a, b = (-math.inf if auc is None else auc), (-math.inf if best["auc"] is None else best["auc"])
    return a > b or (a == b and loss < best["loss"])


def _check_resumable(state: dict[str, Any], path: Path, cfg: DetectorTrainConfig) -> dict[str, Any]:
    """The ``train`` record of a ``last.pt``, or WeightsError saying why it cannot be resumed."""
    if state["arch"] != cfg.arch:
        raise ConfigError(f"{path} is a {state['arch']} run; resume it with --arch {state['arch']}")
    tr = state.get("train")
    need = ("optim", "sched", "scaler", "rng", "iteration", "best")
    if not isinstance(tr, dict) or any(k not in tr for k in need):
        raise WeightsError(f"{path}: a detector classifier without training state (a best.pt copied over it?); "
                           "--resume needs the last.pt that `facelab train detector` writes")
    return tr


def train_detector(cfg: DetectorTrainConfig, on_step: StepCallback | None = None,
                   on_frames: FramesCallback | None = None) -> Path:
    """Train the classifier of ``cfg`` and return the run folder (see the module docstring).

    ``on_step`` receives ``{"epoch", "iteration", "total", "losses": {"loss"}}`` after every
    step, the shape of :func:`facelab.translate.trainer.train`'s, so the CLI's progress bar
    works for both. ``on_frames(n, total)`` follows the real-face cache while it is built
    (``real`` only; :func:`~facelab.detector.realfaces.build_real_cache`).

    Raises:
        InputError: a missing or unusable data set (no val split, one class in train), a run
            already in ``out`` without ``resume`` or nothing to resume.
        ConfigError: bad settings, or a loss that became non-finite.
        WeightsError: a ``last.pt`` that cannot be resumed (unsafe, corrupt, another architecture).
        TrainingInterrupted: SIGINT or SIGTERM; ``last.pt`` holds the state after the last step.
    """
    refuse_distributed("facelab train detector")  # single-process only (torchrun: see facelab.distributed)
    out = Path(cfg.out)
    last = out / "last.pt"
    check_run_folder(out, last, cfg.resume)
    if cfg.resume:
        for stale in remove_stale_temps(out):
            log.info("removed %s, left by a run killed while writing it", stale)

    fresh = not cfg.resume and not (out.is_dir() and any(out.iterdir()))  # this call makes the run folder
    # 1. data
    try:
        data = _real_data(cfg, on_frames) if cfg.real else _dataset_data(cfg)
    except Exception:  # e.g. too few sources for a val split: no half-made run (nor its face cache) left behind
        if fresh:
            shutil.rmtree(out, ignore_errors=True)
        raise
    spec = data.spec
    loader_gen = torch.Generator()
    loader_gen.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    pin = device.type == "cuda"
    per_item = 2 if data.pairs else 1  # a real-mode item is a (real, fake) pair
    batch_items = max(1, cfg.batch_size // per_item)
    sampler = data.sampler
    loader = DataLoader(data.train, batch_size=batch_items, sampler=sampler, num_workers=cfg.workers,
                        pin_memory=pin, drop_last=len(data.train) >= batch_items, worker_init_fn=seed_worker,
                        generator=loader_gen, persistent_workers=cfg.workers > 0)
    val_loader = DataLoader(data.val, batch_size=cfg.batch_size, shuffle=False, num_workers=cfg.workers, pin_memory=pin)
    steps = min(len(loader), cfg.max_steps_per_epoch or len(loader))
    total = cfg.epochs * steps
    log.info("%s; %d steps per epoch", data.describe, steps)

    # 2. device and model
    torch.manual_seed(cfg.seed)
    arch = classifier_info(cfg.arch)
    net = create_classifier(cfg.arch, pretrained=cfg.pretrained and not cfg.resume).to(device)
    # NHWC convolutions: faster under autocast on CUDA, and 1.5-2x faster training on the CPU (oneDNN)
    net = net.to(memory_format=torch.channels_last)
    frozen = freeze_stages(net, cfg.arch, cfg.freeze)
    dtype = amp_dtype(device, cfg.amp)
    scaler = grad_scaler(device, dtype)

    # 3. optimiser and schedule (stepped per iteration)
    opt = torch.optim.AdamW(_param_groups(net, cfg.weight_decay), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup_cosine(total, min(cfg.warmup_steps, total // 10)))
    loss_fn = torch.nn.BCEWithLogitsLoss()

    # 4. resume
    start_epoch, iteration, best = 0, 0, None
    start_step, run_loss0, n_seen0 = 0, 0.0, 0  # a mid-epoch checkpoint's place in its epoch
    last_eval: dict[str, Any] = {"threshold": 0.5}  # the latest epoch's threshold and metrics, for last.pt
    if cfg.resume:
        state = read_checkpoint(last)
        tr = _check_resumable(state, last, cfg)
        try:
            net.load_state_dict(state["state_dict"])
            opt.load_state_dict(tr["optim"])
            sched.load_state_dict(tr["sched"])
            scaler.load_state_dict(tr["scaler"])
            set_rng_state(tr["rng"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WeightsError(f"{last}: does not fit a {cfg.arch} run with these settings ({why})") from None
        start_epoch, iteration, best = int(state["meta"]["epoch"]), int(tr["iteration"]), tr["best"]
        start_step, run_loss0, n_seen0 = int(tr.get("step", 0)), float(tr.get("run_loss", 0.0)), int(tr.get("n_seen", 0))
        check_batch_size(last, state["meta"].get("config", {}).get("batch_size", cfg.batch_size), cfg.batch_size,
                         mid_epoch=start_step > 0)
        last_eval = {k: state["meta"][k] for k in ("threshold", "metrics") if k in state["meta"]}
        log.info("resumed %s after epoch %d, step %d (iteration %d)", last, start_epoch, start_step, iteration)
    make_output_dir(out)
    cfg.save(out / "config.json")
    jsonl = out / "metrics.jsonl"
    if cfg.resume:
        truncate_jsonl(jsonl, "epoch", start_epoch)
    elif jsonl.exists():
        jsonl.unlink()
    base_meta = {"crop": spec.to_dict(), "mean": list(arch.mean), "std": list(arch.std),
                 "config": replace(cfg, resume=False).to_dict(), "weights": arch.weights if cfg.pretrained else None,
                 "dataset": data.source, "facelab": __version__}

    def train_record(epoch_meta: dict[str, Any], step: int, run_loss: float, n_seen: int) -> dict[str, Any]:
        """best.pt's record plus what --resume needs; ``step`` > 0: saved mid-epoch, after that many steps."""
        record = checkpoint_record(net, cfg.arch, {}, epoch_meta)
        record["train"] = {"optim": opt.state_dict(), "sched": sched.state_dict(), "scaler": scaler.state_dict(),
                           "rng": rng_state(), "iteration": iteration, "best": best, "step": step,
                           "run_loss": run_loss, "n_seen": n_seen}
        return record

    # SIGINT / SIGTERM: finish the current step, save last.pt, stop
    stopper = StopOnSignal("saving last.pt and stopping after this step").install()
    try:
        # 5. epochs: train, validate, calibrate, checkpoint
        t0 = time.perf_counter()
        for epoch in range(start_epoch, cfg.epochs):
            net.train()
            for module in frozen:  # frozen stages keep their ImageNet BatchNorm statistics too
                module.eval()
            first = start_step if epoch == start_epoch else 0  # mid-epoch resume: the batches left
            sampler.set_epoch(epoch, skip=first * batch_items)
            run_loss, n_seen = (run_loss0, n_seen0) if epoch == start_epoch else (0.0, 0)
            for step, (x, y) in enumerate(loader, start=first):
                if step >= steps:
                    break
                if data.pairs:  # (B, 2, S, S, 3) pairs -> 2B images, each face beside its fake
                    x, y = x.flatten(0, 1), y.flatten(0, 1)
                x = normalize(x.to(device, non_blocking=True), arch.mean, arch.std)
                x = x.contiguous(memory_format=torch.channels_last)
                y = y.to(device, non_blocking=True).float()
                with autocast(device, dtype):
                    logits = net(x)
                loss = loss_fn(logits.float(), y)  # the loss in float32 whatever the autocast dtype
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                sched.step()
                iteration += 1
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise ConfigError(f"the loss became non-finite at iteration {iteration}; "
                                      "try a lower --lr or --no-amp")
                run_loss, n_seen = run_loss + value * len(y), n_seen + len(y)
                if on_step is not None:
                    on_step({"epoch": epoch + 1, "iteration": iteration, "total": total, "losses": {"loss": value}})
                if stopper.requested and step + 1 < steps:  # mid-epoch: save where it is (the end of an epoch saves anyway)
                    atomic_save(train_record({**base_meta, **last_eval, "epoch": epoch, "iteration": iteration},
                                             step + 1, run_loss, n_seen), last)
                    raise TrainingInterrupted(last, iteration)

            y_val, p_val, val_loss, fam = _validate(net, val_loader, device, dtype, arch.mean, arch.std)
            metrics = compute_metrics(y_val, p_val)
            metrics.update(val_loss=val_loss, train_loss=run_loss / max(1, n_seen))
            select = metrics["roc_auc"]
            if fam is not None:  # real mode: every family scored against the unseen reals
                metrics.update(family_metrics(y_val, p_val, fam))
                aucs = [v for v in metrics["family_auc"].values() if v is not None]
                select = float(np.mean(aucs)) if aucs else None
            threshold = metrics["threshold"]  # the EER threshold (0.5 when val has one class)
            improved = _is_better(select, val_loss, best)
            if improved:
                best = {"auc": select, "loss": val_loss, "epoch": epoch + 1}
            last_eval = {"threshold": threshold, "metrics": metrics}
            meta = {**base_meta, **last_eval, "epoch": epoch + 1, "iteration": iteration}
            # the log line first: killed before last.pt, the resumed run drops it and does the epoch again
            line = {"epoch": epoch + 1, "iteration": iteration, "lr": opt.param_groups[0]["lr"],
                    "time": round(time.perf_counter() - t0, 3), "best": improved,
                    **{k: v for k, v in metrics.items() if k != "confusion"}, **metrics["confusion"]}
            with jsonl.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
            if improved:
                atomic_save(checkpoint_record(net, cfg.arch, {}, meta), out / "best.pt")
            atomic_save(train_record(meta, 0, 0.0, 0), last)
            log.info("epoch %d: train loss %.4f, val loss %.4f, AUC %s, EER %s, threshold %.3f%s", epoch + 1,
                     line["train_loss"], val_loss, metrics["roc_auc"], metrics["eer"], threshold,
                     " (best)" if improved else "")
            if stopper.requested and epoch + 1 < cfg.epochs:
                raise TrainingInterrupted(last, iteration)
    except Exception:
        if fresh and not last.is_file():  # failed before anything resumable: leave no half-made run
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        stopper.restore()
    return out
