"""The classifier registry, the EfficientNet-Lite0 weight mapping, checkpoints and Grad-CAM."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facelab.checkpoint import atomic_save
from facelab.detector.cnn import (
    CHECKPOINT_KIND,
    FakeClassifier,
    checkpoint_record,
    classifier_info,
    create_classifier,
    efficientnet_lite0_imagenet,
    list_classifiers,
    load_classifier,
)
from facelab.detector.crops import CropSpec
from facelab.errors import ConfigError, InputError, WeightsError
from facelab.io.image import read_image

ROOT = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)


def test_registry_lists_the_archs_with_their_metadata() -> None:
    assert list_classifiers() == ["efficientnet_lite0", "mobilenet_v3_small", "resnet18", "tiny"]
    lite = classifier_info("efficientnet_lite0")
    assert lite.mean == lite.std == (0.5, 0.5, 0.5) and lite.licence == "Apache-2.0" and lite.weights
    assert classifier_info("resnet18").mean == (0.485, 0.456, 0.406) and classifier_info("resnet18").weights is None
    with pytest.raises(ConfigError, match="tiny"):
        classifier_info("vgg")
    with pytest.raises(ConfigError, match="one output"):
        create_classifier("tiny", pretrained=False, num_classes=2)


@pytest.mark.parametrize("arch", ["tiny", "resnet18", "mobilenet_v3_small", "efficientnet_lite0"])
def test_every_arch_gives_one_logit_per_image(arch: str) -> None:
    net = create_classifier(arch, pretrained=False).eval()
    with torch.no_grad():
        out = net(torch.zeros(2, 3, 64, 64))
    assert out.shape == (2,) and out.dtype == torch.float32
    assert next(net.parameters()).device.type == "cpu"
    if arch == "tiny":
        assert 2_000 < sum(p.numel() for p in net.parameters()) < 20_000


def test_lite0_imagenet_weights_map_onto_timm_coffee_is_espresso() -> None:
    """If the 296 tensors were mapped in the wrong order or preprocessed wrongly, this fails."""
    net = efficientnet_lite0_imagenet().eval()
    img = read_image(ROOT / "samples" / "coffee.jpg")  # 600x400
    x = cv2.resize(img, (224, 224), interpolation=cv2.INTER_AREA)
    t = (torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255 - 0.5) / 0.5
    with torch.no_grad():
        probs = net(t).softmax(1)[0]
    top = int(probs.argmax())
    assert top in (967, 968, 504), f"top class {top}"  # espresso, cup, coffee mug
    assert float(probs[[967, 968, 504]].sum()) > 0.5


def test_pretrained_classifier_keeps_the_imagenet_features_and_starts_near_half() -> None:
    ref = efficientnet_lite0_imagenet()
    net = create_classifier("efficientnet_lite0", pretrained=True).eval()
    assert torch.equal(net.net.conv_stem.weight, ref.conv_stem.weight)
    assert torch.equal(net.net.bn2.running_var, ref.bn2.running_var)
    img = cv2.resize(read_image(ROOT / "samples" / "astronaut.jpg"), (224, 224))
    with torch.no_grad():
        p = torch.sigmoid(net((torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255 - 0.5) / 0.5))
    assert 0.2 < float(p) < 0.8  # small head init: no saturated logits before training


def _save_tiny(path: Path, size: int = 32, threshold: float = 0.4) -> None:
    torch.manual_seed(0)
    net = create_classifier("tiny", pretrained=False, width=4)
    meta = {"crop": CropSpec(size, 0.3).to_dict(), "mean": [0.5] * 3, "std": [0.5] * 3, "threshold": threshold,
            "metrics": {"roc_auc": 0.9}, "epoch": 1, "config": {}}
    atomic_save(checkpoint_record(net, "tiny", {"width": 4}, meta), path)


def test_checkpoint_round_trip_predict_and_describe(tmp_path: Path) -> None:
    _save_tiny(tmp_path / "best.pt")
    clf = load_classifier(tmp_path)  # a run folder -> best.pt
    assert isinstance(clf, FakeClassifier) and clf.arch == "tiny" and clf.threshold == pytest.approx(0.4)
    assert clf.spec == CropSpec(32, 0.3) and clf.path.endswith("best.pt") and clf.device.type == "cpu"
    crops = list(np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8))
    p = clf.predict(crops, batch_size=2)
    assert p.shape == (5,) and p.dtype == np.float32 and ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p, clf.predict(crops, batch_size=5), atol=1e-6)  # batching changes nothing (eval)
    assert clf.predict([]).shape == (0,)
    d = clf.describe()
    assert d["arch"] == "tiny" and d["crop"] == {"size": 32, "margin": 0.3} and d["metrics"]["roc_auc"] == 0.9
    with pytest.raises(ValueError, match=r"uint8 \(32, 32, 3\)"):
        clf.predict([np.zeros((64, 64, 3), np.uint8)])


def test_gradcam_shape_range_and_hooks_removed(tmp_path: Path) -> None:
    _save_tiny(tmp_path / "m.pt")
    clf = load_classifier(tmp_path / "m.pt")
    crop = read_image(ROOT / "samples" / "astronaut.jpg")[100:356:8, 150:406:8].copy()  # 32x32
    cam = clf.gradcam(crop)
    assert cam.shape == (32, 32) and cam.dtype == np.float32
    assert cam.min() >= 0 and cam.max() <= 1
    assert all(not m._forward_hooks for m in clf.net.modules())
    assert all(p.grad is None for p in clf.net.parameters())
    np.testing.assert_array_equal(cam, clf.gradcam(crop))  # deterministic, no state left behind


def test_gradcam_on_efficientnet_last_feature_map() -> None:
    net = create_classifier("efficientnet_lite0", pretrained=True)
    clf = FakeClassifier(net, arch="efficientnet_lite0", spec=CropSpec(96, 0.3), mean=(0.5,) * 3, std=(0.5,) * 3,
                         threshold=0.5, path="<memory>", device=torch.device("cpu"))
    crop = cv2.resize(read_image(ROOT / "samples" / "astronaut.jpg"), (96, 96), interpolation=cv2.INTER_AREA)
    cam = clf.gradcam(crop)
    assert cam.shape == (96, 96) and 0 <= cam.min() and cam.max() <= 1


def test_load_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.pt"):
        load_classifier(tmp_path / "nope.pt")
    with pytest.raises(InputError, match="best.pt"):
        load_classifier(tmp_path)  # a folder without best.pt
    translator = tmp_path / "final.pt"
    atomic_save({"format": "facelab", "version": 1, "kind": "cyclegan", "nets": {}, "meta": {}}, translator)
    with pytest.raises(WeightsError, match="cyclegan.*not a detector classifier"):
        load_classifier(translator)
    bare = tmp_path / "bare.pt"
    atomic_save({"w": torch.zeros(2)}, bare)
    with pytest.raises(WeightsError, match="bare state_dict"):
        load_classifier(bare)
    wrong = tmp_path / "wrong.pt"
    rec = checkpoint_record(create_classifier("tiny", pretrained=False), "tiny", {"width": 16}, {"crop": {"size": 8, "margin": 0.3}})
    assert rec["meta"]["kind"] == CHECKPOINT_KIND
    atomic_save(rec, wrong)
    with pytest.raises(WeightsError, match="do not fit tiny"):
        load_classifier(wrong)
