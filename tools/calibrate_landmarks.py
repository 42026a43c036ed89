"""Calibrate the landmark-motion check on real videos: writes facelab/detector/landmark_calibration.json.

    python tools/calibrate_landmarks.py                       # ../shared/data/face_videos, all frames
    python tools/calibrate_landmarks.py --videos DIR --sequences /tmp/motion_cache

Every video is tracked with MTCNN on **every** frame (``detect_every=1``, raw unsmoothed
landmarks), :class:`~facelab.detector.landmark_motion.MotionExtractor` computes the per-frame
features, and :func:`~facelab.detector.landmark_motion.window_features` the 30-frame windows
(stride 15). :func:`~facelab.detector.landmark_scorer.calibrate_real_windows` turns the windows
of all videos into robust statistics (median, MAD, quantiles of the window statistic) and a
leave-one-video-out check. The JSON holds statistics and provenance only (command, file names,
sizes, frame and window counts, date, facelab version), never media.

Only real videos belong here. The labelled deepfake clips (``deepfake_dev``) are held out for an
honest evaluation and are refused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEOS = ROOT / ".." / "shared" / "data" / "face_videos"
DEFAULT_OUT = ROOT / "facelab" / "detector" / "landmark_calibration.json"

log = logging.getLogger("calibrate_landmarks")


def extract(path: Path, max_frames: int | None) -> tuple[dict, int]:
    """Motion sequences of every track of one video, and the number of frames read."""
    from facelab.detector.landmark_motion import MotionExtractor
    from facelab.faces.detect import FaceDetector
    from facelab.faces.track import track_video
    from facelab.io.video import VideoReader

    with VideoReader(path) as r:
        fps = float(r.info.fps) if r.info.fps else None
    ex = MotionExtractor(fps=fps)
    n = 0
    for index, frame, tracked in track_video(path, FaceDetector(device="cpu"), detect_every=1, max_frames=max_frames):
        ex.update(index, frame, [(t.track_id, t.raw, t.detected) for t in tracked])
        n += 1
    return ex.sequences(), n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS, help="folder of real videos (*.mp4)")
    ap.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help="calibration JSON to write")
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--stride", type=int, default=15)
    ap.add_argument("--max-frames", type=int, default=None, help="read at most this many frames per video")
    ap.add_argument("--sequences", type=Path, default=None,
                    help="cache folder for the per-track .npz sequences (reused when present)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    import torch

    from facelab import __version__
    from facelab.detector.landmark_motion import MotionSequence, window_features
    from facelab.detector.landmark_scorer import calibrate_real_windows

    torch.set_num_threads(1)
    if "deepfake" in str(args.videos.resolve()):
        ap.error("the deepfake clips are held out for evaluation; calibrate on real videos only")
    videos = sorted(args.videos.glob("*.mp4"))
    if not videos:
        ap.error(f"no *.mp4 in {args.videos}")
    Xs, groups, files = [], [], []
    names: list[str] = []
    for v in videos:
        t0 = time.time()
        cache = args.sequences / v.stem if args.sequences else None
        if cache is not None and (cache / "done").is_file():
            seqs = {int(p.stem): MotionSequence.load(p) for p in sorted(cache.glob("*.npz"))}
            frames = int((cache / "done").read_text())
        else:
            seqs, frames = extract(v, args.max_frames)
            if cache is not None:
                cache.mkdir(parents=True, exist_ok=True)
                for k, s in seqs.items():
                    s.save(cache / f"{k}.npz")
                (cache / "done").write_text(str(frames))
        windows = 0
        for s in seqs.values():
            wf = window_features(s, args.window, args.stride)
            names = wf.names
            if len(wf.X):
                Xs.append(wf.X)
                groups += [v.name] * len(wf.X)
                windows += len(wf.X)
        files.append({"file": v.name, "bytes": v.stat().st_size, "frames": frames, "tracks": len(seqs),
                      "windows": windows})
        log.info("%s: %d frames, %d tracks, %d windows (%.0f s)", v.name, frames, len(seqs), windows, time.time() - t0)
    X = np.concatenate(Xs)
    use = [n for n in names if n.endswith("_median")]  # see facelab.detector.landmark_scorer
    rec = calibrate_real_windows(names, X, groups, use=use)
    rec["window"], rec["stride"], rec["detect_every"] = args.window, args.stride, 1
    q = {n: [None if not np.isfinite(c).any() else round(float(np.nanquantile(c, k)), 6) for k in (0.5, 0.9, 0.95, 0.99)]
         for n, c in zip(names, X.T)}
    rec["quantiles_50_90_95_99"] = q
    rec["provenance"] = {
        "command": " ".join(["python tools/calibrate_landmarks.py", *(shlex.quote(a) for a in (argv or sys.argv[1:]))]),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "facelab": __version__,
        "detector": "MTCNN (facelab.faces.detect.FaceDetector defaults), detect_every=1, raw landmarks",
        "landmarks": "5pt",
        "videos": files,
        "note": "statistics of real (unmanipulated) videos only; no media is stored",
    }
    args.out.write_text(json.dumps(rec, indent=1) + "\n", encoding="utf-8")
    ev = rec["evaluation"]
    print(f"wrote {args.out}: {ev['windows']} windows, {100 * ev['real_below_threshold']:.1f} % below 0.5; "
          f"leave-one-video-out {ev.get('leave_one_video_out_below_threshold')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
