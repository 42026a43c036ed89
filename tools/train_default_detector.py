"""The recipe of the shipped detector (weights/deepfake_sbi_lite0.pth), end to end.

    python tools/train_default_detector.py --data ../shared/data --run runs/default_detector

1. **Real faces** of DATA's ``faces/``, ``face_videos/`` and ``real_faces/``, found, aligned to
   192 px crops and cached once (``RUN/reals`` or ``--real-cache``), split by source: whole
   videos and photo folders go to validation and are never trained on.
2. **facelab's own swaps** (skipped when ``RUN/fakes/manifest.csv`` exists): ``facelab fakes`` on
   the train split's sources only (one-shot swaps between them, every 10th frame, at most 16
   frames per face track), the ``dataset`` fake family.
3. **Train** (skipped when ``RUN/best.pt`` exists), the same as the one command::

       facelab train detector RUN/fakes --real DATA/faces --real DATA/face_videos \\
           --real DATA/real_faces -o RUN --crop-size 192 --epochs 8 --workers 0 --freeze 2 \\
           --lr 1e-4 --group-power 0.5 --renderer-steps 1500 \\
           --fakes sbi:0.35,swap:0.15,dense:0.15,rerender:0.15,dataset:0.2

   (the face renderer of the rerender family trains first, about 8 minutes.)
4. **Held-out media**: the validation split's real videos and photos, and facelab one-shot swaps
   made here onto each of them, with donors from other validation sources: the manipulation of
   step 2, on faces that neither it nor training ever saw.
5. **Detect** on all of them with the trained CNN (threshold 0.5, so the raw frame scores are
   kept) and the landmark-motion check.
6. **Measure and calibrate**, never on ``deepfake_dev``:
   - the per-video aggregation of frame scores (``mean`` or ``top_half``), by AUC of the CNN's
     video scores, real vs swapped;
   - the decision threshold: the lowest one at which at most 5 % of the held-out real **videos**
     are called FAKE, and at least the 95th percentile of the held-out real crops' scores (videos
     and photos: a floor that a handful of videos cannot give);
   - the fusion weights, ``max(0, 2 AUC - 1)`` of each signal's video scores on the same videos
     (the landmark check only scores videos, so both are measured on videos).
7. **Export** the best epoch in float16 with all of that in its ``meta`` to
   ``weights/deepfake_sbi_lite0.pth``, and print its sha256 (record it in ``facelab/hub.py``).

Writes ``RUN/calibration.json`` with every number used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from facelab.detector.cnn import load_classifier, read_checkpoint
from facelab.detector.crops import CropSpec
from facelab.detector.fakes import FakesConfig, build_fakes
from facelab.detector.fuse import AGGREGATES, FusionConfig, deciding_tracks, track_cnn_probability
from facelab.detector.landmark_scorer import load_landmark_scorer
from facelab.detector.metrics import compute_metrics
from facelab.detector.pipeline import DetectConfig, detect_files, make_detector
from facelab.detector.realfaces import build_real_cache, load_real_cache
from facelab.detector.train import DetectorTrainConfig, train_detector
from facelab.errors import FacelabError

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "weights" / "deepfake_sbi_lite0.pth"
TARGET_FPR = 0.05
EPOCHS = 8
CROP = 192
DATA_FOLDERS = ("faces", "face_videos", "real_faces")
FAKES = "sbi:0.35,swap:0.15,dense:0.15,rerender:0.15,dataset:0.2"
log = logging.getLogger("train_default_detector")


class Bars:
    """One tqdm bar per long stage of the recipe (real faces, facelab fakes, training steps)."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm] = {}

    def update(self, stage: str, n: int, total: int | None, unit: str = "frame") -> None:
        if stage not in self.bars:
            self.close()
            self.bars[stage] = tqdm(total=total or None, unit=unit, desc=stage)
        self.bars[stage].update(n)

    def step(self, info: dict[str, Any]) -> None:
        if "train" not in self.bars:
            self.close()
            self.bars["train"] = tqdm(total=info["total"], initial=info["iteration"] - 1, unit="it", desc="train")
        self.bars["train"].update(1)
        self.bars["train"].set_postfix({k: f"{v:.3f}" for k, v in info["losses"].items()}, refresh=False)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def train(args: argparse.Namespace) -> None:
    real = tuple(str(p) for p in args.real) if args.real else tuple(str(args.data / d) for d in DATA_FOLDERS)
    cache = args.real_cache or args.run / "reals"
    bars = Bars()
    try:
        # the trainer's own call, with its settings: the trainer then loads this cache as it is
        faces = build_real_cache(real, cache, CropSpec(args.crop_size, 0.3), seed=0,
                                 on_frames=lambda n, total: bars.update("real faces", n, total))
        fakes = args.run / "fakes"
        if not (fakes / "manifest.csv").is_file():  # one-shot swaps among the train split's sources only
            sources = sorted({str(faces.source[i]) for i in faces.indices("train")})
            log.info("facelab fakes on the %d sources of the train split -> %s", len(sources), fakes)
            build_fakes(sources, fakes, FakesConfig(every=10, max_frames=16, motion_frames=0, seed=0), overwrite=True,
                        on_progress=bars.update)
        cfg = DetectorTrainConfig(out=str(args.run), real=real, real_cache=str(cache), dataset=str(fakes),
                                  crop_size=args.crop_size, epochs=args.epochs, arch=args.arch,
                                  pretrained=args.arch == "efficientnet_lite0", max_steps_per_epoch=args.max_steps,
                                  workers=0, freeze=2 if args.arch == "efficientnet_lite0" else 0, lr=1e-4,
                                  fakes=FAKES, renderer_steps=args.renderer_steps, group_power=0.5)
        train_detector(cfg, on_step=bars.step)
    finally:
        bars.close()


