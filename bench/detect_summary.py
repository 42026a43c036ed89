"""Summarise `facelab detect --json` outputs against known labels: per-file table, AUC, rates.

    facelab detect ../shared/data/deepfake_dev --json dev.json
    facelab detect ../shared/data/face_videos ../shared/data/real_faces --json reals.json
    python bench/detect_summary.py dev.json --label-from-name
    python bench/detect_summary.py reals.json --label real --videos-only

``--label-from-name``: a file whose name contains ``real`` is real, every other file fake (the
naming of ``deepfake_dev``). ``--label real|fake``: every file has that label. Prints a markdown
table (file, label, verdict, fused probability, CNN and motion probabilities as `facelab detect`
reports them), then the share of each verdict per label and, with both labels, the ROC-AUC of
the fused probability.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from facelab.detector.metrics import compute_metrics


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", type=Path)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--label-from-name", action="store_true")
    group.add_argument("--label", choices=["real", "fake"])
    ap.add_argument("--videos-only", action="store_true")
    args = ap.parse_args()
    records = [r for p in args.json for r in json.loads(p.read_text())]
    if args.videos_only:
        records = [r for r in records if r.get("kind") == "video"]
    print("| file | label | verdict | fused p | CNN p | motion p |")
    print("|---|---|---|---|---|---|")
    labels, scores, tally = [], [], Counter()
    for r in records:
        name = Path(r["path"]).name
        label = ("real" if "real" in name else "fake") if args.label_from_name else args.label
        if r.get("error"):
            print(f"| {name} | {label} | error: {r['error']} | | | |")
            continue
        sig = r.get("signals", {})
        print(f"| {name} | {label} | {r['verdict']} | {_f(r['fake_probability'])} | "
              f"{_f(sig.get('cnn', {}).get('probability'))} | {_f(sig.get('landmark_motion', {}).get('probability'))} |")
        tally[(label, r["verdict"])] += 1
        if r["fake_probability"] is not None:
            labels.append(int(label == "fake"))
            scores.append(float(r["fake_probability"]))
    print()
    for label in ("real", "fake"):
        n = sum(v for (lab, _), v in tally.items() if lab == label)
        if n:
            parts = ", ".join(f"{tally[(label, v)]} {v}" for v in ("REAL", "FAKE", "UNCERTAIN"))
            print(f"{label}: {n} files: {parts}")
    if len(set(labels)) == 2:
        m = compute_metrics(labels, scores, threshold=0.65)
        right = tally[("real", "REAL")] + tally[("fake", "FAKE")]
        print(f"ROC-AUC {m['roc_auc']:.3f} over {m['n']} files; verdicts right {right} of {sum(tally.values())}")


if __name__ == "__main__":
    main()
