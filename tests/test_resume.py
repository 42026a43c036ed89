"""The resume helpers both training loops use: run-folder checks, RNG state, log truncation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from facelab.checkpoint import atomic_save, safe_load
from facelab.errors import ConfigError, InputError
from facelab.resume import check_batch_size, check_run_folder, rng_state, set_rng_state, truncate_csv, truncate_jsonl


def draws() -> tuple[float, float, float]:
    return torch.rand(1).item(), random.random(), float(np.random.rand())


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(1), random.seed(2), np.random.seed(3)
    np.random.randn()  # leaves a cached Gaussian in NumPy's state
    atomic_save({"rng": rng_state()}, tmp_path / "s.pt")
    expected = draws()
    torch.manual_seed(9), random.seed(9), np.random.seed(9)
    set_rng_state(safe_load(tmp_path / "s.pt")["rng"])
    assert draws() == expected


def test_an_old_detector_rng_state_restores_torch_only() -> None:
    """Detector checkpoints written before the shared helper hold only the torch (and CUDA) state."""
    torch.manual_seed(5)
    old = {"torch": torch.get_rng_state()}
    expected = torch.rand(3)
    random.seed(7)
    py = random.random()
    random.seed(7)
    set_rng_state(old)
    assert torch.equal(torch.rand(3), expected) and random.random() == py


def test_truncate_jsonl_drops_later_torn_and_blank_lines(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"epoch": 1, "x": 1}\n{"epoch": 2}\n\n{"epoch": 3}\n{"no_epoch": 1}\n{"epoch": 2, "tor')
    truncate_jsonl(log, "epoch", 2)
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [1, 2]
    assert not list(tmp_path.glob(".*tmp"))
    truncate_jsonl(tmp_path / "missing.jsonl", "epoch", 1)
    assert not (tmp_path / "missing.jsonl").exists()


def test_truncate_csv_keeps_the_header_and_drops_later_and_torn_rows(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("epoch,iteration,G\r\n1,1,0.5\r\n1,2,0.4\r\n1,3,0.3\r\n1,4\r\n")
    truncate_csv(log, "iteration", 2)
    assert log.read_bytes() == b"epoch,iteration,G\r\n1,1,0.5\r\n1,2,0.4\r\n"


def test_run_folder_and_batch_size_checks(tmp_path: Path) -> None:
    ckpt = tmp_path / "last.pt"
    with pytest.raises(InputError, match="nothing to resume"):
        check_run_folder(tmp_path, ckpt, resume=True)
    check_run_folder(tmp_path, ckpt, resume=False)
    ckpt.write_bytes(b"x")
    with pytest.raises(InputError, match="pass --resume"):
        check_run_folder(tmp_path, ckpt, resume=False)
    check_run_folder(tmp_path, ckpt, resume=True)
    check_batch_size(ckpt, 4, 8, mid_epoch=False)  # a finished epoch: any batch size
    with pytest.raises(ConfigError, match="middle of an epoch with --batch-size 4"):
        check_batch_size(ckpt, 4, 8, mid_epoch=True)
