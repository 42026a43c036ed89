"""The detector that ships in weights/: present, its sha256 as registered, loads and scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facelab import hub
from facelab.detector.cnn import load_default_classifier
from facelab.detector.crops import face_crop
from facelab.faces.detect import FaceDetector
from facelab.io.image import read_image

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_shipped_weights_match_their_hash_and_card() -> None:
    path = hub.bundled_path(hub.DEFAULT_DETECTOR)  # verifies the sha256 against the registry
    assert path is not None and path.parent.name == "weights"
    assert hub.sha256_file(path) == hub.get_entry(hub.DEFAULT_DETECTOR).sha256
    assert path.stat().st_size <= 15 * 2**20


def test_shipped_detector_scores_the_samples() -> None:
    clf = load_default_classifier("cpu")
    assert clf is not None and clf.arch == "efficientnet_lite0"
    meta = clf.meta
    assert meta["name"] == hub.DEFAULT_DETECTOR and meta["model_card"].startswith("docs/detect.md")
    # the threshold was calibrated on held-out real media, and the fusion weights measured there
    assert 0.0 < clf.threshold < 1.0 and meta["calibration"]["target_fpr"] == 0.05
    assert set(clf.fusion_settings()) == {"cnn_weight", "motion_weight", "aggregate"}
    det = FaceDetector(device="cpu")
    crops = []
    for name in ("astronaut.jpg", "grace_hopper.jpg"):
        img = read_image(SAMPLES / name)
        face = max(det.detect(img), key=lambda f: f.width)
        crops.append(face_crop(img, face.landmarks, clf.spec).crop)
    p = clf.predict(crops)
    assert p.shape == (2,) and np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    # the same crop, self-blended, scores higher than the real one
    from facelab.detector.selfblend import mean_face68, self_blend
    from facelab.faces.align import template

    lm = mean_face68(template(clf.spec.size, clf.spec.margin))
    fakes = [self_blend(crops[0], lm, np.random.default_rng(s)) for s in range(8)]
    assert float(np.mean(clf.predict(fakes))) > float(p[0])
