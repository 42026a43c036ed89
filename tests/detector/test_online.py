"""Fakes made online from real faces: masks, self-blends, blended swaps, the real-face cache and the
real-media training mode, on the bundled samples with the real MTCNN."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from facelab.detector.crops import CropSpec
from facelab.detector.dataset import read_manifest
from facelab.detector.online import DatasetFakes, OnlineFakes, ValFakes, augmentations, check_families
from facelab.detector.realfaces import build_real_cache, load_real_cache
from facelab.detector.rerender import FaceRenderer, train_renderer
from facelab.detector.selfblend import (
    blend_mask,
    blended_swap,
    dense_swap,
    make_fake,
    mean_face68,
    rerendered,
    self_blend,
)
from facelab.detector.train import CropSampler, DetectorTrainConfig, parse_mix, train_detector
from facelab.errors import ConfigError, InputError, WeightsError
from facelab.faces.align import template

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SPEC = CropSpec(96, 0.3)
INPUTS = [SAMPLES / "astronaut_pan.mp4", SAMPLES / "astronaut.jpg", SAMPLES / "grace_hopper.jpg"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real-face cache of the sample video (every frame) and two sample portraits."""
    root = tmp_path_factory.mktemp("reals") / "cache"
    build_real_cache(INPUTS, root, SPEC, device="cpu")
    return root


def test_mean_face_follows_the_five_points() -> None:
    lm5 = template(SPEC.size, SPEC.margin)
    lm68 = mean_face68(lm5)
    assert lm68.shape == (68, 2)
    assert (lm68 > 0).all() and (lm68 < SPEC.size).all()
    # eyes (36-47) sit near the template's eyes, the mouth (48-67) near its mouth corners' height
    assert abs(lm68[36:42].mean(0) - lm5[0]).max() < 0.06 * SPEC.size
    assert abs(lm68[48:68, 1].mean() - lm5[3:5, 1].mean()) < 0.08 * SPEC.size
    moved = mean_face68(lm5 + [5.0, -3.0])  # a shifted face moves its mean face with it
    np.testing.assert_allclose(moved - lm68, np.tile([5.0, -3.0], (68, 1)), atol=1e-3)


def test_blend_mask_is_soft_bounded_and_on_the_face() -> None:
    lm68 = mean_face68(template(SPEC.size, SPEC.margin))
    for seed in range(20):
        m = blend_mask(lm68, SPEC.size, np.random.default_rng(seed))
        assert m.dtype == np.float32 and m.shape == (SPEC.size, SPEC.size)
        assert m.min() >= 0.0 and m.max() == pytest.approx(1.0)
        cy, cx = lm68[30].round().astype(int)[::-1]  # the nose tip is inside every hull variant
        assert m[cy, cx] > 0.5
        assert m[0, 0] < 0.05 and m[-1, -1] < 0.05  # the crop's corners are background


