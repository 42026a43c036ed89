"""Helpers of the damaged-video tests: ffmpeg's own frame count, and byte-level damage.

The reference decoder is the ffmpeg binary of ``imageio-ffmpeg`` (test extra):
``ffmpeg -i F -map 0:v:0 -f null -`` decodes every frame it can, concealing or skipping damage,
as ``ffprobe -count_frames`` does.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np


def ffmpeg_frames(path: Path) -> int:
    """Frames ffmpeg's decoder gets out of ``path`` (0 when it cannot open it)."""
    import imageio_ffmpeg

    out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "quiet", "-nostats", "-i", str(path),
                          "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "null", "-", "-progress", "pipe:1"],
                         capture_output=True, text=True, timeout=120)
    counts = re.findall(r"^frame=(\d+)$", out.stdout, flags=re.M)
    return int(counts[-1]) if counts else 0


def naive_frames(path: Path) -> int:
    """Frames a plain PyAV decode loop gets before its first error (facelab's reader before issue 15)."""
    import av

    n = 0
    try:
        with av.open(str(path)) as c:
            for _ in c.decode(c.streams.video[0]):
                n += 1
    except av.error.FFmpegError:
        pass
    return n


def patch_bytes(src: Path, dst: Path, at: float, patches: int = 20, size: int = 200, spacing: int = 300,
                seed: int = 1) -> Path:
    """``patches`` runs of ``size`` random bytes, ``spacing`` apart, from ``at`` (share of the file) on."""
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(seed)
    start = int(len(data) * at)
    for k in range(patches):
        off = start + k * spacing
        data[off:off + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def edit_bytes(src: Path, dst: Path, op: str, at: float, length: int, seed: int = 0) -> Path:
    """Damage as it happens: ``overwrite`` a byte range with random bytes, ``delete`` it, or
    ``duplicate`` it in place (a stuttering copy)."""
    data = src.read_bytes()
    start = min(int(len(data) * at), len(data) - 1)
    end = min(len(data), start + length)
    if op == "overwrite":
        junk = np.random.default_rng(seed).integers(0, 256, end - start, dtype=np.uint8).tobytes()
        out = data[:start] + junk + data[end:]
    elif op == "delete":
        out = data[:start] + data[end:]
    elif op == "duplicate":
        out = data[:end] + data[start:end] + data[end:]
    else:
        raise ValueError(op)
    dst.write_bytes(out)
    return dst
