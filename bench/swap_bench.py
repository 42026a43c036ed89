"""How fast is one-shot face swap on the CPU, and where does the time go?

    python bench/swap_bench.py --out /tmp/swap_bench.json
    python bench/swap_bench.py --torch-threads 1 --detect-every 10 --largest

For each input size (640x360 and 1280x720) this runs the video swap twice:

1. **staged**: the loop of `facelab.swap.pipeline.swap_video_file`, written out here with
   `time.perf_counter()` around each stage and the very same library calls
   (`prefetch(VideoReader.frames_with_index())`, `FaceTracker.update`, `Selection.pick`,
   `align_face`, `OneShotSource.face_for`, `paste_face`, `BackgroundWriter(VideoWriter).write` /
   `close`). Stages: decode (waiting for the decoder thread) | detect (the full MTCNN and O-Net
   re-detection, each timed by a thin wrapper around the detector, plus the tracker's optical
   flow, matching and smoothing) | align (the target's similarity and its
   256x256 crop) | translate (for one-shot the source crop is fetched: a Python attribute read,
   near zero; a learned swap runs its generator here) | blend (`paste_face`: colour transfer,
   warping crop and mask back, alpha or Poisson blend) | encode (queueing a frame for the
   encoder thread, waiting when 4 are queued, and the final flush) |
   other (sidecar bookkeeping and the loop itself: the total minus the stages).
2. **end to end**: `swap_video_file` itself, timed by its own record (`record.seconds`).

Their frames per second are reported side by side with the ratio; the staged loop must produce
the same per-frame faces as the library (checked: `same_faces`). Each measurement is repeated
`--repeat` times (default 2, staged and end-to-end taking turns to go first; the machines are
shared and noisy) and the fastest run is kept. The staged loop mirrors the default
`--landmarks 5pt` path (no dense landmark backend). With `--per-face` (default) it also times the
per-face calls (align, colour transfer, paste_face with each blend and colour) on one frame.

`--torch-threads N` is what `facelab --threads N` does. It matters: PyTorch's OpenMP threads
busy-wait, and when other jobs keep the cores busy MTCNN with one thread per core was measured
4-12x slower per call than with one thread (see docs/benchmarks.md). `OMP_WAIT_POLICY=PASSIVE` in the
environment is recorded in the command line and the JSON.

Runs of a few frames (`--frames 20`) are dominated by start-up (opening files, the encoder's
first frames); compare full-length runs.

Inputs (read only, never copied into the repository):
    640x360:  ../shared/data/face_videos/short_hamilton_clip.mp4 (29.97 fps, 275 frames)
    1280x720 crowd: ../shared/data/face_videos/facenet_pytorch_video.mp4 (1920x1080, 25 fps, 105
              frames, about 6 faces a frame), resized with cv2.INTER_AREA and written to a
              temporary file with facelab's VideoWriter before any timing (not counted).
    1280x720 one face: ../shared/data/face_videos/sadtalker_WDA_KatieHill_000.mp4 (512x512,
              25 fps, 200 frames, one talking head) scaled to 720x720 (bicubic) between grey side
              bars, written the same way.
`--only 1280x720` runs the two 1280x720 inputs. With `--frames N` the inputs are first cut to N frames into temporary files (re-encoded by the
same VideoWriter, H.264 CRF 18, without audio); otherwise the 640x360 clip is used as it is.

Before timing, MTCNN runs once on a frame of each input (PyTorch's first call allocates and
is several times slower). The source face is `samples/grace_hopper.jpg`, aligned once.

Output: Markdown tables on stdout; JSON at `--out` with the machine (CPU model, cores, torch,
facelab, OpenCV and PyAV versions), the exact command, every run and the best ones.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np
import torch
from benchlib import make_clip

from facelab import __version__
from facelab.faces.align import align_face
from facelab.faces.blend import BlendMode, paste_face
from facelab.faces.color import ColorMethod, color_transfer
from facelab.faces.detect import Face, FaceDetector
from facelab.faces.track import FaceTracker
from facelab.io.background import BackgroundWriter, prefetch
from facelab.io.video import VideoReader, VideoWriter, probe_video
from facelab.swap.oneshot import OneShotSource, SwapSettings
from facelab.swap.pipeline import (
    Selection,
    _face_entry,
    swap_video_file,
    synthetic_metadata,
)

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO / ".." / "shared" / "data" / "face_videos"
STAGES = ("decode", "detect", "align", "translate", "blend", "encode", "other")


# ---------------------------------------------------------------------------------------------
# machine and inputs


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "usable_cores": usable,
            "torch_threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "load_average_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__, "facelab": __version__,
            "opencv": cv2.__version__, "pyav": av.__version__,
            "libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
            "numpy": np.__version__, "python": platform.python_version(), "cuda_used": False}


def prepare_inputs(args: argparse.Namespace, work: Path) -> list[tuple[str, Path, str]]:
    """(name, path, how it was made) for each benchmarked size."""
    out = []
    sd = args.sd.resolve()
    n_sd = probe_video(sd).frame_count
    if args.only == "1280x720":
        pass
    elif args.frames is None or (n_sd and args.frames >= n_sd):
        out.append(("640x360", sd, f"{sd.name} as it is"))
    else:
        path = make_clip(sd, work / "sd.mp4", (640, 360), args.frames, audio=False)
        out.append(("640x360", path, f"first {args.frames} frames of {sd.name}, re-encoded (CRF 18, no audio)"))
    if args.only == "640x360":
        return out
    hd = args.hd.resolve()
    info = probe_video(hd)
    keep_all = args.frames is None or (info.frame_count and args.frames >= info.frame_count)
    path = make_clip(hd, work / "hd.mp4", (1280, 720), None if keep_all else args.frames, audio=bool(keep_all))
    how = (f"{hd.name} ({info.width}x{info.height}) resized to 1280x720 (INTER_AREA), "
           + ("H.264 CRF 18, audio copied" if keep_all else f"first {args.frames} frames, CRF 18, no audio"))
    out.append(("1280x720 crowd", path, how))
    one = args.one_face.resolve()
    path = make_clip(one, work / "one.mp4", (1280, 720), args.frames, audio=False)
    out.append(("1280x720 one face", path, f"{one.name} ({probe_video(one).width}x{probe_video(one).height}) scaled "
                "to 720 px high between grey side bars" + (f", first {args.frames} frames" if args.frames else "")))
    return out


# ---------------------------------------------------------------------------------------------
# the staged loop


class TimedDetector:
    """Wraps a FaceDetector and adds up the time spent in its detect()."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector
        self.seconds = self.refine_seconds = 0.0
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Face]:
        t = time.perf_counter()
        faces = self.detector.detect(image)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return faces

    def refine(self, image: np.ndarray, boxes: list[np.ndarray]) -> list[Face | None]:
        t = time.perf_counter()
        faces = self.detector.refine(image, boxes)
        self.refine_seconds += time.perf_counter() - t
        return faces


