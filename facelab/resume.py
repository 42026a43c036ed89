"""What ``--resume`` needs in both training loops (the translators' and the detector's).

    check_run_folder(out, out / "last.pt", cfg.resume)    # a run to continue, or a fresh folder
    record["rng"] = rng_state()                           # into every resumable checkpoint
    set_rng_state(record["rng"])                          # back, when resuming from it
    truncate_jsonl(out / "metrics.jsonl", "epoch", done)  # drop rows the resumed run writes again
    check_batch_size(path, saved, cfg.batch_size, mid_epoch=step > 0)

A checkpoint is written after the log rows of the work it holds, so a run killed in between has
rows the resumed run will write again: both logs are cut back to the checkpoint's place first.
A row torn by a kill -9 mid-write (or blank) is dropped with them. Logs are replaced atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facelab.errors import ConfigError, InputError
from facelab.files import write_text_atomic

__all__ = ["check_batch_size", "check_run_folder", "rng_state", "set_rng_state", "truncate_csv", "truncate_jsonl"]


def check_run_folder(out: Path, checkpoint: Path, resume: bool) -> None:
    """Refuse a resume with nothing to resume, and a new run over an existing one.

    Raises:
        InputError: ``resume`` without ``checkpoint``, or ``checkpoint`` there without ``resume``.
    """
    if resume and not checkpoint.is_file():
        raise InputError(checkpoint, "nothing to resume: no checkpoint at this path")
    if not resume and checkpoint.is_file():
        raise InputError(out, "a run already exists here; pass --resume to continue it or choose another -o")


def check_batch_size(path: Path, saved: int, batch_size: int, *, mid_epoch: bool) -> None:
    """A checkpoint saved mid-epoch resumes by skipping the batches already done: same batch size only.

    Raises:
        ConfigError: ``mid_epoch`` and ``saved`` differs from ``batch_size``.
    """
    if mid_epoch and saved != batch_size:
        raise ConfigError(f"{path} was saved in the middle of an epoch with --batch-size {saved}; resume it with "
                          f"that batch size (change it once an epoch has finished)")


def rng_state() -> dict[str, Any]:
    """The global RNGs (torch, CUDA, Python's ``random``, NumPy's legacy one) as tensors and builtins
    only, so that the checkpoint holding them loads with ``weights_only=True``."""
    np_state = np.random.get_state(legacy=True)
    assert isinstance(np_state, tuple)  # legacy=True: the global MT19937 as ("MT19937", keys, pos, has_gauss, gauss)
    _, keys, pos, has_gauss, gauss = np_state
    version, internal, py_gauss = random.getstate()
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": list(internal), "python_version": version,
                             "python_gauss": py_gauss, "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
                             "numpy_pos": int(pos), "numpy_has_gauss": int(has_gauss), "numpy_gauss": float(gauss)}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved. Older detector checkpoints hold only ``torch`` (and
    ``cuda``): the RNGs they lack are left as they are."""
    torch.set_rng_state(state["torch"])
    if "python" in state:
        random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    if "numpy_keys" in state:
        np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
                             state["numpy_has_gauss"], state["numpy_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def truncate_jsonl(path: Path, key: str, keep_until: float) -> None:
    """Keep the lines of a JSON-lines log whose ``key`` is at most ``keep_until``; drop the rest,
    and every blank, torn or keyless line. A missing file is left missing."""
    if path.is_file():
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if _position(ln, key) <= keep_until]
        write_text_atomic(path, "".join(ln + "\n" for ln in lines), what="log")


def truncate_csv(path: Path, column: str, keep_until: float) -> None:
    """Keep the header and the rows of a CSV log whose ``column`` is a whole number at most
    ``keep_until``; drop the rest and every row of the wrong length (torn)."""
    if not path.is_file():
        return
    with path.open(newline="") as f:
        lines = list(csv.reader(f))
    if not lines:
        return
    col = lines[0].index(column) if column in lines[0] else None
    kept = [lines[0]] + [r for r in lines[1:] if len(r) == len(lines[0])
                         and (col is None or (r[col].isdigit() and int(r[col]) <= keep_until))]
    text = io.StringIO(newline="")
    csv.writer(text).writerows(kept)
    write_text_atomic(path, text.getvalue(), newline="", what="log")


def _position(line: str, key: str) -> float:
    """``key`` of a log line; +inf for a blank, torn or keyless one, which is then dropped."""
    try:
        return float(json.loads(line)[key])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return math.inf