def held_out_media(run: Path, work: Path) -> tuple[list[Path], list[Path]]:
    """(real media of the val split, facelab one-shot swaps onto them)."""
    from facelab.faces.detect import FaceDetector
    from facelab.swap.oneshot import OneShotSource, SwapSettings
    from facelab.swap.pipeline import swap_image_file, swap_video_file

    meta = read_checkpoint(run / "best.pt")["meta"]
    faces = load_real_cache(meta["dataset"])
    val = faces.indices("val")
    sources = sorted({(str(faces.source[i]), str(faces.kind[i]), str(faces.group[i])) for i in val})
    reals = [Path(s) for s, _, _ in sources]
    photos = [(Path(s), g) for s, k, g in sources if k == "photo"]
    detector, settings = FaceDetector(device="cpu"), SwapSettings()
    donors: list[tuple[OneShotSource, str]] = []
    for p, g in photos:
        try:
            donors.append((OneShotSource.from_photo(p, detector, settings), g))
        except Exception as exc:  # a group photo or no face: not a donor
            log.info("no donor from %s: %s", p, exc)
    fakes: list[Path] = []
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for src, kind, group in sources:
        pool = [d for d, g in donors if g != group]
        if not pool:
            continue
        picks = [pool[int(j)] for j in rng.choice(len(pool), size=min(3 if kind == "video" else 1, len(pool)),
                                                  replace=False)]
        for k, donor in enumerate(picks):
            dst = work / f"{Path(src).stem}_{group.replace('/', '_')}_swap{k}{Path(src).suffix if kind == 'video' else '.png'}"
            if dst.is_file():
                fakes.append(dst)
                continue
            try:
                if kind == "video":
                    swap_video_file(donor, src, dst, detector, settings)
                else:
                    swap_image_file(donor, src, dst, detector, settings)
                fakes.append(dst)
            except Exception as exc:
                log.warning("swap onto %s failed: %s", src, exc)
    return reals, fakes


