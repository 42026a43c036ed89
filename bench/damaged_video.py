"""Issue 15's measurement: a real 720p H.264 clip damaged in the middle, through facelab.

Makes a 309-frame 1280x720 clip with audio from ``../shared/data/face_videos/short_hamilton_clip.mp4``
(looped, scaled; in a temporary folder, never in the repository), overwrites twenty 200-byte
patches a third of the way in (``tests/damage.py``), and reports what each decoder gets:
a naive PyAV loop (what facelab did before: stop at the first error), ffmpeg's own decoder
(``imageio-ffmpeg``, as ``ffprobe -count_frames``), facelab's reader, and what ``facelab swap``
writes and ``facelab detect`` analyses; then checks that ``--on-damage fail`` refuses the file.

    python bench/damaged_video.py [--seed 1] [--at 0.333]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from facelab.io.video import VideoReader, VideoWriter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from damage import ffmpeg_frames, naive_frames, patch_bytes  # noqa: E402

CLIP = REPO / ".." / "shared" / "data" / "face_videos" / "short_hamilton_clip.mp4"


def make_clip(dst: Path, frames: int = 309) -> Path:
    """The shared clip looped to ``frames`` frames at 1280x720 (cv2 bicubic), with its audio."""
    import cv2

    src = [f for f in VideoReader(CLIP)]
    with VideoWriter(dst, Fraction(30000, 1001), (1280, 720), audio_from=CLIP,
                     encoder_options={"preset": "veryfast"}) as wr:
        for i in range(frames):
            wr.write(cv2.resize(src[i % len(src)], (1280, 720), interpolation=cv2.INTER_CUBIC))
    return dst


def facelab(*args: str) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "facelab", *args], capture_output=True, text=True)
    # the summary line (stdout) or the one-line error (stderr), not the progress bar
    lines = [ln.split("\r")[-1].strip() for ln in (res.stdout + "\n" + res.stderr).splitlines()]
    lines = [ln for ln in lines if ln.startswith(("swapped", "analysed", "error"))]
    return res.returncode, lines[-1] if lines else "", time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--at", type=float, default=1 / 3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        clean = make_clip(tmp / "clip720.mp4")
        bad = patch_bytes(clean, tmp / "damaged.mp4", at=args.at, seed=args.seed)
        reader = VideoReader(bad)
        got = sum(1 for _ in reader)
        ref = ffmpeg_frames(bad)
        print(f"clip: {ffmpeg_frames(clean)} frames 1280x720; damaged: 20 x 200 bytes from {args.at:.3f} of the file")
        print(f"naive PyAV loop (the old reader): {naive_frames(bad)} frames")
        print(f"ffmpeg's decoder: {ref} frames")
        print(f"facelab reader: {got} frames; {reader.damage.describe()}")
        out = tmp / "out.mp4"
        rc, last, dt = facelab("swap", "--source", str(REPO / "samples" / "grace_hopper.jpg"), "--target", str(bad),
                               "-o", str(out))
        side = json.loads(out.with_name("out.mp4.json").read_text())
        print(f"swap: exit {rc}, {ffmpeg_frames(out)} frames written ({ffmpeg_frames(out) / ref:.1%} of ffmpeg's), "
              f"sidecar frames_lost_to_damage {side['frames_lost_to_damage']}, {dt:.0f} s\n  {last}")
        rc, last, dt = facelab("detect", str(bad), "--json", str(tmp / "d.json"))
        det = json.loads((tmp / "d.json").read_text())[0]
        print(f"detect: exit {rc}, {det['frames_analysed']} frames analysed ({det['frames_analysed'] / ref:.1%}), "
              f"verdict {det['verdict']}, {dt:.0f} s\n  {last}")
        rc, last, _ = facelab("swap", "--source", str(REPO / "samples" / "grace_hopper.jpg"), "--target", str(bad),
                              "-o", str(tmp / "refused.mp4"), "--on-damage", "fail")
        print(f"swap --on-damage fail: exit {rc}, output exists: {(tmp / 'refused.mp4').exists()}\n  {last}")


if __name__ == "__main__":
    main()