@dataclass
class Timing:
    frames: int = 0
    faces: int = 0
    total: float = 0.0
    cpu: float = 0.0
    mtcnn: float = 0.0
    mtcnn_calls: int = 0
    refine: float = 0.0
    stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    def summary(self) -> dict[str, Any]:
        ms = {k: 1000 * v / max(self.frames, 1) for k, v in self.stages.items()}
        return {"frames": self.frames, "faces": self.faces, "seconds": round(self.total, 3),
                "fps": self.frames / self.total if self.total else float("nan"),
                "cpu_utilisation": self.cpu / self.total if self.total else float("nan"),
                "ms_per_frame": {k: round(v, 3) for k, v in ms.items()},
                "share": {k: round(v / self.total, 4) for k, v in self.stages.items()},
                "mtcnn_ms_per_frame": round(1000 * self.mtcnn / max(self.frames, 1), 3),
                "mtcnn_calls": self.mtcnn_calls,
                "mtcnn_ms_per_call": round(1000 * self.mtcnn / max(self.mtcnn_calls, 1), 2),
                "refine_ms_per_frame": round(1000 * self.refine / max(self.frames, 1), 3),
                "tracker_ms_per_frame": round(ms["detect"] - 1000 * (self.mtcnn + self.refine) / max(self.frames, 1), 3)}


