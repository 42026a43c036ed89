"""Calibrate and check the lip-sync check on real talking clips and their mismatched-audio variants.

    python bench/classic_traces.py --out /tmp/traces CLIP...       # once: face traces
    python bench/lipsync_eval.py --traces /tmp/traces CLIP... [--write-calibration]

For every clip with an audio track and a face: its own audio (real), the audio delayed by 1 s
(`shift`), and the audio of the next clip in the list (`swap`, another speaker, from the clip half the list away, so mostly another source; looped or cut to
length). Each window's sync and peak correlations are computed with the 68-point mouth and with
the 5-point fallback. The window logistic model (sync_corr, peak - sync) is fitted with
scikit-learn on real vs shift+swap windows; the check is judged leave-one-clip-out (each clip is
scored by a model fitted without it). `--write-calibration` stores the model fitted on all clips
in facelab/detector/lipsync_calibration.json.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from facelab.detector.facetrace import FaceTrace
from facelab.detector.lipsync import CALIBRATION, LipSyncConfig, config_to_json, lip_sync
from facelab.io.audio import read_audio

OUT = Path(__file__).resolve().parents[1] / "facelab" / "detector" / "lipsync_calibration.json"


def main_track(traces: Path, stem: str) -> FaceTrace | None:
    found = [FaceTrace.load(p) for p in sorted(traces.glob(f"{stem}__t*.npz"))]
    return max(found, key=len) if found else None


def windows(trace: FaceTrace, audio: np.ndarray, sr: int, cfg: LipSyncConfig) -> list[tuple[float, float]]:
    res = lip_sync(trace, audio, sr, trace.fps, cfg)
    return [(w.sync_corr, w.peak_corr - w.sync_corr, w.best_lag) for w in res.evidence]


def track_p(feats: list[tuple[float, float]], model: LogisticRegression) -> float | None:
    if not feats:
        return None
    z = model.decision_function(np.asarray(feats)[:, :2])
    return float(1 / (1 + math.exp(-z.mean())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--traces", type=Path, required=True)
    ap.add_argument("--write-calibration", action="store_true")
    ap.add_argument("--stride", type=float, default=CALIBRATION.stride_s, help="window step in seconds")
    args = ap.parse_args()
    cfg = replace(CALIBRATION, stride_s=args.stride)
    clips = []
    for c in args.clips:
        a = read_audio(c)
        tr = main_track(args.traces, c.stem)
        if a is None or tr is None or not tr.fps:
            print(f"skip {c.name}: {'no audio' if a is None else 'no face'}")
            continue
        clips.append((c, tr, a))
    rows = {}
    for source in ("dlib68", "5pt"):
        feats: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for i, (c, tr, a) in enumerate(clips):
            t = tr if source == "dlib68" else replace(tr, points68=None)
            x, sr = a.samples, a.sample_rate
            other = clips[(i + len(clips) // 2) % len(clips)][2].samples  # half the list away: another source
            other = np.resize(other, len(x))  # loop or cut to length
            shifted = np.concatenate([np.zeros(sr, np.float32), x])[: len(x)]
            feats[c.name] = {"real": windows(t, x, sr, cfg), "shift": windows(t, shifted, sr, cfg),
                             "swap": windows(t, other, sr, cfg)}
        names = [n for n in feats if feats[n]["real"]]

        def fit(exclude: str | None) -> LogisticRegression:
            X, y = [], []
            for n in names:
                if n == exclude:
                    continue
                for kind, lab in (("real", 0), ("shift", 1), ("swap", 1)):
                    X += feats[n][kind]
                    y += [lab] * len(feats[n][kind])
            return LogisticRegression(C=1.0, class_weight="balanced").fit(np.asarray(X)[:, :2], np.asarray(y))

        table = []
        for n in names:
            m = fit(n)
            table.append([n] + [track_p(feats[n][k], m) for k in ("real", "shift", "swap")]
                         + [len(feats[n]["real"]), float(np.median([f[0] for f in feats[n]["real"]]))])
        print(f"\n## mouth from {source}: {len(names)} clips with speech windows (leave-one-clip-out)")
        print("| clip | windows | median sync corr (real) | p real | p shift 1 s | p other speech |")
        print("|---|---|---|---|---|---|")
        for n, pr, ps, pw, nw, med in table:
            print(f"| {n} | {nw} | {med:.2f} | {pr:.2f} | {ps if ps is None else f'{ps:.2f}'} | "
                  f"{pw if pw is None else f'{pw:.2f}'} |")
        lags = [f[2] for n in names for f in feats[n]["real"]]
        print(f"best lag of the real windows: median {np.median(lags):+.2f} s, IQR {np.percentile(lags, 25):+.2f} to "
              f"{np.percentile(lags, 75):+.2f} s")
        real = [r[1] for r in table]
        fake = [r[k] for r in table for k in (2, 3) if r[k] is not None]
        auc = roc_auc_score([0] * len(real) + [1] * len(fake), real + fake)
        print(f"real passed (p < 0.5): {sum(p < 0.5 for p in real)}/{len(real)}; shifted flagged (p > 0.5): "
              f"{sum(r[2] is not None and r[2] > 0.5 for r in table)}/{len(table)}; other speech flagged: "
              f"{sum(r[3] is not None and r[3] > 0.5 for r in table)}/{len(table)}; clip AUC {auc:.3f}")
        rows[source] = fit(None)
        m = rows[source]
        print(f"model on all: coef {m.coef_[0].round(3).tolist()} intercept {float(m.intercept_[0]):.3f}")
    if args.write_calibration:
        m, m5 = rows["dlib68"], rows["5pt"]
        cal = replace(cfg, coef=(round(float(m.coef_[0][0]), 4), round(float(m.coef_[0][1]), 4)),
                      intercept=round(float(m.intercept_[0]), 4),
                      coef_5pt=(round(float(m5.coef_[0][0]), 4), round(float(m5.coef_[0][1]), 4)),
                      intercept_5pt=round(float(m5.intercept_[0]), 4))
        OUT.write_text(json.dumps({"made_by": "bench/lipsync_eval.py --write-calibration",
                                   "clips": [c.name for c, _, _ in clips], "config": config_to_json(cal)},
                                  indent=2) + "\n")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
