"""`facelab demo`: the main job on the bundled samples, offline, in a few minutes on 2 CPU cores.

Steps (each writes into the demo folder):
1. data: a small aligned training set made from the sample photos: (photo crop, sepia(photo crop)).
2. train: a small Pix2Pix (unet_128, ngf 16, 128 px crops) for a few hundred iterations.
3. translate: the held-out sample photo and the sample video (audio kept) with the trained model.
4. score: PSNR of the translation against the known sepia ground truth, next to the identity baseline.
5. swap: one-shot face swap of one sample face into the other sample photo and into the sample
   video (MTCNN, alignment, colour transfer, feathered blend), each with its JSON sidecar.
6. detect: `facelab detect` on the sample video and photo and on the fakes made in step 5, with
   the shipped CNN (``weights/deepfake_sbi_lite0.pth``, when this install has it) and the
   landmark-motion check, written as detect.json and an offline HTML report.

No weights are downloaded: the model is trained here, so the outputs are real translations.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from facelab.config import Pix2PixConfig
from facelab.data.synthetic import get_task, make_pairs, psnr
from facelab.errors import InputError, OutputError
from facelab.io.image import read_image, write_image

log = logging.getLogger(__name__)

TRAIN_PHOTOS = ("astronaut.jpg", "coffee.jpg", "chelsea.jpg", "rocket.jpg")
HELD_OUT_PHOTO = "grace_hopper.jpg"
SAMPLE_VIDEO = "astronaut_pan.mp4"
SWAP_TARGET = "astronaut.jpg"
MARKER = ".facelab-demo"


def find_samples(explicit: str | Path | None = None) -> Path:
    """The bundled samples: `explicit`, else the checkout's `samples/`, else `./samples`."""
    candidates = [Path(explicit)] if explicit else [Path(__file__).resolve().parents[1] / "samples", Path("samples")]
    for c in candidates:
        if (c / HELD_OUT_PHOTO).is_file():
            return c
    raise InputError(candidates[0], f"sample files not found (looked for {HELD_OUT_PHOTO}); "
                     "run from the facelab checkout or pass --samples DIR")