def frame_scores(results: list[Any]) -> list[dict[str, Any]]:
    """Per medium: raw CNN probabilities of each deciding track, the motion probability, the kind."""
    out = []
    for r in results:
        if r.error is not None:
            continue
        deciding = {t.track for t in deciding_tracks(r.tracks)}  # the tracks `facelab detect` lets decide
        per_track: dict[int, list[float]] = {}
        for f in r.frames:
            if f.cnn is not None:
                per_track.setdefault(f.track, []).append(float(f.cnn))
        keep = {tid: ps for tid, ps in per_track.items() if tid in deciding}
        motion = [t.motion.probability for t in r.tracks if t.motion.ran and t.motion.probability is not None]
        out.append({"path": r.path, "kind": r.kind, "tracks": keep, "motion": max(motion) if motion else None})
    return out


def media_score(m: dict[str, Any], threshold: float, how: str) -> float | None:
    vals = [track_cnn_probability(ps, threshold, how) for ps in m["tracks"].values() if ps]
    return max(vals) if vals else None


def auc(reals: list[float], fakes: list[float]) -> float | None:
    if not reals or not fakes:
        return None
    return compute_metrics([0] * len(reals) + [1] * len(fakes), reals + fakes)["roc_auc"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "default_detector")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--real-cache", type=Path, default=None,
                    help="the aligned real-face cache, made once (default: RUN/reals)")
    ap.add_argument("--real", type=Path, action="append",
                    help="real media instead of DATA's faces/, face_videos/ and real_faces/ (repeatable)")
    # the recipe's settings; other values only for the smoke run of the tests (a tiny network)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--crop-size", type=int, default=CROP)
    ap.add_argument("--arch", default="efficientnet_lite0")
    ap.add_argument("--max-steps", type=int, default=None, help="steps per epoch at most")
    ap.add_argument("--renderer-steps", type=int, default=1500)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    # 1-3. real faces, facelab swaps of the train split, training
    if not (args.run / "best.pt").is_file():
        created = not args.run.exists()
        try:
            train(args)
        except FacelabError:
            if created:  # bad input: no partial run left behind (an interrupted one is kept, to resume)
                shutil.rmtree(args.run, ignore_errors=True)
            raise
    # 4. held-out media
    reals, fakes = held_out_media(args.run, args.run / "heldout_swaps")
    log.info("held-out media: %d real, %d facelab one-shot swaps", len(reals), len(fakes))
    # 5. detect, raw CNN scores
    clf = load_classifier(args.run / "best.pt", device="cpu")
    clf.threshold = 0.5
    cfg = DetectConfig(gradcam=False)
    runs = list(detect_files(reals + fakes, cfg, detector=make_detector(cfg, "cpu"), classifier=clf,
                             scorer=load_landmark_scorer()))
    media = frame_scores(runs)
    real_set = {str(p) for p in reals}
    for m in media:
        m["label"] = 0 if m["path"] in real_set else 1

    # 6a. aggregation, by video AUC at the EER threshold of training
    ckpt = read_checkpoint(args.run / "best.pt")
    meta = ckpt["meta"]
    t_eer = float(meta["threshold"])
    videos = [m for m in media if m["kind"] == "video"]
    agg_auc: dict[str, float | None] = {}
    for how in AGGREGATES:
        r = [s for m in videos if m["label"] == 0 and (s := media_score(m, t_eer, how)) is not None]
        f = [s for m in videos if m["label"] == 1 and (s := media_score(m, t_eer, how)) is not None]
        agg_auc[how] = auc(r, f)
    how = max(AGGREGATES, key=lambda k: -1 if agg_auc[k] is None else agg_auc[k])

    # 6b. threshold: at most 5 % of held-out real videos FAKE, and no lower than the real crops' q95
    band = FusionConfig().band
    real_media = [m for m in media if m["label"] == 0 and m["tracks"]]
    real_videos = [m for m in real_media if m["kind"] == "video"]
    grid = np.linspace(0.02, 0.995, 400)
    t_media = next((float(t) for t in grid
                    if np.mean([media_score(m, float(t), how) >= 0.5 + band for m in real_videos]) <= TARGET_FPR),
                   float(grid[-1]))
    crop_scores = [p for m in real_media for ps in m["tracks"].values() for p in ps]
    t_crop = float(np.quantile(crop_scores, 0.95)) if crop_scores else 0.5
    threshold = max(t_media, t_crop)

    # 6c. fusion weights from the signals' video AUCs
    cnn_r = [s for m in videos if m["label"] == 0 and (s := media_score(m, threshold, how)) is not None]
    cnn_f = [s for m in videos if m["label"] == 1 and (s := media_score(m, threshold, how)) is not None]
    mot_r = [m["motion"] for m in videos if m["label"] == 0 and m["motion"] is not None]
    mot_f = [m["motion"] for m in videos if m["label"] == 1 and m["motion"] is not None]
    cnn_auc, mot_auc = auc(cnn_r, cnn_f), auc(mot_r, mot_f)
    all_r = [s for m in media if m["label"] == 0 and (s := media_score(m, threshold, how)) is not None]
    all_f = [s for m in media if m["label"] == 1 and (s := media_score(m, threshold, how)) is not None]
    media_auc = auc(all_r, all_f)
    w_cnn = round(max(0.05, 2 * (cnn_auc if cnn_auc is not None else 0.5) - 1), 3)
    w_mot = round(max(0.0, 2 * (mot_auc if mot_auc is not None else 0.5) - 1), 3)
    fpr = float(np.mean([media_score(m, threshold, how) >= 0.5 + band for m in real_media]))
    fpr_videos = float(np.mean([media_score(m, threshold, how) >= 0.5 + band for m in real_videos]))
    tpr = float(np.mean([s >= 0.5 + band for s in all_f])) if all_f else None
    calibration = {
        "target_fpr": TARGET_FPR, "threshold": threshold, "threshold_media": t_media, "threshold_crop_q95": t_crop,
        "eer_threshold_val_crops": t_eer, "real_videos": len(real_videos), "real_media": len(real_media),
        "fake_media": len(all_f),
        "real_media_fake_rate": fpr, "real_video_fake_rate": fpr_videos, "swapped_media_fake_rate": tpr,
        "media": [
            {"path": m["path"], "label": m["label"], "score": media_score(m, threshold, how), "motion": m["motion"]}
            for m in media],
    }
    fusion = {"config": {"cnn_weight": w_cnn, "motion_weight": w_mot, "aggregate": how},
              "measured": {"aggregate_video_auc": agg_auc, "cnn_media_auc": media_auc, "cnn_video_auc": cnn_auc,
                           "motion_video_auc": mot_auc},
              "on": "held-out real videos and photos of the validation split, and facelab one-shot swaps onto them"}
    (args.run / "calibration.json").write_text(json.dumps({"calibration": calibration, "fusion": fusion}, indent=2))
    log.info("aggregate %s (video AUC %s); threshold %.4f (media %.4f, crop q95 %.4f); weights cnn %s motion %s",
             how, agg_auc, threshold, t_media, t_crop, w_cnn, w_mot)

    # 7. export, float16
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
    out_meta = {**meta, "threshold": threshold, "eer_threshold": t_eer, "name": "deepfake_sbi_lite0",
                "model_card": "docs/detect.md#the-shipped-detector", "licence": "research and evaluation only",
                "calibration": {k: v for k, v in calibration.items() if k != "media"}, "fusion": fusion,
                "dataset": "shared real-face media (faces/, face_videos/, real_faces/; research-only)"}
    out_meta.get("config", {}).pop("real_cache", None)
    record = {"arch": ckpt["arch"], "arch_kwargs": ckpt["arch_kwargs"], "state_dict": state, "meta": out_meta}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(record, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"{args.out}: {args.out.stat().st_size / 2**20:.1f} MiB, sha256 {digest}")


if __name__ == "__main__":
    try:
        main()
    except FacelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
