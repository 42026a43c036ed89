"""The landmark-motion check under different tracking modes, on real and labelled clips.

    python bench/landmark_modes.py --out /tmp/landmark_modes.json

For every clip of ../shared/data/face_videos (the real videos the bundled calibration was made
from) and ../shared/data/deepfake_dev (held-out labelled clips), and for each tracking mode
(full MTCNN every 1st / 5th / 10th frame, with O-Net re-detection or optical flow in between),
this tracks the faces (`FaceTracker`), computes the motion features (`MotionExtractor`) and the
30-frame windows, and scores them with the bundled calibrated scorer. It prints, per clip and
mode: the windows, the share scoring below the scorer's threshold, the median window score, the
highest track score, the share of detected frames and the seconds taken; then the share below
the threshold pooled over each folder. docs/detect.md quotes the pooled shares.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from facelab.detector.landmark_motion import MotionExtractor, aggregate, window_features
from facelab.detector.landmark_scorer import load_landmark_scorer
from facelab.faces.detect import FaceDetector
from facelab.faces.track import track_video
from facelab.io.video import VideoReader

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
MODES = [(1, False), (5, True), (10, True), (5, False)]


def clip(path: Path, detector: FaceDetector, every: int, refine: bool, scorer) -> dict:
    t0 = time.time()
    with VideoReader(path) as r:
        fps = float(r.info.fps) if r.info.fps else 30.0
    ex = MotionExtractor(fps)
    n = 0
    for index, frame, tracked in track_video(path, detector, detect_every=every, refine=refine):
        ex.update(index, frame, [(t.track_id, t.raw, t.detected) for t in tracked])
        n += 1
    probs, tracks, detected = [], [], []
    for seq in ex.sequences().values():
        detected.append(float(np.mean(seq.detected)))
        wf = window_features(seq, 30, 15)
        if len(wf.X):
            p = np.asarray(scorer.score(wf.X), float)
            probs += list(p)
            tracks.append(aggregate(p))
    p = np.asarray(probs)
    return {"frames": n, "windows": len(p), "below_threshold": float((p < scorer.threshold).mean()) if len(p) else None,
            "median": float(np.median(p)) if len(p) else None, "max_track": max(tracks) if tracks else None,
            "detected_share": float(np.mean(detected)) if detected else None, "seconds": round(time.time() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    scorer, detector = load_landmark_scorer(None), FaceDetector(device="cpu")
    res: dict = {}
    for folder in ("face_videos", "deepfake_dev"):
        for path in sorted((SHARED / folder).glob("*.mp4")):
            for every, refine in MODES:
                key = f"{folder}/{path.name} every={every} refine={refine}"
                res[key] = clip(path, detector, every, refine, scorer)
                print(key, json.dumps(res[key]), flush=True)
    for folder in ("face_videos", "deepfake_dev"):
        for every, refine in MODES:
            rows = [v for k, v in res.items() if k.startswith(folder) and k.endswith(f"every={every} refine={refine}")
                    and v["windows"]]
            w = sum(v["windows"] for v in rows)
            below = sum(v["below_threshold"] * v["windows"] for v in rows) / max(w, 1)
            print(f"{folder}: every {every}, {'O-Net' if refine else 'flow'} in between: "
                  f"{100 * below:.1f} % of {w} windows below the threshold")
    if args.out:
        args.out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
