"""How fast is `facelab detect` on the CPU at 720p and 1080p, and where does the time go?

    python bench/detect_bench.py --out /tmp/detect_bench.json
    python bench/detect_bench.py --torch-threads 1 --detect-every 1 5 --stride 5

Runs :func:`facelab.detector.pipeline.detect_file` (the code behind `facelab detect`) on:

    1920x1080: ../shared/data/face_videos/facenet_pytorch_video.mp4 (25 fps, 105 frames, as is)
    1280x720:  the same clip resized with cv2.INTER_AREA, written to a temporary file with
               facelab's VideoWriter before any timing (not counted)

with the CNN (EfficientNet-Lite0 at 224 px, the default backbone; its weights are the ImageNet
initialisation in a detector checkpoint written to a temporary file: trained weights cost the
same) on every `--stride`-th frame, and the landmark-motion check on every frame, for each
`--detect-every` value. The stage times come from the pipeline's own `timings` (decode,
detect_track = MTCNN plus the tracker, motion = landmark-motion features, cnn = cropping and
the classifier, gradcam, score_fuse). Before timing, one short warm-up run on the 720p clip
pays PyTorch's first-call costs. Each configuration runs `--repeat` times; the fastest is kept.

Output: a Markdown table on stdout and JSON at `--out` with the machine and the exact command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

from facelab import __version__
from facelab.checkpoint import atomic_save
from facelab.detector.cnn import checkpoint_record, classifier_info, create_classifier, load_classifier
from facelab.detector.landmark_motion import load_landmark_scorer
from facelab.detector.pipeline import DetectConfig, detect_file
from facelab.faces.detect import FaceDetector
from facelab.io.video import VideoReader, VideoWriter

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "face_videos"
CLIP = SHARED / "facenet_pytorch_video.mp4"


def resized(src: Path, dst: Path, width: int, height: int, frames: int | None) -> Path:
    with VideoReader(src) as r, VideoWriter(dst, fps=r.info.fps, size=(width, height)) as w:
        for i, frame in r.frames_with_index():
            if frames is not None and i >= frames:
                break
            w.write(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA))
    return dst


def machine() -> dict[str, object]:
    cpu = platform.processor() or ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "opencv": cv2.__version__, "facelab": __version__, "python": platform.python_version()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="JSON results file")
    ap.add_argument("--detect-every", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--stride", type=int, default=5, help="CNN on every N-th frame")
    ap.add_argument("--frames", type=int, default=None, help="cut the clip to N frames")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--torch-threads", type=int, default=None)
    args = ap.parse_args()
    if not CLIP.is_file():
        sys.exit(f"{CLIP} not found: the benchmark reads ../shared/data")
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    tmp = Path(tempfile.mkdtemp(prefix="facelab-detect-bench-"))
    inputs = {"1280x720": resized(CLIP, tmp / "720p.mp4", 1280, 720, args.frames),
              "1920x1080": resized(CLIP, tmp / "1080p.mp4", 1920, 1080, args.frames) if args.frames else CLIP}
    net = create_classifier("efficientnet_lite0", pretrained=True)
    info = classifier_info("efficientnet_lite0")
    atomic_save(checkpoint_record(net, "efficientnet_lite0", {}, {
        "crop": {"size": 224, "margin": 0.3}, "threshold": 0.5, "mean": list(info.mean), "std": list(info.std)}),
        tmp / "lite0.pt")
    classifier = load_classifier(tmp / "lite0.pt", device="cpu")
    scorer = load_landmark_scorer()
    detector = FaceDetector(device="cpu")
    detect_file(inputs["1280x720"], DetectConfig(frames=3), detector=detector, classifier=classifier, scorer=scorer)

    rows = []
    for size, path in inputs.items():
        for every in args.detect_every:
            cfg = DetectConfig(stride=args.stride, detect_every=every, gradcam=False)
            best = None
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                r = detect_file(path, cfg, detector=detector, classifier=classifier, scorer=scorer)
                wall = time.perf_counter() - t0
                if best is None or wall < best[0]:
                    best = (wall, r)
            wall, r = best
            t = r.timings
            row = {"size": size, "detect_every": every, "cnn_stride": args.stride, "frames": r.frames_analysed,
                   "faces_per_frame": round(len(r.frames) / max(r.frames_analysed, 1), 2),
                   "cnn_crops": sum(f.cnn is not None for f in r.frames), "wall_s": round(wall, 2),
                   "fps": round(r.frames_analysed / wall, 2),
                   "stages_s": {k: round(v, 2) for k, v in t.items() if k != "total"}}
            rows.append(row)
            print(json.dumps(row), flush=True)

    print("\n| size | detect every | CNN stride | frames | faces/frame | fps | decode s | detect+track s | motion s | cnn s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["stages_s"]
        print(f"| {r['size']} | {r['detect_every']} | {r['cnn_stride']} | {r['frames']} | {r['faces_per_frame']} | "
              f"{r['fps']} | {s.get('decode', 0)} | {s.get('detect_track', 0)} | {s.get('motion', 0)} | {s.get('cnn', 0)} |")
    result = {"command": " ".join([sys.executable.split("/")[-1]] + sys.argv), "machine": machine(), "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
