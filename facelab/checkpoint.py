"""Self-describing checkpoints, written atomically and read with `weights_only=True`.

A facelab checkpoint is a plain dict of tensors and builtins (no pickled code):

    {"format": "facelab", "version": 1,
     "kind": "cyclegan" | "pix2pix" | ...,
     "nets": {"G_A": {"arch": "resnet_9blocks", "arch_kwargs": {...}, "state_dict": {...}}, ...},
     "optim": {...}, "sched": {...}, "rng": {...},       # training state, for --resume
     "meta": {"epoch": 3, "iteration": 1200, "config": {...}, "facelab": "0.1.0"}}

Official pytorch-CycleGAN-and-pix2pix files are bare state_dicts: `infer_official_arch` tells
which generator one holds. Building the nets is `facelab.nn.factory`'s (`load_generator` reads
both kinds of file); this module knows the file format only, so every layer can use it.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from facelab.errors import InputError, WeightsError

FORMAT = "facelab"
TEMP_SUFFIX = ".tmp"  # atomic_save's temporary files: .NAME.XXXXXXXX.tmp


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over `path`.

    A crash (or kill -9) mid-write leaves the previous checkpoint intact, never a torn file; the
    temporary file it may leave (`.NAME.*.tmp`) is removed by `remove_stale_temps` on resume.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a checkpoint gets a normal file's mode
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temporary files that `atomic_save` leaves when a process is killed mid-write.

    Only names of its own pattern (`.NAME.XXXXXXXX.tmp`) directly in `folder`; call it when no
    other process writes checkpoints there (at the start of a run or a resume). Returns them.
    """
    folder = Path(folder)
    stale = sorted(folder.glob(f".*{TEMP_SUFFIX}")) if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def safe_load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """torch.load with `weights_only=True`, turning every failure into one readable line.

    A pickle that references anything but tensors and plain containers (a class, a function such
    as `os.system`) is refused before any of it runs: WeightsError naming the file and the global.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such checkpoint file")
    if path.stat().st_size == 0:
        raise InputError(path, "checkpoint file is empty")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(
            f"{path}: refused to load: the file holds pickled objects other than tensors and plain data "
            f"({_refusal_reason(exc)}), which could run code when unpickled; only weights-only checkpoints "
            "are accepted (re-save the state_dict from a trusted copy)"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): "
                           f"{_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _refusal_reason(exc: pickle.UnpicklingError) -> str:
    """The line of torch's weights-only message that says what was refused, without its advice to
    retry with `weights_only=False` (exactly what must not be done with an untrusted file)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        m = re.search(r"unsupported (?:GLOBAL|global:?) ?(?:GLOBAL )?([\w.]+)", ln, re.IGNORECASE)
        if m:
            return f"it references {m.group(1)}"
    for ln in lines:
        if not ln.startswith(("Weights only load failed", "Check the documentation")) and "weights_only" not in ln:
            return ln.rstrip(".")
    return "unsupported pickle content"


