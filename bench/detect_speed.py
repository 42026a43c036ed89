"""Detect benchmark: frames/s of `facelab detect` at 720p and 1080p, per stage, against a naive loop.

    python bench/detect_speed.py --quick          # alone; bench/run_all.py runs it with the rest

Inputs (made in a temporary folder with facelab's VideoWriter, not timed):
    1280x720 one face: ../shared/data/face_videos/sadtalker_WDA_KatieHill_000.mp4 (512x512, 25 fps,
               200 frames, one talking head) scaled to 720x720 (bicubic) between grey side bars:
               the usual material of deepfake detection (an interview, a news clip)
    1280x720 crowd: facenet_pytorch_video.mp4 (1920x1080, 25 fps, 105 frames, about 5 faces a
               frame) resized with cv2.INTER_AREA
    1920x1080 crowd: that clip itself (re-encoded when cut with `--frames` / `--quick`)

1. **facelab**: :func:`facelab.detector.pipeline.detect_file` (the code behind `facelab detect`),
   landmark-motion check on every frame, the CNN (EfficientNet-Lite0 at 224 px; its ImageNet
   initialisation saved as a detector checkpoint: trained weights cost the same) on every 5th
   frame, faces from 40 px (`--min-size`, where MTCNN's pyramid starts); the full MTCNN on every
   frame (`detect_every` 1) and on every 5th frame (the default)
   with O-Net re-detection of the tracked faces in between (`refine`, so the landmarks are still
   the detector's on every frame); no Grad-CAM. Stage times are the pipeline's own `timings`.
2. **naive**: MTCNN (`FaceDetector(max_side=None)`) on every full-resolution frame, then the
   classifier on every face, one crop per forward pass (`face_crop` + `FakeClassifier.predict`).

Before timing, both run once on a 3-frame clip (PyTorch's first calls allocate). With
`profile=True` the 720p crowd facelab run (default settings) is also run under cProfile (top 10 by own time).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchlib import CLIP_1080, TALKING, best_of, make_clip, profile_top, run_alone, table

from facelab.checkpoint import atomic_save
from facelab.detector.cnn import FakeClassifier, checkpoint_record, classifier_info, create_classifier, load_classifier
from facelab.detector.crops import face_crop
from facelab.detector.landmark_scorer import load_landmark_scorer
from facelab.detector.pipeline import DetectConfig, detect_file, make_detector
from facelab.faces.detect import FaceDetector
from facelab.io.video import VideoReader

STAGES = ("decode", "detect_track", "motion", "cnn", "score_fuse")
NAIVE_STAGES = ("decode", "detect", "crop", "cnn")


def make_classifier(work: Path) -> FakeClassifier:
    arch = "efficientnet_lite0"
    net, info = create_classifier(arch, pretrained=True), classifier_info(arch)
    path = work / "lite0.pt"
    atomic_save(checkpoint_record(net, arch, {}, {"crop": {"size": 224, "margin": 0.3}, "threshold": 0.5,
                                                 "mean": list(info.mean), "std": list(info.std)}), path)
    return load_classifier(path, device="cpu")


def make_inputs(work: Path, frames: int | None) -> dict[str, Path]:
    """{"1280x720 one face": path, "1280x720 crowd": path, "1920x1080 crowd": path}."""
    return {"1280x720 one face": make_clip(TALKING, work / "720p_one.mp4", (1280, 720), frames),
            "1280x720 crowd": make_clip(CLIP_1080, work / "720p.mp4", (1280, 720), frames),
            "1920x1080 crowd": make_clip(CLIP_1080, work / "1080p.mp4", None, frames) if frames else CLIP_1080}


def naive(path: Path, detector: FaceDetector, classifier: FakeClassifier) -> dict[str, Any]:
    st = dict.fromkeys(NAIVE_STAGES, 0.0)
    pc = time.perf_counter
    frames = faces = 0
    t_start = pc()
    with VideoReader(path) as reader:
        it = iter(reader)
        while True:
            t = pc()
            frame = next(it, None)
            st["decode"] += pc() - t
            if frame is None:
                break
            t = pc()
            found = detector.detect(frame)
            st["detect"] += pc() - t
            for f in found:
                t = pc()
                crop = face_crop(frame, f.landmarks, classifier.spec).crop
                t1 = pc()
                classifier.predict([crop], batch_size=1)
                st["crop"] += t1 - t
                st["cnn"] += pc() - t1
            frames, faces = frames + 1, faces + len(found)
    return {"frames": frames, "faces": faces, "seconds": pc() - t_start, "stages_s": st}


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    frames = 4 if args.quick else args.frames
    repeat = 1 if args.quick else args.repeat
    classifier, scorer = make_classifier(work), load_landmark_scorer()
    # facelab: the detector `facelab detect` makes (pyramid from --min-size 40); naive: MTCNN's defaults
    detector, full_res = make_detector(DetectConfig(), "cpu"), FaceDetector(device="cpu", max_side=None)
    inputs = make_inputs(work, frames)
    warm = make_clip(CLIP_1080, work / "warm.mp4", (1280, 720), 3)
    detect_file(warm, DetectConfig(gradcam=False), detector=detector, classifier=classifier, scorer=scorer)
    naive(warm, full_res, classifier)

    rows, profile = [], None
    for size, path in inputs.items():
        dt, r = best_of(lambda: naive(path, full_res, classifier), repeat)
        base = {"size": size, "pipeline": "naive (MTCNN full-res every frame, CNN every face)", "detect_every": 1,
                "cnn_stride": 1, "frames": r["frames"], "faces_per_frame": r["faces"] / max(r["frames"], 1),
                "seconds": dt, "fps": r["frames"] / dt, "ratio_vs_naive": 1.0,
                "ms_per_frame": {k: 1000 * v / max(r["frames"], 1) for k, v in r["stages_s"].items()}}
        rows.append(base)
        for every in (1, DetectConfig.detect_every):
            cfg = DetectConfig(stride=5, detect_every=every, gradcam=False)
            dt, m = best_of(lambda: detect_file(path, cfg, detector=detector, classifier=classifier, scorer=scorer),
                            repeat)
            n = m.frames_analysed
            rows.append({"size": size, "pipeline": "facelab detect_file" + (", O-Net between" if cfg.refine and every > 1 else "")
                         + (" (default)" if every == DetectConfig.detect_every else ""), "detect_every": every, "cnn_stride": 5,
                         "frames": n, "faces_per_frame": len(m.frames) / max(n, 1), "seconds": dt, "fps": n / dt,
                         "ratio_vs_naive": (n / dt) / base["fps"], "cnn_crops": sum(f.cnn is not None for f in m.frames),
                         "ms_per_frame": {k: 1000 * m.timings.get(k, 0.0) / max(n, 1) for k in STAGES}})
            if args.profile and size == "1280x720 crowd" and every == DetectConfig.detect_every:
                profile = profile_top(lambda: detect_file(path, cfg, detector=detector, classifier=classifier,
                                                          scorer=scorer))
        for r in rows[-3:]:
            r["ms_per_frame"] = {k: round(v, 2) for k, v in r["ms_per_frame"].items()}
            r["seconds"] = round(r["seconds"], 3)
            print(json.dumps(r), flush=True)
    md = table(["size", "pipeline", "MTCNN every", "CNN every", "frames", "faces/frame", "fps", "x naive",
                "ms/frame: decode", "detect (+track)", "crop", "motion", "cnn", "score+fuse"],
               [[r["size"], r["pipeline"], r["detect_every"], r["cnn_stride"], r["frames"], r["faces_per_frame"],
                 r["fps"], r["ratio_vs_naive"], r["ms_per_frame"]["decode"],
                 r["ms_per_frame"].get("detect_track", r["ms_per_frame"].get("detect")),
                 r["ms_per_frame"].get("crop"), r["ms_per_frame"].get("motion"), r["ms_per_frame"]["cnn"],
                 r["ms_per_frame"].get("score_fuse")] for r in rows], "llrrrrrrrrrrrr")
    md += "\n\n(facelab's `cnn` column includes cropping; the naive loop's crop is timed apart.)"
    if profile:
        md += "\n\ncProfile, facelab 1280x720 crowd, default settings (top 10 by own time):\n\n```\n" + profile + "\n```"
    return {"rows": rows, "detector": detector.config(), "naive_detector": full_res.config(),
            "classifier": "efficientnet_lite0 224 px (ImageNet init)", "profile_720p": profile, "markdown": md}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--frames", type=int, default=None, help="cut the clip to N frames (default: all 105)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None)
    run_alone(run, ap.parse_args(), "detect")


if __name__ == "__main__":
    main()
