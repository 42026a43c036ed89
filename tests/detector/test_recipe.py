"""The shipped detector's recipe (tools/train_default_detector.py), end to end at toy size: real-face
cache, a `facelab fakes` data set of the train split, training with every fake family, held-out
swaps, calibration and the float16 export, on real media with the real MTCNN."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from facelab.detector.cnn import load_classifier
from facelab.detector.dataset import read_manifest
from facelab.detector.realfaces import load_real_cache

ROOT = Path(__file__).resolve().parents[2]


def test_the_recipe_trains_calibrates_and_exports(shared_data: Path, tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / "export.pth"
    real = [ROOT / "samples" / "astronaut_pan.mp4", shared_data / "face_videos" / "tpsmm_driving.mp4",
            shared_data / "faces" / "facenet_pytorch" / "test_images", shared_data / "real_faces" / "openface"]
    args = [sys.executable, str(ROOT / "tools" / "train_default_detector.py"), "--run", str(run), "--out", str(out),
            "--arch", "tiny", "--crop-size", "64", "--epochs", "1", "--max-steps", "2", "--renderer-steps", "2"]
    for r in real:
        args += ["--real", str(r)]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{out}: " in proc.stdout and "sha256" in proc.stdout

    # the fakes data set holds only the train split's sources: validation faces stay unseen
    faces = load_real_cache(run / "reals")
    train_sources = {str(faces.source[i]) for i in faces.indices("train")}
    val_sources = {str(faces.source[i]) for i in faces.indices("val")}
    assert val_sources and not train_sources & val_sources
    assert {r.source for r in read_manifest(run / "fakes")} <= train_sources

    # every family was validated, the dataset family among them
    line = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert set(line["family_auc"]) == {"sbi", "swap", "dense", "rerender", "dataset"}

    # calibrated on held-out real media and swaps onto them; the export carries it, in float16
    cal = json.loads((run / "calibration.json").read_text())
    labels = {m["label"] for m in cal["calibration"]["media"]}
    assert labels == {0, 1} and {m["path"] for m in cal["calibration"]["media"] if m["label"] == 0} <= val_sources
    record = torch.load(out, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in record["state_dict"].values() if v.is_floating_point())
    assert record["meta"]["threshold"] == cal["calibration"]["threshold"]
    clf = load_classifier(out, device="cpu")
    assert clf.threshold == cal["calibration"]["threshold"]
    assert set(clf.fusion_settings()) == {"cnn_weight", "motion_weight", "aggregate"}
