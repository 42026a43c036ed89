"""One-shot swap speed at 1280x720: the 5-point similarity mode against the 68-point expression mode.

    python bench/swap_modes_speed.py --torch-threads 1 --repeat 2 --out /tmp/modes.json

Both modes run `facelab.swap.pipeline.swap_video_file` end to end (decode, MTCNN tracking,
dlib's 68 points and their smoothing for `dlib68`, warp, colour, blend, H.264 encode) on the
same input, taking turns (5pt, dlib68, 5pt, dlib68, ...) so that both see the same load on a
shared machine; the fastest run of each is kept and their ratio reported. Wall-clock frames/s
depend on what else runs; the process's CPU time per frame (`time.process_time`, all its
threads) much less, so both are reported, each with the ratio dlib68 / 5pt. The dlib model is
loaded before timing (as the CLI does once per run). The 1-minute load average is recorded
before and after.

Input (read only, never copied into the repository): the one-face 1280x720 clip of
bench/swap_bench.py: ../shared/data/face_videos/sadtalker_WDA_KatieHill_000.mp4 (512x512, 25 fps,
200 frames) scaled to 720 px high between grey side bars, re-encoded by facelab's VideoWriter
into a temporary folder before any timing. Source face: samples/grace_hopper.jpg.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from benchlib import TALKING, machine, make_clip

from facelab.faces.detect import FaceDetector
from facelab.swap.oneshot import OneShotSource, SwapSettings
from facelab.swap.pipeline import frames_per_second, swap_video_file

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", type=Path, default=TALKING)
    ap.add_argument("--source", type=Path, default=REPO / "samples" / "grace_hopper.jpg")
    ap.add_argument("--frames", type=int, default=None, help="cut the input to this many frames")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--torch-threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="swap_modes_"))
    clip = make_clip(args.input, work / "one720.mp4", (1280, 720), args.frames)
    detector = FaceDetector(device="cpu")
    runs: dict[str, list[float]] = {"5pt": [], "dlib68": []}
    cpu_ms: dict[str, list[float]] = {"5pt": [], "dlib68": []}
    sources = {m: OneShotSource.from_photo(args.source, detector, SwapSettings(landmarks=m)) for m in runs}
    for _ in range(args.repeat):
        for mode in runs:
            settings = SwapSettings(landmarks=mode)
            c0 = time.process_time()
            rec = swap_video_file(sources[mode], clip, work / f"out_{mode}.mp4", detector, settings, overwrite=True)
            cpu_ms[mode].append(round((time.process_time() - c0) / rec.frames_total * 1000, 1))
            runs[mode].append(round(frames_per_second(rec), 2))
            print(mode, runs[mode][-1], "frames/s", cpu_ms[mode][-1], "CPU ms/frame", flush=True)
    best = {m: max(v) for m, v in runs.items()}
    cpu = {m: min(v) for m, v in cpu_ms.items()}
    doc = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "machine": machine(),
           "input": f"{args.input.name} scaled to 1280x720", "frames": args.frames, "runs_fps": runs,
           "best_fps": best, "ratio_dlib68_over_5pt": round(best["dlib68"] / best["5pt"], 3),
           "cpu_ms_per_frame": cpu_ms, "best_cpu_ms_per_frame": cpu,
           "cpu_ratio_dlib68_over_5pt": round(cpu["dlib68"] / cpu["5pt"], 3),
           "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}}
    print(json.dumps(doc, indent=1))
    if args.out is not None:
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


if __name__ == "__main__":
    main()