def staged(source: OneShotSource, src: Path, dst: Path, detector: FaceDetector, settings: SwapSettings,
           selection: Selection, detect_every: int, refine: bool) -> tuple[Timing, list[dict[str, Any]]]:
    """swap_video_file's loop with a stopwatch around each stage."""
    pc = time.perf_counter
    tm, frames_log = Timing(), []
    st = tm.stages
    timed = TimedDetector(detector)
    t_start, c_start = pc(), time.process_time()
    mask = settings.crop_mask()
    with VideoReader(src) as reader:
        info = reader.info
        tracker = FaceTracker(timed, detect_every=detect_every, fps=float(info.fps) or 30.0,
                              refine=refine and detect_every > 1)
        # as swap_video_file: decoding one thread ahead, encoding one behind ("decode" and "encode"
        # are then the time the loop waits for them)
        writer = BackgroundWriter(VideoWriter(dst, info.fps, (info.width, info.height), audio_from=src,
                                              overwrite=True, metadata=synthetic_metadata(source)))
        try:
            frames = prefetch(reader.frames_with_index())
            while True:
                t = pc()
                try:
                    index, frame = next(frames)
                except StopIteration:
                    st["decode"] += pc() - t
                    break
                t1 = pc()
                st["decode"] += t1 - t
                # 1. track
                tracked = selection.pick([(tf.track_id, tf.face) for tf in tracker.update(frame)])
                t = pc()
                st["detect"] += t - t1
                # 2. swap each face: swap_face(), one call at a time
                entries = []
                for tid, face in tracked:
                    target = align_face(frame, face.landmarks, settings.size, settings.margin)
                    t1 = pc()
                    st["align"] += t1 - t
                    new_face = source.face_for(target)
                    t = pc()
                    st["translate"] += t - t1
                    frame, _ = paste_face(frame, new_face, mask, M=target.M, mode=cast(BlendMode, settings.blend),
                                          color=cast(ColorMethod, settings.color))
                    t1 = pc()
                    st["blend"] += t1 - t
                    entries.append(_face_entry(tid, face, source, settings))
                    t = pc()
                    st["other"] += t - t1
                frames_log.append({"frame": index, "faces": entries})
                tm.faces += len(entries)
                # 3. encode
                t = pc()
                writer.write(frame)
                st["encode"] += pc() - t
                tm.frames += 1
            t = pc()
            writer.close()
            st["encode"] += pc() - t
        except BaseException:
            writer.abort()
            raise
    tm.total = pc() - t_start
    tm.cpu = time.process_time() - c_start
    tm.mtcnn, tm.mtcnn_calls, tm.refine = timed.seconds, timed.calls, timed.refine_seconds
    # "other": whatever the stopwatches did not cover (loop, bookkeeping, opening the files)
    st["other"] = tm.total - sum(v for k, v in st.items() if k != "other")
    return tm, frames_log