def net_record(net: nn.Module, arch: str, arch_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """What a checkpoint stores per network: enough to rebuild it without any other file."""
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return {"arch": arch, "arch_kwargs": dict(arch_kwargs), "state_dict": state}


def is_facelab_checkpoint(obj: Any) -> bool:
    return isinstance(obj, Mapping) and obj.get("format") == FORMAT


#: `meta["kind"]` of the detector's checkpoints (facelab.detector.cnn / .landmark_scorer), named
#: here as strings so that this module does not import the detector.
_KIND_NAMES = {"facelab.detector.cnn": ("a deepfake-detector CNN classifier", "facelab detect --weights"),
               "facelab.detector.landmarks": ("a landmark-motion classifier", "facelab detect --landmark-model")}


def describe_checkpoint(obj: Any) -> str:
    """Say what a loaded checkpoint is, for errors about a file given to the wrong command.

    E.g. "a facelab pix2pix checkpoint (G: unet_128; for `facelab translate --weights`)" or
    "a deepfake-detector CNN classifier (tiny; for `facelab detect --weights`)".
    """
    if not isinstance(obj, Mapping):
        return f"a pickled {type(obj).__name__}, not a checkpoint"
    if obj.get("format") == FORMAT:
        nets = obj.get("nets")
        nets = nets if isinstance(nets, Mapping) else {}
        archs = ", ".join(f"{n}: {r.get('arch', '?')}" for n, r in nets.items() if isinstance(r, Mapping))
        kind = obj.get("kind", "unknown")
        use = "facelab swap --model" if kind == "faceswap_ae" else "facelab translate --weights"
        return f"a facelab {kind} checkpoint ({archs + '; ' if archs else ''}for `{use}`)"
    meta = obj.get("meta")
    kind = meta.get("kind") if isinstance(meta, Mapping) else None
    if kind in _KIND_NAMES:
        what, use = _KIND_NAMES[kind]
        arch = obj.get("arch", "?")
        if kind == "facelab.detector.landmarks" and isinstance(obj.get("arch_kwargs"), Mapping):
            arch = obj["arch_kwargs"].get("kind", arch)
        return f"{what} ({arch}; for `{use}`)"
    if kind:
        return f"a checkpoint of kind {kind!r}"
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        guess = infer_official_arch(obj)
        return f"a bare state_dict ({describe_arch(guess)})" if guess else \
            "a bare state_dict without an architecture record"
    return f"a dict with keys {', '.join(map(str, list(obj)[:5]))}, not a facelab checkpoint"


def state_bytes(obj: Any) -> bytes:
    """Serialise to bytes (for hashing or tests)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Official pytorch-CycleGAN-and-pix2pix state_dicts: which generator a file holds.


def describe_arch(arch: Mapping[str, Any]) -> str:
    parts = [str(arch.get("netG", "?"))] + [f"{k}={arch[k]}" for k in ("ngf", "norm") if arch.get(k) is not None]
    if arch.get("use_dropout"):
        parts.append("dropout")
    return " ".join(parts) + " generator"


def infer_official_arch(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    """Guess the generator architecture of an official state_dict from its keys and shapes.

    Returns kwargs for `create_generator` plus `netG`, or None if the keys fit no known generator.
    U-Net dropout leaves no trace in the keys, so the pix2pix default (dropout on) is assumed.
    """
    keys = [k[len("module."):] if k.startswith("module.") else k for k in state_dict]
    sd = {k: v for k, v in zip(keys, state_dict.values())}
    if "model.1.weight" in sd and any(".conv_block." in k for k in keys):
        blocks = {int(m.group(1)) for k in keys if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
        first = sd["model.1.weight"]
        norm = "batch" if "model.2.weight" in sd else "instance" if "model.1.bias" in sd else "none"
        dropout = any(re.match(r"model\.\d+\.conv_block\.6\.weight", k) for k in keys)
        n = len(blocks)
        return {"netG": f"resnet_{n}blocks" if n in (6, 9) else None, "input_nc": first.shape[1],
                "output_nc": sd[max((k for k in keys if re.match(r"model\.\d+\.weight$", k)),
                                    key=lambda k: int(k.split(".")[1]))].shape[0],
                "ngf": first.shape[0], "norm": norm, "use_dropout": dropout} if n in (6, 9) else None
    if "model.model.0.weight" in sd:
        depth = max(k.count("model.") for k in keys) - 1  # nesting level of the innermost block
        num_downs = depth
        first = sd["model.model.0.weight"]
        norm = "batch" if any(k.endswith("running_mean") and "model.model.1" in k for k in keys) else (
            "instance" if "model.model.1.model.1.bias" in sd else "none")
        name = {8: "unet_256", 7: "unet_128"}.get(num_downs)
        if name is None:
            return None
        out_key = "model.model.3.weight"
        return {"netG": name, "input_nc": first.shape[1],
                "output_nc": sd[out_key].shape[1] if out_key in sd else 3,
                "ngf": first.shape[0], "norm": norm, "use_dropout": True}
    return None
