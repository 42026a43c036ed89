"""ROC-AUC of a detector's weights per online fake family, on the validation split of a real-face cache.

Scores the weights on the same fixed validation items a training run scores (every val real crop,
one fake of it per family, seeded by crop and slot), so that weights trained without a family can be
measured on it: the left-out family numbers of docs/detect.md section 0.

    python tools/family_auc.py weights/deepfake_sbi_lite0.pth --real-cache RUN/reals \
        --renderer RUN/renderer.pt --families sbi,swap,dense,rerender

The cache must have been built at the weights' crop size (``facelab train detector --real-cache``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from facelab.detector.cnn import load_classifier
from facelab.detector.metrics import family_metrics
from facelab.detector.online import ValFakes
from facelab.detector.realfaces import load_real_cache
from facelab.detector.rerender import FaceRenderer
from facelab.detector.train import validation_indices
from facelab.errors import FacelabError


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", type=Path)
    ap.add_argument("--real-cache", type=Path, required=True)
    ap.add_argument("--renderer", type=Path, default=None, help="RUN/renderer.pt, for the rerender family")
    ap.add_argument("--families", default="sbi,swap,dense")
    ap.add_argument("--seed", type=int, default=0, help="the training run's --seed (fixes the val fakes)")
    args = ap.parse_args()

    clf = load_classifier(args.weights)
    faces = load_real_cache(args.real_cache)
    if faces.crops.shape[1] != clf.spec.size:
        raise SystemExit(f"{args.real_cache}: {faces.crops.shape[1]} px crops, the weights take {clf.spec.size} px")
    families = args.families.split(",")
    renderer = FaceRenderer.load(args.renderer) if args.renderer else None
    val = ValFakes(faces, validation_indices(faces), args.seed, families=families, renderer=renderer)
    p = np.zeros(len(val), np.float32)
    y, fam = np.zeros(len(val), np.int64), np.zeros(len(val), np.int64)
    batch = 64
    for start in tqdm(range(0, len(val), batch), desc="score", unit="batch"):
        items = [val[j] for j in range(start, min(start + batch, len(val)))]
        p[start:start + len(items)] = clf.predict([x.numpy() for x, _, _ in items])
        y[start:start + len(items)] = [int(label) for _, label, _ in items]
        fam[start:start + len(items)] = [f for _, _, f in items]
    metrics = family_metrics(y, p, fam)
    result = {"weights": str(args.weights), "real_crops": int((y == 0).sum()), "real_mean": metrics["real_mean"]}
    result.update({name: round(float(auc), 4) for name, auc in metrics["family_auc"].items()})
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except FacelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