def test_fakes_are_deterministic_and_differ_from_the_real(cache: Path) -> None:
    faces = load_real_cache(cache)
    img, lm = np.array(faces.crops[0]), faces.lm68[0]
    a = self_blend(img, lm, np.random.default_rng(3))
    b = self_blend(img, lm, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.abs(a.astype(int) - img).mean() > 0.5
    j = len(faces) - 1  # a photo: another face
    swap = blended_swap(img, lm, np.array(faces.crops[j]), faces.lm68[j], np.random.default_rng(0))
    assert np.abs(swap.astype(int) - img).mean() > 1.0
    # far from the face the target stays as it was (the mask is 0 there)
    np.testing.assert_array_equal(swap[:4, :4], img[:4, :4])
    dense = dense_swap(img, lm, np.array(faces.crops[j]), faces.lm68[j], np.random.default_rng(0))
    np.testing.assert_array_equal(dense, dense_swap(img, lm, np.array(faces.crops[j]), faces.lm68[j],
                                                    np.random.default_rng(0)))
    assert np.abs(dense.astype(int) - img).mean() > 1.0
    np.testing.assert_array_equal(dense[:4, :4], img[:4, :4])
    with pytest.raises(ValueError, match="donor"):
        make_fake("swap", img, lm, np.random.default_rng(0))
    with pytest.raises(ValueError, match="donor"):
        make_fake("dense", img, lm, np.random.default_rng(0))
    with pytest.raises(ValueError, match="re-rendered"):
        make_fake("rerender", img, lm, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown fake family"):
        make_fake("gan", img, lm, np.random.default_rng(0))


def test_real_cache_packs_splits_and_resumes(cache: Path, tmp_path: Path) -> None:
    faces = load_real_cache(cache)
    assert faces.spec == SPEC
    n = len(faces)
    assert faces.crops.shape == (n, 96, 96, 3) and faces.lm68.shape == (n, 68, 2) and faces.lm5.shape == (n, 5, 2)
    assert set(faces.kind) == {"video", "photo"}
    # the video's frames and two photos; each photo is its own input here, so its own group
    assert (faces.kind == "video").sum() >= 50 and (faces.kind == "photo").sum() == 2
    assert set(faces.split) == {"train", "val"}
    for g in set(faces.group):  # a group is never split
        assert len(set(faces.split[faces.group == g])) == 1
    # the five points sit at the aligned crop's template, as in every detector crop
    np.testing.assert_allclose(faces.lm5[-1], template(96, 0.3), atol=3.0)  # least squares: close, not exact
    # resume: a second build with the same settings loads the cache without extracting again
    stamp = (cache / "index.npz").stat().st_mtime_ns
    again = build_real_cache(INPUTS, cache, SPEC, device="cpu")
    assert len(again) == n and (cache / "index.npz").stat().st_mtime_ns == stamp
    with pytest.raises(ConfigError, match="other settings"):
        build_real_cache([SAMPLES / "astronaut.jpg"], cache, SPEC, device="cpu")


def test_online_pairs_are_keyed_by_seed_epoch_and_index(cache: Path) -> None:
    faces = load_real_cache(cache)
    ds = OnlineFakes(faces, faces.indices("train"), {"sbi": 1, "swap": 1}, seed=0, transform=augmentations())
    x, y = ds[5]
    assert x.shape == (2, 96, 96, 3) and x.dtype == torch.uint8
    assert y.tolist() == [0.0, 1.0]
    torch.testing.assert_close(ds[5][0], x)  # the same key: the same pair, whatever the worker
    assert not torch.equal(ds[5 + len(ds)][0], x)  # the next epoch: a new fake of the same face
    val = ValFakes(faces, faces.indices("val"))  # no renderer: sbi, swap and dense
    assert val.families == ["sbi", "swap", "dense"]
    assert len(val) == 4 * len(faces.indices("val"))
    img, label, fam = val[1]
    assert label == 1.0 and fam == 0 and img.shape == (96, 96, 3)
    torch.testing.assert_close(val[1][0], img)
    assert check_families(parse_mix("sbi:3,swap:1")) == {"sbi": 0.75, "swap": 0.25}
    with pytest.raises(ValueError, match="unknown fake family"):
        check_families(parse_mix("sbi,face2face"))


def _cfg(cache: Path, out: Path, **kw: object) -> DetectorTrainConfig:
    base = dict(out=str(out), real=tuple(str(p) for p in INPUTS), real_cache=str(cache), crop_size=96,
                arch="tiny", pretrained=False, epochs=2, batch_size=4, max_steps_per_epoch=2, warmup_steps=0)
    return DetectorTrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_train_from_real_media_validates_per_family_and_resumes_exactly(cache: Path, tmp_path: Path) -> None:
    local = tmp_path / "cache"
    shutil.copytree(cache, local)  # made with the trainer's settings: it is reused, not rebuilt
    mix = "sbi:0.4,swap:0.2,dense:0.2,rerender:0.2"
    run = train_detector(_cfg(local, tmp_path / "full", fakes=mix, group_power=0.5, renderer_steps=3))
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [ln["epoch"] for ln in lines] == [1, 2]
    assert set(lines[-1]["family_auc"]) == {"sbi", "swap", "dense", "rerender"}
    assert (run / "renderer.pt").is_file()
    assert 0.0 <= lines[-1]["real_mean"] <= 1.0
    # killed in epoch 2 (after epoch 1's last.pt), then --resume: the same weights as the straight run

    def interrupt(info: dict) -> None:
        if info["iteration"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_detector(_cfg(local, tmp_path / "half", fakes=mix, group_power=0.5, renderer_steps=3),
                       on_step=interrupt)
    train_detector(_cfg(local, tmp_path / "half", fakes=mix, group_power=0.5, renderer_steps=3, resume=True))
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "half" / "last.pt", weights_only=True)["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    with pytest.raises(ConfigError, match="or both"):
        DetectorTrainConfig(out=str(tmp_path / "x"))
    with pytest.raises(ConfigError, match="--fakes"):
        _cfg(local, tmp_path / "y", fakes="sbi:0")


def test_renderer_trains_saves_and_rerenders(cache: Path, tmp_path: Path) -> None:
    faces = load_real_cache(cache)
    crops = np.asarray(faces.crops)
    renderer = train_renderer(crops, faces.group, steps=4, batch_size=4, seed=0)
    img, lm = crops[0], faces.lm68[0]
    out = renderer.render(img, "a")
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not np.array_equal(out, renderer.render(img, "b"))  # two decoders
    renderer.save(tmp_path / "r.pt")
    again = FaceRenderer.load(tmp_path / "r.pt")
    np.testing.assert_array_equal(again.render(img, "a"), out)
    # the same seed trains the same renderer (a resumed run that lost renderer.pt makes it again)
    twin = train_renderer(crops, faces.group, steps=4, batch_size=4, seed=0)
    np.testing.assert_array_equal(twin.render(img, "a"), out)
    fake = rerendered(img, lm, out, np.random.default_rng(1))
    assert np.abs(fake.astype(int) - img).mean() > 1.0
    np.testing.assert_array_equal(fake[:4, :4], img[:4, :4])  # pasted through the face mask only
    val = ValFakes(faces, faces.indices("val"), renderer=renderer)
    assert val.families == ["sbi", "swap", "dense", "rerender"]
    assert val[4][2] == 3  # slot 4 of the first crop: its rerender fake, family index 3
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="bad.pt"):
        FaceRenderer.load(tmp_path / "bad.pt")


def test_sampler_draws_groups_by_weight() -> None:
    groups = np.array([0] * 90 + [1] * 10)
    _, inv, counts = np.unique(groups, return_inverse=True, return_counts=True)
    sampler = CropSampler([0] * 100, seed=0, balance=False, weights=counts[inv] ** -1.0)  # every group alike
    sampler.set_epoch(0)
    drawn = [k % 100 for k in sampler]
    assert len(drawn) == 100
    assert 30 <= sum(i >= 90 for i in drawn) <= 70  # the small group: about half the draws, not a tenth
    sampler.set_epoch(0)
    assert [k % 100 for k in sampler] == drawn  # fixed by (seed, epoch)


def test_a_failed_real_run_leaves_no_run_folder(tmp_path: Path) -> None:
    # one photo is one group: no split into train and val, so the run fails after finding the face
    out = tmp_path / "run"
    cfg = DetectorTrainConfig(out=str(out), real=(str(SAMPLES / "grace_hopper.jpg"),), crop_size=96, arch="tiny",
                              pretrained=False, epochs=1)
    with pytest.raises(InputError, match="at least two videos or photo folders"):
        train_detector(cfg)
    assert not out.exists()  # nor its face cache in OUT/reals


def test_a_fakes_data_set_adds_the_dataset_family(cache: Path, tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))  # the tiny data set builder, with any pytest import mode
    from test_train import build_tiny_dataset

    data = build_tiny_dataset(tmp_path / "fakes", size=96, variants=2)
    local = tmp_path / "cache"
    shutil.copytree(cache, local)
    # trained on with a share, and validated on as its own family
    run = train_detector(_cfg(local, tmp_path / "mixed", dataset=str(data), fakes="sbi:0.5,dataset:0.5", epochs=1))
    line = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert set(line["family_auc"]) == {"sbi", "swap", "dense", "dataset"}
    # without a share it is validation only; a dataset family without a data set, or of smaller crops, is refused
    run = train_detector(_cfg(local, tmp_path / "val_only", dataset=str(data), fakes="sbi", epochs=1))
    assert "dataset" in json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["family_auc"]
    with pytest.raises(ConfigError, match="DATASET"):
        _cfg(local, tmp_path / "x", fakes="sbi,dataset")
    other = build_tiny_dataset(tmp_path / "fakes48", size=48, variants=1)
    with pytest.raises(InputError, match="size at least 96"):
        train_detector(_cfg(local, tmp_path / "y", dataset=str(other)))
    assert not (tmp_path / "y").exists()
    # larger crops of the same margin (`facelab fakes` cuts 224 px) are resized to the run's
    big = build_tiny_dataset(tmp_path / "fakes128", size=128, variants=1)
    fakes = [r.path for r in read_manifest(big) if r.y == 1]
    assert DatasetFakes(big, fakes, 96).read(0).shape == (96, 96, 3)
    with pytest.raises(InputError, match="the run's crops are 192x192"):
        DatasetFakes(big, fakes, 192).read(0)
