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
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from facelab.detector.cnn import load_classifier
from facelab.detector.online import ValFakes
from facelab.detector.realfaces import load_real_cache
from facelab.detector.rerender import FaceRenderer


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
    val_idx = faces.indices("val")
    if val_idx.size > 1000:  # as the trainer does
        val_idx = val_idx[np.linspace(0, val_idx.size - 1, 1000).round().astype(np.int64)]
    families = args.families.split(",")
    renderer = FaceRenderer.load(args.renderer) if args.renderer else None
    val = ValFakes(faces, val_idx, args.seed, families=families, renderer=renderer)
    scores = np.zeros(len(val), np.float32)
    slots = np.arange(len(val)) % (1 + len(families))
    batch = 64
    for start in tqdm(range(0, len(val), batch), desc="score", unit="batch"):
        items = [val[j][0].numpy() for j in range(start, min(start + batch, len(val)))]
        scores[start:start + len(items)] = clf.predict(items)
    real = scores[slots == 0]
    result = {"weights": str(args.weights), "real_crops": int(real.size), "real_mean": float(real.mean())}
    for k, family in enumerate(families, start=1):
        fake = scores[slots == k]
        y = np.r_[np.zeros(real.size), np.ones(fake.size)]
        result[family] = round(float(roc_auc_score(y, np.r_[real, fake])), 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
