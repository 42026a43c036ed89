"""Memory benchmark: peak RSS of `detect` and `swap` on a 1080p video and on one twice as long.

    python bench/memory.py --quick          # alone; bench/run_all.py runs it with the rest

Both pipelines stream (a frame in, a frame or a few numbers out), so their peak memory must not
grow with the video's length. Inputs, made in a temporary folder with facelab's VideoWriter:

    1x: ../shared/data/face_videos/facenet_pytorch_video.mp4 re-encoded (1920x1080, 105 frames;
        `--quick`: its first 4 frames)
    2x: the same frames played twice in a row (210 frames; `--quick`: 8)

Each job runs in a fresh Python process (`python bench/memory.py --child JOB VIDEO`), so no
allocation of one job is counted in another (with `--quick` the 1x and 2x processes of a job run
at the same time, to save time; peak RSS is per process):

- detect: `detect_file` with `DetectConfig()` and `make_detector` (the `facelab detect` defaults:
  the full MTCNN every 5th frame from 40 px faces, O-Net in between, the CNN on every 5th frame,
  Grad-CAM on the top frames), the EfficientNet-Lite0 classifier;
- swap: `swap_video_file`, one-shot from `samples/grace_hopper.jpg`, CLI defaults (MTCNN every 5th
  frame, O-Net in between, alpha blend, H.264 CRF 18).

The child reports its RSS once the models are loaded (`VmRSS`, before the video is opened) and its
peak at the end (`VmHWM` from /proc/self/status), and the peak so far after every frame (a
trace: growth in the first frames is start-up, growth all the way is a leak); the parent also reads the child's
`ru_maxrss` from `os.wait4`. "Flat" means the 2x peak is within 5 % (and 50 MiB) of the 1x peak.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import CLIP_1080, REPO, make_clip, table

FLAT_SHARE, FLAT_MIB = 0.05, 50.0


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


def child(job: str, video: Path, threads: int | None) -> None:
    """Run one job on `video`; print one JSON line with its memory and time."""
    import torch

    from facelab.faces.detect import FaceDetector

    if threads:
        torch.set_num_threads(threads)
    work = Path(tempfile.mkdtemp(prefix="facelab-bench-mem-"))
    detector = FaceDetector(device="cpu")
    trace: list[tuple[int, float]] = []  # (frames done, VmHWM so far) after every frame

    def sample(done: int, _total: int | None) -> None:
        trace.append((done, _status_mib("VmHWM")))

    if job == "detect":
        from detect_speed import make_classifier

        from facelab.detector.landmark_scorer import load_landmark_scorer
        from facelab.detector.pipeline import DetectConfig, detect_file, make_detector

        classifier, scorer = make_classifier(work), load_landmark_scorer()

        def go() -> int:
            return detect_file(video, DetectConfig(), detector=make_detector(DetectConfig(), "cpu"),
                               classifier=classifier, scorer=scorer,
                               on_frame=sample).frames_analysed
    else:
        from facelab.swap.oneshot import OneShotSource, SwapSettings
        from facelab.swap.pipeline import swap_video_file

        settings = SwapSettings()
        source = OneShotSource.from_photo(REPO / "samples" / "grace_hopper.jpg", detector, settings)

        def go() -> int:
            return swap_video_file(source, video, work / "out.mp4", detector, settings, overwrite=True,
                                   on_frame=sample).frames_total
    setup = _status_mib("VmRSS")
    t0 = time.perf_counter()
    try:
        frames = go()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    half = next((hwm for done, hwm in trace if done >= frames // 2), float("nan"))
    step = max(1, len(trace) // 20)
    print(json.dumps({"job": job, "frames": frames, "seconds": round(time.perf_counter() - t0, 2),
                      "rss_after_setup_mib": round(setup, 1), "vmhwm_mib": round(_status_mib("VmHWM"), 1),
                      "vmhwm_loop_mib": round(trace[-1][1] if trace else float("nan"), 1),
                      "vmhwm_loop_half_mib": round(half, 1),
                      "vmhwm_trace_mib": [(d, round(h, 1)) for d, h in trace[::step]]}))


def start(job: str, video: Path, threads: int | None) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", job, str(video)]
    if threads:
        cmd += ["--threads", str(threads)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)


def finish(proc: subprocess.Popen[str], job: str, video: Path) -> dict[str, Any]:
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child {job} {video.name} failed (exit {proc.returncode}): {out[-2000:]}")
    rec = json.loads(out.strip().splitlines()[-1])
    rec["ru_maxrss_mib"] = round(usage.ru_maxrss / 1024, 1)  # kB on Linux
    rec["growth_during_run_mib"] = round(rec["vmhwm_mib"] - rec["rss_after_setup_mib"], 1)
    return rec


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    frames = 4 if args.quick else None
    clips = {"1x": make_clip(CLIP_1080, work / "1x.mp4", None, frames),
             "2x": make_clip(CLIP_1080, work / "2x.mp4", None, frames, loops=2)}
    rows = []
    for job in ("detect", "swap"):
        if args.quick:  # both at once to save time: peak RSS is per process, unaffected by the other
            procs = {k: start(job, v, args.threads) for k, v in clips.items()}
            recs = {k: finish(procs[k], job, clips[k]) for k in clips}
        else:
            recs = {k: finish(start(job, v, args.threads), job, v) for k, v in clips.items()}
        a, b = recs["1x"]["vmhwm_mib"], recs["2x"]["vmhwm_mib"]
        delta = b - a
        late = recs["2x"]["vmhwm_loop_mib"] - recs["2x"]["vmhwm_loop_half_mib"]
        rows.append({"job": job, "runs": recs, "peak_1x_mib": a, "peak_2x_mib": b, "delta_mib": round(delta, 1),
                     "growth_2x_second_half_mib": round(late, 1),
                     "ratio": round(b / a, 3), "flat": delta <= max(FLAT_SHARE * a, FLAT_MIB)})
        print(json.dumps(rows[-1]), flush=True)
    md = table(["job", "frames 1x / 2x", "RSS after setup MiB", "frame loop peak 1x / 2x MiB",
                "2x: loop peak growth over its 2nd half MiB", "peak 1x MiB", "peak 2x MiB", "2x - 1x MiB", "2x / 1x",
                "flat"],
               [[r["job"], f"{r['runs']['1x']['frames']} / {r['runs']['2x']['frames']}",
                 r["runs"]["1x"]["rss_after_setup_mib"],
                 f"{r['runs']['1x']['vmhwm_loop_mib']:.0f} / {r['runs']['2x']['vmhwm_loop_mib']:.0f}",
                 r["growth_2x_second_half_mib"], r["peak_1x_mib"], r["peak_2x_mib"], r["delta_mib"], r["ratio"],
                 "yes" if r["flat"] else "NO"] for r in rows], "lrrrrrrrrl")
    md += ("\n\nPeak: the child's VmHWM at its end; frame loop peak: VmHWM after the last frame (what comes "
           "later is the end of the job: detect's Grad-CAM and fusion, swap's encoder flush). "
           "`vmhwm_trace_mib` in the JSON has (frames done, peak so far) through each run: growth over the "
           "first frames is start-up (decoder and x264 look-ahead buffers fill), growth all along is a leak. "
           "Clips of a few frames (`--quick`) see only start-up; detect's CNN scores crops in batches of up to "
           "8 on the CPU (224 px), so its peak also grows until a video fills whole batches.")
    return {"rows": rows, "flat_rule": f"2x peak - 1x peak <= max({FLAT_SHARE:.0%} of 1x, {FLAT_MIB:.0f} MiB)",
            "markdown": md}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--child", nargs=2, metavar=("JOB", "VIDEO"), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.threads)
        return
    with tempfile.TemporaryDirectory(prefix="facelab-bench-memory-") as tmp:
        res = run(args, Path(tmp))
    print(res["markdown"])
    if args.out:
        args.out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