def demo_config(out: Path, steps: int, device: str) -> Pix2PixConfig:
    """A Pix2Pix small enough to learn the sepia task in a couple of minutes on 2 CPU cores."""
    base = Pix2PixConfig(dataroot=str(out / "data"), out=str(out / "run"))
    return replace(base, netG="unet_128", ngf=16, ndf=16, load_size=144, crop_size=128, batch_size=2,
                   n_epochs=1000, n_epochs_decay=0, max_steps=steps, workers=0, display_every=max(1, steps // 4),
                   print_every=10, save_latest_every=steps, save_epoch_every=1000, device=device)


def run_demo(out: str | Path, *, samples: str | Path | None = None, steps: int = 300, device: str = "auto",
             on_step: Callable[[dict[str, Any]], None] | None = None,
             on_frames: Callable[[int, int | None], None] | None = None,
             on_swap_frames: Callable[[int, int | None], None] | None = None,
             on_detect_frames: Callable[[int, int], None] | None = None,
             overwrite: bool = False) -> dict[str, Any]:
    """Run the demo; returns a summary (also written to OUT/summary.json)."""
    from facelab.translate.infer import load_translator
    from facelab.translate.pipeline import Job, translate_image_file, translate_video_file
    from facelab.translate.trainer import train

    out, src = Path(out), find_samples(samples)
    if out.exists() and any(out.iterdir()):
        # a folder left by an earlier demo (it has our marker file) is replaced; anything else needs --overwrite
        if not (overwrite or (out / MARKER).is_file()):
            raise OutputError(out, "folder exists and is not a facelab demo folder; pass --overwrite or choose another -o")
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by facelab demo; the next `facelab demo` replaces this folder\n")
    task = get_task("sepia")

    # 1. data from the sample photos (the held-out photo is not among them)
    photos = [src / p for p in TRAIN_PHOTOS if (src / p).is_file()]
    make_pairs(photos, out / "data", "sepia", crops_per_image=24, size=144, layout="aligned")

    # 2. train
    cfg = demo_config(out, steps, device)
    run = train(cfg, on_step=on_step)

    # 3. translate a held-out photo and the sample video with the trained generator
    tr = load_translator(weights=run, device=device, inference="eval")
    photo = src / HELD_OUT_PHOTO
    translate_image_file(tr, Job(photo, out / "grace_hopper_sepia.jpg", "image"))
    video = src / SAMPLE_VIDEO
    frames = 0
    if video.is_file():
        frames = translate_video_file(tr, Job(video, out / "astronaut_pan_sepia.mp4", "video"),
                                      batch_size=8, on_frames=on_frames).frames

    # 4. score against the known ground truth
    real = read_image(photo)
    truth, fake = task(real), read_image(out / "grace_hopper_sepia.jpg")
    write_image(out / "grace_hopper_ground_truth.jpg", truth)
    # 5. one-shot face swap: Grace Hopper's face onto the astronaut, in the photo and the video
    from facelab.faces.detect import FaceDetector
    from facelab.swap.oneshot import OneShotSource, SwapSettings, default_landmarks
    from facelab.swap.pipeline import swap_image_file, swap_video_file

    detector, settings = FaceDetector(device=device), SwapSettings(landmarks=default_landmarks())
    source = OneShotSource.from_photo(photo, detector, settings)
    swapped = swap_image_file(source, src / SWAP_TARGET, out / "astronaut_swapped.jpg", detector, settings)
    swapped_video = None
    if video.is_file():
        swapped_video = swap_video_file(source, video, out / "astronaut_pan_swapped.mp4", detector, settings,
                                        on_frame=on_swap_frames)

    # 6. detect on the real sample and on the fake just made
    detected = _detect(detector, [video, out / "astronaut_pan_swapped.mp4", src / SWAP_TARGET,
                                  out / "astronaut_swapped.jpg"], out, on_detect_frames)

    summary = {
        "task": "photo -> sepia (pix2pix, trained here on crops of the sample photos)",
        "train_photos": [p.name for p in photos], "steps": steps,
        "psnr_db": {"identity_baseline": round(psnr(real, truth), 2), "facelab_pix2pix": round(psnr(fake, truth), 2)},
        "outputs": sorted([p.name for p in out.iterdir() if p.is_file() and p.name != MARKER] + ["summary.json"]),
        "video_frames": frames, "run": str(run),
        "swap": {"photo_faces": sum(len(f["faces"]) for f in swapped.frames),
                 "video_frames_changed": sum(1 for f in swapped_video.frames if f["faces"]) if swapped_video else 0,
                 "video_frames": swapped_video.frames_total if swapped_video else 0},
        "detect": detected,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _detect(detector: Any, media: list[Path], out: Path,
            on_frame: Callable[[int, int], None] | None) -> list[dict[str, Any]]:
    from facelab.detector.cnn import load_default_classifier
    from facelab.detector.fuse import FusionConfig
    from facelab.detector.landmark_scorer import load_landmark_scorer
    from facelab.detector.pipeline import DetectConfig, detect_files
    from facelab.detector.report import write_html, write_json

    classifier = load_default_classifier(device=getattr(detector, "device", "cpu"))
    fusion = FusionConfig(**classifier.fusion_settings()) if classifier is not None else FusionConfig()
    cfg = DetectConfig(cnn=classifier is not None, fusion=fusion)
    results = list(detect_files([m for m in media if m.is_file()], cfg, detector=detector, classifier=classifier,
                                scorer=load_landmark_scorer(), on_frame=on_frame))
    write_json(results, out / "detect.json")
    write_html(results, out / "detect_report.html", title="facelab demo: detect")
    return [{"file": Path(r.path).name, "verdict": r.verdict, "fake_probability": r.fake_probability,
             "error": r.error, "cnn_weights": r.cnn.details.get("name") if r.cnn.ran else None} for r in results]


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())
