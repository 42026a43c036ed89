"""Face traces (facelab.detector.facetrace) of the shared clips, cached, for the classic checks.

    python bench/classic_traces.py --out /tmp/traces CLIP...

Runs `facelab detect`'s tracker (MTCNN every 5th frame, O-Net re-detection in between) over each
clip and saves one `<clip stem>__t<track>.npz` per track (MTCNN's 5 points, dlib's 68 points,
the 5-point mouth measure and dlib face embeddings) to `--out`. Clips already done are skipped.
`bench/lipsync_eval.py` and `bench/fingerprint_eval.py` read these files.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from facelab.detector.facetrace import TraceCollector
from facelab.faces.detect import FaceDetector
from facelab.faces.track import track_video
from facelab.io.video import probe_video


def trace_clip(path: Path, out: Path, detector: FaceDetector) -> None:
    done = out / f"{path.stem}.done"
    if done.exists():
        return
    fps = probe_video(path).fps
    col = TraceCollector(dense=True, embed=True, fps=float(fps) if fps else None)
    t0 = time.perf_counter()
    for index, frame, tracked in track_video(path, detector, detect_every=5, refine=True, min_size=40):
        col.update(index, frame, [(t.track_id, t.raw, t.detected) for t in tracked])
    for tid, tr in col.traces().items():
        tr.save(out / f"{path.stem}__t{tid}.npz")
    done.write_text("ok")
    print(f"{path.name}: {len(col.traces())} tracks in {time.perf_counter() - t0:.1f}s", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    detector = FaceDetector(device="cpu", min_face_size=40)
    for clip in args.clips:
        trace_clip(clip, args.out, detector)


if __name__ == "__main__":
    main()
