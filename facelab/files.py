"""Writing output files and folders safely, and values that JSON can hold.

    write_text_atomic("out/report.json", json.dumps(json_safe(record)))   # never a torn file
    make_output_dir("out")                       # OutputError naming what is in the way
    replace_dir(tmp, out, check)                 # a finished folder renamed over the old one

Used by every layer (configs, I/O, reports, data sets), so it imports nothing of facelab's but
:mod:`facelab.errors`.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from facelab.errors import OutputError

__all__ = ["check_output_dir", "folder_problem", "json_safe", "make_output_dir", "make_parent", "replace_dir",
           "write_text_atomic"]

log = logging.getLogger(__name__)


def write_text_atomic(path: str | Path, text: str | Iterable[str], newline: str | None = None,
                      what: str = "file") -> None:
    """Write ``text`` (UTF-8; a string or chunks, streamed) to a temporary file beside ``path``,
    then rename it over ``path``: a kill mid-write never leaves a torn ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    n = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open with 0o666 so the file gets the usual umask permissions (mkstemp: 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            for chunk in [text] if isinstance(text, str) else text:
                n += f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, f"cannot write the {what} ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.debug("wrote %s (%d characters)", path, n)


def replace_dir(tmp: Path, out: Path, check: Callable[[Path], None], what: str = "output") -> None:
    """Rename the finished temporary folder ``tmp`` to ``out``, replacing an existing ``out``.

    ``check(out)`` runs again first when ``out`` exists (it may have appeared while we worked) and
    raises when it must not be replaced. The old folder is moved aside, not deleted, until the new
    one is in place, and is put back when the rename fails.
    """
    old = None
    if out.exists():
        check(out)
        old = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError as exc:
        if old is not None:
            os.replace(old, out)
        raise OutputError(out, f"cannot move the {what} into place ({exc.strerror or exc})") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def check_output_dir(folder: str | Path) -> None:
    """Raise OutputError now, before any work, when output ``folder`` could not be created or
    written: a file is in the way, or its nearest existing folder is not writable. Creates nothing."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(folder, folder_problem(folder))


def make_output_dir(folder: str | Path) -> Path:
    """Create output ``folder`` (and its parents); OutputError naming what is in the way when it fails."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(folder, folder_problem(folder, exc)) from None
    return folder


def make_parent(path: Path) -> None:
    """Create the folder of output ``path``; OutputError naming what is in the way when it fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(path, folder_problem(path.parent, exc)) from None


def folder_problem(folder: Path, exc: OSError | None = None) -> str:
    """Why output ``folder`` cannot be created or written: a file in the way, permissions, ..."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return f"cannot create the folder: {probe} is a file, not a folder"
    if isinstance(exc, PermissionError) or (exc is None and not os.access(probe, os.W_OK | os.X_OK)):
        return f"cannot write in {probe}: permission denied"
    if exc is None:
        return "cannot create the folder"
    return f"cannot create the folder ({' '.join(str(exc).split())})"


def json_safe(obj: Any) -> Any:
    """``obj`` as plain JSON values: non-finite floats -> None, numpy -> Python, paths -> str."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int)):
        return obj
    return str(obj)  # PurePath, enums, anything a settings dict may carry