def end_to_end(source: OneShotSource, src: Path, dst: Path, detector: FaceDetector, settings: SwapSettings,
               selection: Selection, detect_every: int, refine: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    c0 = time.process_time()
    rec = swap_video_file(source, src, dst, detector, settings, selection=selection, detect_every=detect_every,
                          refine=refine, overwrite=True)
    cpu = time.process_time() - c0
    return ({"frames": rec.frames_total, "faces": sum(len(f["faces"]) for f in rec.frames),
             "seconds": round(rec.seconds, 3), "fps": rec.frames_total / rec.seconds,
             "cpu_utilisation": cpu / rec.seconds}, rec.frames)


def per_face(source: OneShotSource, path: Path, detector: FaceDetector, settings: SwapSettings,
             reps: int = 30) -> dict[str, float]:
    """Milliseconds per face of the per-face calls and of paste_face's variants, on one frame.

    The frame is frame 30 of `path` (the last one if it is shorter), its largest face; each call
    runs `reps` times, twice, and the faster mean is kept.
    """
    with VideoReader(path) as reader:
        for i, frame in enumerate(reader):  # noqa: B007 (the frame is used after the loop)
            if i == 30:
                break
    faces = detector.detect(frame)
    if not faces:
        return {}
    target = align_face(frame, faces[0].landmarks, settings.size, settings.margin)
    crop, mask = source.face_for(target), settings.crop_mask()
    ref = cv2.warpAffine(frame, target.M, (settings.size, settings.size))

    def ms(fn: Any) -> float:
        best = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            best = min(best, (time.perf_counter() - t) / reps)
        return round(1000 * best, 3)

    out = {"face_width_px": round(faces[0].width, 1),
           "align_face": ms(lambda: align_face(frame, faces[0].landmarks, settings.size, settings.margin)),
           "color_transfer reinhard (alone)": ms(lambda: color_transfer(crop, ref, "reinhard", src_mask=mask,
                                                                        ref_mask=mask)),
           "color_transfer hist (alone)": ms(lambda: color_transfer(crop, ref, "hist", src_mask=mask, ref_mask=mask))}
    for blend, color in (("alpha", "reinhard"), ("alpha", "hist"), ("alpha", "none"), ("poisson", "reinhard")):
        out[f"paste_face {blend} + {color}"] = ms(lambda b=blend, c=color: paste_face(frame, crop, mask, M=target.M,
                                                                                     mode=b, color=c))
    return out


# ---------------------------------------------------------------------------------------------
# report


def tables(res: dict[str, Any]) -> str:
    names = [r["name"] for r in res["results"]]
    lines = ["| stage | " + " | ".join(f"{n} ms/frame | {n} share" for n in names) + " |",
             "|---|" + "---:|---:|" * len(names)]
    labels = {"detect": "detect (MTCNN + tracking)", "translate": "translate (one-shot: fetch crop)",
              "blend": "blend (colour, warp back, alpha)" if res["settings"]["blend"] == "alpha"
              else "blend (colour, warp back, Poisson)", "encode": "encode (incl. flush)",
              "other": "other (bookkeeping, open/close)"}
    for k in STAGES:
        row = [labels.get(k, k)]
        for r in res["results"]:
            b = r["staged"]
            row += [f"{b['ms_per_frame'][k]:.1f}", f"{100 * b['share'][k]:.1f} %"]
        lines.append("| " + " | ".join(row) + " |")
        if k == "detect":
            for sub, key in (("&nbsp;&nbsp;of which MTCNN (full)", "mtcnn_ms_per_frame"),
                             ("&nbsp;&nbsp;of which O-Net re-detection (refine)", "refine_ms_per_frame"),
                             ("&nbsp;&nbsp;of which flow, matching, smoothing", "tracker_ms_per_frame")):
                row = [sub]
                for r in res["results"]:
                    b = r["staged"]
                    row += [f"{b.get(key, math.nan):.1f}", f"{100 * b.get(key, math.nan) / (1000 * b['seconds'] / b['frames']):.1f} %"]
                lines.append("| " + " | ".join(row) + " |")
    row = ["**total**"]
    for r in res["results"]:
        b = r["staged"]
        row += [f"**{1000 * b['seconds'] / b['frames']:.1f}**", "100 %"]
    lines.append("| " + " | ".join(row) + " |")
    lines += ["", ("| input | frames | faces swapped | MTCNN calls (ms each) | staged fps | `swap_video_file` fps "
                   "| end-to-end / staged | CPU use (staged) | load | same faces |"),
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|"]
    for r in res["results"]:
        s, e = r["staged"], r["end_to_end"]
        lines.append(f"| {r['name']} | {s['frames']} | {s['faces']} "
                     f"| {s['mtcnn_calls']} ({s['mtcnn_ms_per_call']:.0f}) "
                     f"| {s['fps']:.2f} | {e['fps']:.2f} | {r['ratio_e2e_to_staged']:.2f} "
                     f"| {s['cpu_utilisation']:.2f} cores | {s['load_average_1min_before']:.1f} "
                     f"| {'yes' if r['same_faces'] else 'NO'} |")
    micro = [(r["name"], r["per_face_ms"]) for r in res["results"] if r.get("per_face_ms")]
    if micro:
        lines += ["", "| per face, one frame (ms) | " + " | ".join(f"{n} (face {m['face_width_px']:.0f} px)"
                                                            for n, m in micro) + " |",
                  "|---|" + "---:|" * len(micro)]
        for key in micro[0][1]:
            if key != "face_width_px":
                lines.append(f"| {key} | " + " | ".join(f"{m[key]:.1f}" for _, m in micro) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sd", type=Path, default=VIDEOS / "short_hamilton_clip.mp4", help="The 640x360 input.")
    ap.add_argument("--hd", type=Path, default=VIDEOS / "facenet_pytorch_video.mp4",
                    help="Video resized to 1280x720 for the second input.")
    ap.add_argument("--one-face", type=Path, default=VIDEOS / "sadtalker_WDA_KatieHill_000.mp4",
                    help="A one-face video, pillarboxed to 1280x720 for the third input.")
    ap.add_argument("--source", type=Path, default=REPO / "samples" / "grace_hopper.jpg", help="Source face photo.")
    ap.add_argument("--frames", type=int, default=None, help="Use only the first N frames of each input.")
    ap.add_argument("--detect-every", type=int, default=5, help="MTCNN every N frames (the CLI default 5).")
    ap.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                    help="O-Net re-detection between full detections (the CLI default); --no-refine: flow only.")
    ap.add_argument("--largest", action="store_true", help="Swap only the largest face per frame.")
    ap.add_argument("--blend", choices=["alpha", "poisson"], default="alpha")
    ap.add_argument("--max-side", type=int, default=960,
                    help="Detector's max_side: frames are shrunk to this for MTCNN (library default 960; 0: off).")
    ap.add_argument("--torch-threads", type=int, default=None,
                    help="torch.set_num_threads for MTCNN (default: torch's own choice, one per core).")
    ap.add_argument("--per-face", action=argparse.BooleanOptionalAction, default=True,
                    help="Also time the per-face calls (align, colour, paste_face variants) on one frame.")
    ap.add_argument("--repeat", type=int, default=2, help="Runs per measurement; the fastest is kept.")
    ap.add_argument("--only", choices=["640x360", "1280x720"], default=None, help="Benchmark one size only.")
    ap.add_argument("--device", default="cpu", help="Where MTCNN runs (the benchmark is meant for the CPU).")
    ap.add_argument("--out", type=Path, default=None, help="Write the JSON results here.")
    ap.add_argument("--work", type=Path, default=None, help="Scratch folder (default: a new temporary one).")
    args = ap.parse_args(argv)

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="facelab_swap_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    detector = FaceDetector(device=args.device, max_side=args.max_side or None)
    settings = SwapSettings(blend=args.blend)
    source = OneShotSource.from_photo(args.source, detector, settings)
    selection = Selection(largest=args.largest)
    env = "".join(f"{k}={shlex.quote(os.environ[k])} " for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")
                  if k in os.environ)
    src_rel = args.source.resolve()
    res: dict[str, Any] = {
        "command": env + "python " + " ".join(shlex.quote(a) for a in ["bench/swap_bench.py", *sys.argv[1:]]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "device": args.device,
        "settings": {**asdict(settings), "detect_every": args.detect_every, "refine": args.refine, "selection": selection.describe(),
                     "source": str(src_rel.relative_to(REPO)) if src_rel.is_relative_to(REPO) else str(src_rel),
                     "repeat": args.repeat, "detector": detector.config()},
        "results": [],
    }
    try:
        for name, path, how in prepare_inputs(args, work):
            info = probe_video(path)
            with VideoReader(path) as reader:  # warm-up: MTCNN's first call allocates
                detector.detect(next(iter(reader)))
            runs: dict[str, list[dict[str, Any]]] = {"staged": [], "end_to_end": []}
            same = True
            for i in range(args.repeat):
                # alternate the order, so that neither always runs first (file cache, other jobs)
                for kind in ("staged", "end_to_end")[:: 1 if i % 2 == 0 else -1]:
                    load = os.getloadavg()[0]
                    if kind == "staged":
                        tm, log_s = staged(source, path, work / f"{name}_staged.mp4", detector, settings,
                                           selection, args.detect_every, args.refine)
                        run = tm.summary()
                    else:
                        run, log_e = end_to_end(source, path, work / f"{name}_e2e.mp4", detector, settings,
                                                selection, args.detect_every, args.refine)
                    run["load_average_1min_before"] = round(load, 2)
                    runs[kind].append(run)
                same = same and log_s == log_e
                tm_fps, e2e = runs["staged"][-1]["fps"], runs["end_to_end"][-1]
                print(f"{name} run {i + 1}: staged {tm_fps:.2f} fps, "
                      f"swap_video_file {e2e['fps']:.2f} fps", file=sys.stderr, flush=True)
            micro = per_face(source, path, detector, settings) if args.per_face else {}
            best_s = max(runs["staged"], key=lambda r: r["fps"])
            best_e = max(runs["end_to_end"], key=lambda r: r["fps"])
            res["results"].append({"name": name, "input": how, "fps_in": float(info.fps), "frames_in": info.frame_count,
                                   "staged": best_s, "end_to_end": best_e,
                                   "ratio_e2e_to_staged": best_e["fps"] / best_s["fps"],
                                   "same_faces": same, "per_face_ms": micro, "runs": runs})
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    md = tables(res)
    res["table_markdown"] = md
    m = res["machine"]
    print(f"{m['cpu']}, {m['usable_cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
          f"facelab {m['facelab']}; {res['date']}\n{res['command']}\n")
    print(md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
