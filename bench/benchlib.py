"""Small helpers shared by the benchmark modules of `bench/run_all.py` (issue 5).

Timing, the machine record, test inputs made in a temporary folder, and Markdown tables. Inputs
are read from `../shared/data` and `samples/` and never copied into the repository.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch
from PIL import Image

from facelab import __version__
from facelab.io.video import VideoReader, VideoWriter, probe_video

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data"
CLIP_1080 = SHARED / "face_videos" / "facenet_pytorch_video.mp4"  # 1920x1080, 25 fps, 105 frames
TALKING = SHARED / "face_videos" / "sadtalker_WDA_KatieHill_000.mp4"  # 512x512, 25 fps, 200 frames, one face
PHOTOS = sorted((REPO / "samples").glob("*.jpg"))


def machine() -> dict[str, Any]:
    """CPU model, cores, library versions and thread settings of this process."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    cuda = torch.cuda.is_available()
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "usable_cores": usable,
            "gpu": torch.cuda.get_device_name(0) if cuda else None,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "opencv": cv2.__version__,
            "pyav": av.__version__, "libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
            "numpy": np.__version__, "facelab": __version__, "python": platform.python_version(),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """(fastest wall time in seconds, that run's return value) over `repeat` runs."""
    best: tuple[float, Any] | None = None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        if best is None or dt < best[0]:
            best = (dt, out)
    assert best is not None
    return best


def matmul_peak(n: int = 2048, repeat: int = 5, device: str | torch.device = "cpu") -> dict[str, Any]:
    """float32 GFLOP/s of one `torch.mm` of two n x n matrices on `device` (best of `repeat`).

    The roof the convolutions are measured against: same process, same thread count. (On CUDA,
    TF32 follows torch.backends.cuda.matmul.allow_tf32, off by default.)
    """
    device = torch.device(device)
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)

    def mm() -> None:
        torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize()

    mm()  # first call: allocation, thread pool start
    dt, _ = best_of(mm, repeat)
    return {"n": n, "device": str(device), "seconds": round(dt, 5), "gflops": round(2 * n ** 3 / dt / 1e9, 1)}


def matmul_roof(sizes: Sequence[int], repeat: int, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The best of :func:`matmul_peak` over several sizes (a shared machine makes any one noisy)."""
    runs = [matmul_peak(n, repeat, device) for n in sizes]
    best = max(runs, key=lambda r: r["gflops"])
    return {**best, "runs": runs}


def photos(size: int, count: int, folder: Path) -> list[Path]:
    """`count` JPEGs (quality 95) of `size` x `size`: centre crops of the sample photos, cycled."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        src = Image.open(PHOTOS[i % len(PHOTOS)]).convert("RGB")
        s = min(src.size)
        left, top = (src.width - s) // 2, (src.height - s) // 2
        img = src.crop((left, top, left + s, top + s)).resize((size, size), Image.BICUBIC)
        if i >= len(PHOTOS):  # not the very same pixels twice (a flip is enough)
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        path = folder / f"{i:04d}.jpg"
        img.save(path, quality=95)
        out.append(path)
    return out


def make_clip(src: Path, dst: Path, size: tuple[int, int] | None = None, frames: int | None = None,
              loops: int = 1, audio: bool = False) -> Path:
    """Re-encode `src` with facelab's VideoWriter: resized (INTER_AREA), cut to `frames`, played `loops` times.

    `audio`: copy `src`'s audio streams (meant for one uncut loop: the audio is not cut or repeated).

    When the aspect ratio differs, the frame is scaled to the target height and centred between
    grey side bars (pillarbox; bicubic when it grows), as a broadcast shows a 4:3 or square picture.
    """
    info = probe_video(src)
    size = size or (info.width, info.height)
    with VideoWriter(dst, info.fps, size, audio_from=src if audio else None, overwrite=True) as writer:
        for _ in range(loops):
            with VideoReader(src) as reader:
                for i, frame in reader.frames_with_index():
                    if frames is not None and i >= frames:
                        break
                    if (frame.shape[1], frame.shape[0]) != size:
                        frame = _fit(frame, size)
                    writer.write(frame)
    return dst


def _fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    fh, fw = frame.shape[:2]
    if abs(fw / fh - w / h) < 0.01:
        return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if fw > w else cv2.INTER_CUBIC)
    nw = min(w, round(fw * h / fh))
    inner = cv2.resize(frame, (nw, h), interpolation=cv2.INTER_AREA if fh > h else cv2.INTER_CUBIC)
    out = np.full((h, w, 3), 64, np.uint8)
    x0 = (w - nw) // 2
    out[:, x0:x0 + nw] = inner
    return out


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A Markdown table; `align` like "lrr" (l: left, r: right) per column."""
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "|".join(sep) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return "-" if v is None else str(v)


def profile_top(fn: Callable[[], Any], n: int = 10) -> str:
    """cProfile `fn()` and return the `n` functions with the most time of their own (tottime), as text."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.runcall(fn)
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(n)
    lines = buf.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(lines[start:start + n + 1])


def run_alone(run: Callable[[Any, Path], dict[str, Any]], args: Any, name: str) -> None:
    """A benchmark module's own main(): threads, a temporary folder, the table, the JSON.

    ``run(args, tmp)`` is what bench/run_all.py calls too; it returns a dict with "markdown".
    """
    import json
    import tempfile

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix=f"facelab-bench-{name}-") as tmp:
        res = run(args, Path(tmp))
    print(res["markdown"])
    if args.out:
        args.out.write_text(json.dumps({"machine": machine(), **res}, indent=1) + "\n")
