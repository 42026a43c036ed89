"""Training loop mechanics on real (tiny) training steps: data layouts, AMP, WGAN-GP, checkpoints."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from facelab.checkpoint import safe_load
from facelab.cli import cli
from facelab.config import TRAIN_CONFIGS, CycleGANConfig, Pix2PixConfig
from facelab.data.datasets import AlignedDataset, Preprocess, UnalignedDataset
from facelab.errors import InputError
from facelab.nn.factory import load_generator
from facelab.translate.trainer import train


def img(path: Path, seed: int, size: int = 40) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def tiny(model: str, root: Path, out: Path, **kw) -> Pix2PixConfig | CycleGANConfig:
    base = TRAIN_CONFIGS[model](dataroot=str(root), out=str(out))
    small = dict(netG="resnet_6blocks", ngf=4, ndf=4, load_size=36,
                 crop_size=32, batch_size=2, max_steps=4, workers=0, print_every=1, display_every=2,
                 save_latest_every=2, n_epochs=2, n_epochs_decay=2)
    return replace(base, **{**small, **kw})


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    for i in range(4):
        img(tmp_path / "data" / "trainA" / f"{i}.png", i)
        img(tmp_path / "data" / "trainB" / f"{i}.png", 10 + i)
        img(tmp_path / "pairs" / "A" / f"p{i}.png", 20 + i)
        img(tmp_path / "pairs" / "B" / f"p{i}.png", 30 + i)
    return tmp_path


def test_aligned_folders_keep_pairs_aligned(folders: Path) -> None:
    ds = AlignedDataset(folders / "pairs", Preprocess("resize_and_crop", 36, 32, flip=True))
    a_img = np.asarray(Image.open(folders / "pairs" / "A" / "p0.png"))
    item = ds[0]
    assert item["A"].shape == item["B"].shape == (3, 32, 32)
    # same crop and flip on both sides: re-running the transform on (A, A) gives equal halves
    ds.load_pair = lambda i: (a_img, a_img.copy())  # type: ignore[method-assign]
    same = ds[0]
    assert torch.equal(same["A"], same["B"])


def test_combined_ab_layout_and_direction(tmp_path: Path) -> None:
    a = np.zeros((16, 16, 3), np.uint8)
    b = np.full((16, 16, 3), 255, np.uint8)
    (tmp_path / "train").mkdir()
    Image.fromarray(np.concatenate([a, b], 1)).save(tmp_path / "train" / "0.png")
    pre = Preprocess("none", flip=False)
    assert AlignedDataset(tmp_path, pre)[0]["A"].max() == -1
    assert AlignedDataset(tmp_path, pre, direction="BtoA")[0]["A"].min() == 1


def test_missing_layout_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="trainA"):
        UnalignedDataset(tmp_path, Preprocess())


@pytest.mark.parametrize("model,root", [("cyclegan", "data"), ("pix2pix", "pairs")])
def test_run_folder_and_self_describing_checkpoints(folders: Path, model: str, root: str) -> None:
    out = train(tiny(model, folders / root, folders / f"run_{model}"))
    for name in ("config.json", "log.jsonl", "log.csv", "index.html", "final.pt", "checkpoints/latest.pt"):
        assert (out / name).is_file(), name
    assert json.loads((out / "config.json").read_text())["model"] == model
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(v) for r in rows for v in r.values())
    state = safe_load(out / "checkpoints" / "latest.pt")
    assert state["meta"]["iteration"] == 4 and state["kind"] == model
    assert {"optim", "sched", "rng", "scaler", "pools"} <= set(state)
    net, info = load_generator(out / "final.pt")
    assert info["arch"] == "resnet_6blocks"
    assert list((out / "images").glob("*.jpg"))
    with pytest.raises(InputError, match="--resume"):
        train(tiny(model, folders / root, out))


def test_resume_continues_mid_epoch(folders: Path) -> None:
    cfg = tiny("cyclegan", folders / "data", folders / "run", max_steps=3, batch_size=1)
    train(cfg)  # 4 batches per epoch: stops mid-epoch 1
    state = safe_load(folders / "run" / "checkpoints" / "latest.pt")
    assert (state["meta"]["epoch"], state["meta"]["epoch_iter"], state["meta"]["iteration"]) == (0, 3, 3)
    train(replace(cfg, resume=True, max_steps=6))
    state = safe_load(folders / "run" / "checkpoints" / "latest.pt")
    assert (state["meta"]["epoch"], state["meta"]["epoch_iter"], state["meta"]["iteration"]) == (1, 2, 6)
    rows = [json.loads(line) for line in (folders / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["epoch"] for r in rows] == [1, 1, 1, 1, 2, 2]


def test_a_run_with_an_old_config_json_resumes(folders: Path) -> None:
    """A run from before the per-trainer configs: its config.json has every model's fields and
    `extra`. `facelab train pix2pix --resume` reads its settings back (a wrong generator would not
    load), continues the run, and writes pix2pix's keys only."""
    cfg = tiny("pix2pix", folders / "pairs", folders / "old", max_steps=2, batch_size=1)
    run = train(cfg)
    old = {**json.loads(cfg.to_json()), "dataroot_b": None, "lambda_A": 10.0, "lambda_B": 10.0,
           "lambda_identity": 0.5, "extra": {}}
    (run / "config.json").write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "train", "pix2pix", str(folders / "pairs"), "-o", str(run),
                                   "--resume", "--max-steps", "4"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert [json.loads(line)["iteration"] for line in (run / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    saved = json.loads((run / "config.json").read_text())
    assert saved == {**json.loads(cfg.to_json()), "max_steps": 4, "resume": True, "device": "cpu"}
    assert not {"lambda_A", "extra", "dataroot_b"} & set(saved)


def test_wgangp_logs_a_positive_penalty(folders: Path) -> None:
    out = train(tiny("pix2pix", folders / "pairs", folders / "gp", gan_mode="wgangp", max_steps=2))
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all(r["gp"] > 0 for r in rows)


def test_mixed_precision_path_runs_on_cpu(folders: Path) -> None:
    """--amp on the CPU uses bf16 autocast: the same code path as CUDA's, minus the device."""
    out = train(tiny("cyclegan", folders / "data", folders / "amp", amp=True, max_steps=2))
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(np.isfinite(r["G_A"]) for r in rows)


def test_same_seed_same_losses_and_resume_reproduces_them(folders: Path) -> None:
    """Crops, flips, shuffling, pools and dropout all follow the seed, so an interrupted run
    resumed from its checkpoint logs the same losses as a run that was never interrupted."""
    def losses(run: Path) -> list[dict]:
        return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]

    keys = ("G_GAN", "G_L1", "D")
    cfg = tiny("pix2pix", folders / "pairs", folders / "straight", max_steps=6, batch_size=1, workers=0)
    straight = losses(train(cfg))
    again = losses(train(replace(cfg, out=str(folders / "again"))))
    assert [[r[k] for k in keys] for r in straight] == [[r[k] for k in keys] for r in again]
    # stop mid-epoch after 3 (the epoch has 4 batches), then resume to 6
    train(replace(cfg, out=str(folders / "resumed"), max_steps=3))
    resumed = losses(train(replace(cfg, out=str(folders / "resumed"), resume=True)))
    assert [r["iteration"] for r in resumed] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(straight, resumed):
        assert [a[k] for k in keys] == pytest.approx([b[k] for k in keys], rel=1e-5, abs=1e-6)


def test_workers_see_the_same_augmentations(folders: Path) -> None:
    """Augmentations depend on (seed, epoch, index), not on which worker loads an item."""
    from torch.utils.data import DataLoader

    from facelab.data.datasets import EpochSampler

    ds = AlignedDataset(folders / "pairs", Preprocess("resize_and_crop", 36, 32, flip=True))
    ds.seed = 3
    batches = []
    for workers in (0, 2):
        sampler = EpochSampler(len(ds), seed=3)
        sampler.set_epoch(1)
        dl = DataLoader(ds, batch_size=2, sampler=sampler, num_workers=workers)
        batches.append(torch.cat([b["A"] for b in dl]))
    assert torch.equal(batches[0], batches[1])
