"""Both detectors on labelled clips made by other tools (../shared/data/deepfake_dev), honestly.

    python bench/detect_dev_eval.py --weights runs/det --landmark-models runs/lm.pt runs/lm_svm.pt \\
        --out /tmp/dev_eval

For each clip this runs `facelab detect`'s pipeline once (CNN on every `--stride`-th frame,
landmark motion on every frame, the bundled real-video calibration as the motion scorer) and
records the landmark-motion window features of every track on the way, so that the fitted
landmark classifiers (`facelab train landmarks`) score the very same windows without a second
pass over the video. Per clip it prints: the label, the fused verdict and probability, the CNN
track probability, and the motion probability under each scorer (all re-centred at their
thresholds, as `facelab detect` reports them). Writes `detect.json` and `report.html` (the
calibrated-scorer run, as `facelab detect` would) and `dev_eval.json` to `--out`.

Nothing here is tuned on these clips: the weights and scorers come from elsewhere, and their
thresholds from their own validation data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from facelab.detector.cnn import load_classifier
from facelab.detector.fuse import recentre
from facelab.detector.landmark_motion import aggregate
from facelab.detector.landmark_scorer import load_landmark_scorer
from facelab.detector.pipeline import DetectConfig, detect_file
from facelab.detector.report import write_html, write_json
from facelab.faces.detect import FaceDetector

DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "deepfake_dev"
LABELS = {"ff_real.mp4": "real", "dfo_real.mp4": "real", "ff_fake.mp4": "fake", "dfo_fake.mp4": "fake",
          "ff_000_003.mp4": "fake"}


class RecordingScorer:
    """The calibrated scorer, remembering every window-feature matrix it was asked to score."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.kind = inner.kind  # type: ignore[attr-defined]
        self.threshold = inner.threshold  # type: ignore[attr-defined]
        self.seen: list[np.ndarray] = []

    def score(self, X: np.ndarray) -> np.ndarray:
        self.seen.append(np.array(X, copy=True))
        return self.inner.score(X)  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--landmark-models", type=Path, nargs="*", default=[])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--stride", type=int, default=5)
    args = ap.parse_args()
    if not DEV.is_dir():
        sys.exit(f"{DEV} not found")
    args.out.mkdir(parents=True, exist_ok=True)
    classifier = load_classifier(args.weights)
    fitted = {p.name: load_landmark_scorer(p) for p in args.landmark_models}
    detector = FaceDetector(device="cpu")
    results, rows = [], []
    for name, label in LABELS.items():
        rec = RecordingScorer(load_landmark_scorer())
        r = detect_file(DEV / name, DetectConfig(stride=args.stride), detector=detector, classifier=classifier,
                        scorer=rec)
        results.append(r)
        deciding = [t for t in r.tracks if t.windows]
        main_track = max(r.tracks, key=lambda t: t.frames) if r.tracks else None
        motion = {"calibrated": None if main_track is None else main_track.motion.probability}
        # the recorder saw one matrix per track with windows, in track order; score the main track's
        if main_track is not None and main_track.windows:
            X = rec.seen[[t.track for t in deciding].index(main_track.track)]
            for key, sc in fitted.items():
                motion[key] = float(aggregate(np.array([recentre(p, sc.threshold) for p in sc.score(X)])))
        row = {"clip": name, "label": label, "verdict": r.verdict, "fake_probability": r.fake_probability,
               "tracks": len(r.tracks), "main_track_frames": None if main_track is None else main_track.frames,
               "cnn": None if main_track is None else main_track.cnn.probability,
               "cnn_raw_mean": None if main_track is None else main_track.cnn.details.get("raw_mean"),
               "motion": motion, "frames": r.frames_analysed, "size": f"{r.width}x{r.height}",
               "seconds": round(r.timings.get("total", 0.0), 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    write_json(results, args.out / "detect.json")
    write_html(results, args.out / "report.html", title="facelab detect on deepfake_dev")
    (args.out / "dev_eval.json").write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=2) + "\n")

    keys = ["calibrated"] + list(fitted)
    print("\n| clip | label | verdict | fused p | CNN p (raw mean) | " + " | ".join(f"motion {k}" for k in keys) + " |")
    print("|---|---|---|---|---|" + "---|" * len(keys))

    def f(v: object) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    for row in rows:
        print(f"| {row['clip']} | {row['label']} | {row['verdict']} | {f(row['fake_probability'])} | "
              f"{f(row['cnn'])} ({f(row['cnn_raw_mean'])}) | " + " | ".join(f(row["motion"].get(k)) for k in keys) + " |")


if __name__ == "__main__":
    main()
