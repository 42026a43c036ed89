"""Self-describing checkpoints, written atomically and read with `weights_only=True`.

A facelab checkpoint is a plain dict of tensors and builtins (no pickled code):

    {"format": "facelab", "version": 1,
     "kind": "cyclegan" | "pix2pix" | ...,
     "nets": {"G_A": {"arch": "resnet_9blocks", "arch_kwargs": {...}, "state_dict": {...}}, ...},
     "optim": {...}, "sched": {...}, "rng": {...},       # training state, for --resume
     "meta": {"epoch": 3, "iteration": 1200, "config": {...}, "facelab": "0.1.0"}}

Official pytorch-CycleGAN-and-pix2pix files are bare state_dicts; `load_generator` reads both.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from facelab.errors import InputError, WeightsError
from facelab.nn.factory import create_generator, describe_arch, infer_official_arch, load_official_state_dict

FORMAT = "facelab"


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over `path`.

    A crash (or kill -9) mid-write leaves the previous checkpoint intact, never a torn file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safe_load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """torch.load with `weights_only=True`, turning every failure into one readable line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such checkpoint file")
    if path.stat().st_size == 0:
        raise InputError(path, "checkpoint file is empty")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(
            f"{path}: refused to load: the file contains objects other than tensors and plain data "
            f"(it could run code when unpickled); only weights-only checkpoints are accepted ({first})"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): "
                           f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from exc


def net_record(net: nn.Module, arch: str, arch_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """What a checkpoint stores per network: enough to rebuild it without any other file."""
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return {"arch": arch, "arch_kwargs": dict(arch_kwargs), "state_dict": state}


def is_facelab_checkpoint(obj: Any) -> bool:
    return isinstance(obj, Mapping) and obj.get("format") == FORMAT


def build_net(record: Mapping[str, Any], source: str = "checkpoint") -> nn.Module:
    """Rebuild a generator from a `net_record`."""
    net = create_generator(record["arch"], **record["arch_kwargs"])
    return load_official_state_dict(net, record["state_dict"], source)


def load_generator(path: str | Path, *, net_name: str | None = None,
                   arch: Mapping[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Load one generator from a facelab checkpoint or an official state_dict.

    `net_name` picks the net in a facelab checkpoint (e.g. "G_A", "G_B", "G"); `arch` describes
    an official file (`{"netG": "resnet_9blocks", "ngf": 64, "norm": "instance", ...}`); without
    it the architecture is inferred from the keys. Returns the net (CPU, float32) and an info dict
    with `arch`, `arch_kwargs`, `kind`, `source`.
    """
    obj = safe_load(path)
    if is_facelab_checkpoint(obj):
        nets = obj["nets"]
        gens = [k for k in nets if k.startswith("G")]
        name = net_name or ("G" if "G" in nets else "G_A" if "G_A" in nets else (gens[0] if gens else None))
        if name not in nets:
            raise WeightsError(f"{path}: checkpoint has no network {name!r}; it has {', '.join(nets)}")
        record = nets[name]
        net = build_net(record, str(path))
        info = {"arch": record["arch"], "arch_kwargs": dict(record["arch_kwargs"]), "kind": obj.get("kind"),
                "net": name, "source": str(path), "meta": obj.get("meta", {})}
        return net, info
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: not a facelab checkpoint nor an official state_dict of tensors")
    spec = dict(arch) if arch is not None else infer_official_arch(obj)
    if spec is None or spec.get("netG") is None:
        raise WeightsError(f"{path}: cannot tell which generator these weights are for; "
                           "pass --model NAME (see `facelab weights list`) so the architecture is known")
    kwargs = {k: spec[k] for k in ("input_nc", "output_nc", "ngf", "norm", "use_dropout") if k in spec}
    net = create_generator(spec["netG"], **kwargs)
    load_official_state_dict(net, obj, str(path))
    return net, {"arch": spec["netG"], "arch_kwargs": kwargs, "kind": "official", "net": "G",
                 "source": str(path), "meta": {}, "description": describe_arch(spec)}


def state_bytes(obj: Any) -> bytes:
    """Serialise to bytes (for hashing or tests)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()
