"""Crash-safe training, with the real CLI in a subprocess: `kill -9` mid-run, then `--resume`,
retraces the uninterrupted run; SIGINT saves a checkpoint, exits 130 saying where it is, and
`--resume` continues from it. No temporary or torn checkpoint is ever left behind.

Every run is deterministic on one CPU thread (`--deterministic`, OMP_NUM_THREADS=1), so the
resumed losses match the uninterrupted ones to float rounding.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facelab.checkpoint import atomic_save, remove_stale_temps, safe_load
from facelab.config import Pix2PixConfig
from facelab.detector.cnn import load_classifier, read_checkpoint
from facelab.detector.train import DetectorTrainConfig, train_detector
from facelab.errors import ConfigError, TrainingInterrupted
from facelab.translate.trainer import train

sys.path.insert(0, str(Path(__file__).parent / "detector"))  # the tiny data set builder, any import mode
from test_train import build_tiny_dataset  # noqa: E402

torch.set_num_threads(1)

LOSSES = ("G_GAN", "G_L1", "D_real", "D_fake", "D")
#: 8 epochs of 4 pairs at batch 1: 32 iterations, ~2 s of training on one thread
PIX2PIX = ["--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32",
           "--batch-size", "1", "--n-epochs", "4", "--n-epochs-decay", "4", "--workers", "0", "--deterministic",
           "--print-every", "1", "--display-every", "1000", "--save-latest-every", "3", "--save-epoch-every", "2"]
#: 12 epochs of 6 steps (12 train crops at batch 2)
DETECTOR = ["--arch", "tiny", "--no-pretrained", "--epochs", "12", "--batch-size", "2", "--lr", "0.01",
            "--warmup-steps", "0"]
TIMEOUT = 60.0


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("FACELAB_HOME", None)
    return env


def facelab(*args: str) -> subprocess.Popen[str]:
    """`python -m facelab --device cpu --threads 1 ARGS` in the background (stderr captured), in a
    process group of its own so that `ctrl_c` reaches its DataLoader workers too, as a terminal's does."""
    return subprocess.Popen([sys.executable, "-m", "facelab", "--device", "cpu", "--threads", "1", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True)


def ctrl_c(proc: subprocess.Popen[str]) -> None:
    """SIGINT to the whole process group: the trainer and its DataLoader workers."""
    os.killpg(proc.pid, signal.SIGINT)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, err


def run_to_end(*args: str) -> str:
    rc, err = finish(facelab(*args))
    assert rc == 0, err
    return err


def wait_until(proc: subprocess.Popen[str], ready: Callable[[], bool], what: str) -> None:
    """Poll `ready` every 5 ms while `proc` runs; fail if it ends first or after TIMEOUT."""
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before {what}: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() - t0 > TIMEOUT:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def lines(path: Path) -> int:
    try:
        return path.read_text().count("\n")
    except FileNotFoundError:
        return 0


def jsonl(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines()]


def assert_clean_and_loadable(run: Path) -> None:
    """No temporary file anywhere in the run, and every checkpoint loads with weights_only."""
    assert sorted(p.name for p in run.rglob("*.tmp")) == []
    checkpoints = sorted(run.rglob("*.pt"))
    assert checkpoints
    for p in checkpoints:
        safe_load(p)


def assert_same_losses(a: list[dict], b: list[dict]) -> None:
    assert [r["iteration"] for r in a] == [r["iteration"] for r in b]
    for ra, rb in zip(a, b):
        assert [ra[k] for k in LOSSES] == pytest.approx([rb[k] for k in LOSSES], rel=1e-5, abs=1e-6), ra["iteration"]


def assert_same_generator(a: Path, b: Path) -> None:
    sa, sb = safe_load(a)["nets"]["G"]["state_dict"], safe_load(b)["nets"]["G"]["state_dict"]
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-4, atol=1e-5, msg=k)


# --------------------------------------------------------------------------------------------
# pix2pix


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    for i in range(4):
        for side, seed in (("A", i), ("B", 10 + i)):
            (root / side).mkdir(exist_ok=True)
            img = np.random.default_rng(seed).integers(0, 256, (36, 36, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / side / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def straight_pix2pix(pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted reference run."""
    run = tmp_path_factory.mktemp("p2p") / "straight"
    run_to_end("train", "pix2pix", str(pairs), "-o", str(run), *PIX2PIX)
    assert len(jsonl(run / "log.jsonl")) == 32
    return run


@pytest.mark.slow
def test_pix2pix_kill_9_then_resume_retraces_the_run(pairs: Path, straight_pix2pix: Path, tmp_path: Path) -> None:
    run = tmp_path / "killed"
    proc = facelab("train", "pix2pix", str(pairs), "-o", str(run), *PIX2PIX)
    latest = run / "checkpoints" / "latest.pt"
    wait_until(proc, lambda: latest.is_file() and lines(run / "log.jsonl") >= 10, "a checkpoint and 10 log rows")
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=TIMEOUT) == -signal.SIGKILL
    assert not (run / "final.pt").exists(), "the run finished before the kill; nothing was tested"
    resumed_from = safe_load(latest)["meta"]["iteration"]
    assert 3 <= resumed_from < 32
    # what a kill in the middle of a write leaves: a torn temporary file and a torn log row
    (latest.parent / ".latest.pt.x1y2z3ab.tmp").write_bytes(latest.read_bytes()[:1000])
    with (run / "log.jsonl").open("a") as f:
        f.write('{"epoch": 9, "iteration": 99, "G_GA')
    with (run / "log.csv").open("a") as f:
        f.write("9,99,0.0002,1.2")

    run_to_end("train", "pix2pix", str(pairs), "-o", str(run), *PIX2PIX, "--resume")
    assert_same_losses(jsonl(straight_pix2pix / "log.jsonl"), jsonl(run / "log.jsonl"))
    assert (run / "log.csv").read_text().count("\n") == 33  # header + one row per iteration
    assert_same_generator(straight_pix2pix / "final.pt", run / "final.pt")
    assert_clean_and_loadable(run)


@pytest.mark.slow
def test_pix2pix_sigint_saves_exits_130_and_resumes(pairs: Path, straight_pix2pix: Path, tmp_path: Path) -> None:
    run = tmp_path / "interrupted"
    proc = facelab("train", "pix2pix", str(pairs), "-o", str(run), *PIX2PIX, "--workers", "2")
    wait_until(proc, lambda: lines(run / "log.jsonl") >= 5, "5 log rows")
    ctrl_c(proc)
    rc, err = finish(proc)
    latest = run / "checkpoints" / "latest.pt"
    assert rc == 130, err
    assert f"checkpoint saved to {latest}" in err and "--resume" in err and "Traceback" not in err
    assert err.count("signal 2:") == 1  # the workers leave the stopping to the trainer
    state = safe_load(latest)
    logged = jsonl(run / "log.jsonl")
    assert state["meta"]["iteration"] == logged[-1]["iteration"] < 32  # saved right after the last step it logged
    assert_clean_and_loadable(run)

    run_to_end("train", "pix2pix", str(pairs), "-o", str(run), *PIX2PIX, "--resume")
    assert_same_losses(jsonl(straight_pix2pix / "log.jsonl"), jsonl(run / "log.jsonl"))
    assert_same_generator(straight_pix2pix / "final.pt", run / "final.pt")
    assert_clean_and_loadable(run)


# --------------------------------------------------------------------------------------------
# train detector


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_dataset(tmp_path_factory.mktemp("fakes"))


@pytest.fixture(scope="module")
def straight_detector(fakes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("det") / "straight"
    run_to_end("train", "detector", str(fakes), "-o", str(run), *DETECTOR)
    assert len(jsonl(run / "metrics.jsonl")) == 12
    return run


def assert_same_detector_run(a: Path, b: Path) -> None:
    """Same final weights, and the same metrics every epoch (all but the wall-clock time)."""
    sa, sb = read_checkpoint(a / "last.pt")["state_dict"], read_checkpoint(b / "last.pt")["state_dict"]
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-4, atol=1e-6, msg=k)
    ma, mb = jsonl(a / "metrics.jsonl"), jsonl(b / "metrics.jsonl")
    assert [m["epoch"] for m in mb] == list(range(1, 13))
    for ra, rb in zip(ma, mb):
        for k in ("train_loss", "val_loss", "roc_auc", "eer", "threshold", "iteration", "best"):
            assert ra[k] == pytest.approx(rb[k], rel=1e-4, abs=1e-6), (ra["epoch"], k)
    assert read_checkpoint(a / "best.pt")["meta"]["epoch"] == read_checkpoint(b / "best.pt")["meta"]["epoch"]


@pytest.mark.slow
def test_detector_kill_9_then_resume_reaches_the_same_weights(fakes: Path, straight_detector: Path,
                                                                tmp_path: Path) -> None:
    run = tmp_path / "killed"
    proc = facelab("train", "detector", str(fakes), "-o", str(run), *DETECTOR)
    wait_until(proc, lambda: lines(run / "metrics.jsonl") >= 2, "two epochs")
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=TIMEOUT) == -signal.SIGKILL
    done = read_checkpoint(run / "last.pt")["meta"]["epoch"]
    assert 1 <= done < 12, "the run finished before the kill; nothing was tested"
    (run / ".last.pt.k9k9k9k9.tmp").write_bytes(b"PK\x03\x04 torn")  # a write cut off by the kill
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"epoch": 99, "train_lo')

    run_to_end("train", "detector", str(fakes), "-o", str(run), *DETECTOR, "--resume")
    assert_same_detector_run(straight_detector, run)
    assert_clean_and_loadable(run)


@pytest.mark.slow
def test_detector_sigint_saves_last_pt_exits_130_and_resumes(fakes: Path, straight_detector: Path,
                                                             tmp_path: Path) -> None:
    run = tmp_path / "interrupted"
    proc = facelab("train", "detector", str(fakes), "-o", str(run), *DETECTOR, "--workers", "2")
    wait_until(proc, lambda: lines(run / "metrics.jsonl") >= 1, "the first epoch")
    ctrl_c(proc)
    rc, err = finish(proc)
    assert rc == 130, err
    assert f"checkpoint saved to {run / 'last.pt'}" in err and "--resume" in err and "Traceback" not in err
    assert err.count("signal 2:") == 1
    assert_clean_and_loadable(run)
    load_classifier(run)  # its best.pt
    load_classifier(run / "last.pt")  # the interrupted state is a usable classifier too

    run_to_end("train", "detector", str(fakes), "-o", str(run), *DETECTOR, "--resume")  # workers 2, from config.json
    assert_same_detector_run(straight_detector, run)
    assert_clean_and_loadable(run)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_detector_signal_mid_epoch_resumes_with_the_next_batch(fakes: Path, straight_detector: Path,
                                                               tmp_path: Path, signum: int) -> None:
    """In-process, to stop at an exact step: the signal after step 3 of epoch 2's 6."""
    cfg = DetectorTrainConfig(dataset=str(fakes), out=str(tmp_path / "mid"), arch="tiny", pretrained=False,
                              epochs=12, batch_size=2, lr=0.01, warmup_steps=0, device="cpu")

    def interrupt(info: dict) -> None:
        if info["iteration"] == 9:
            os.kill(os.getpid(), signum)

    handler = signal.getsignal(signum)
    with pytest.raises(TrainingInterrupted) as stopped:
        train_detector(cfg, on_step=interrupt)
    assert stopped.value.iteration == 9 and stopped.value.checkpoint == tmp_path / "mid" / "last.pt"
    state = read_checkpoint(tmp_path / "mid" / "last.pt")
    assert state["meta"]["epoch"] == 1 and state["train"]["step"] == 3 and state["train"]["iteration"] == 9
    assert signal.getsignal(signum) is handler  # the training's handler is put back
    with pytest.raises(ConfigError, match="middle of an epoch with --batch-size 2"):
        train_detector(replace(cfg, resume=True, batch_size=4))
    seen: list[int] = []
    train_detector(replace(cfg, resume=True), on_step=lambda info: seen.append(info["iteration"]))
    assert seen[0] == 10 and seen[-1] == 72
    assert_same_detector_run(straight_detector, tmp_path / "mid")


def test_pix2pix_mid_epoch_checkpoint_needs_its_batch_size(pairs: Path, tmp_path: Path) -> None:
    cfg = Pix2PixConfig(dataroot=str(pairs), out=str(tmp_path / "run"))
    cfg = replace(cfg, netG="resnet_6blocks", ngf=4, ndf=4, load_size=36, crop_size=32, batch_size=1, workers=0,
                  max_steps=3)  # 3 of the epoch's 4 batches
    train(cfg)
    with pytest.raises(ConfigError, match="middle of an epoch with --batch-size 1"):
        train(replace(cfg, resume=True, batch_size=2, max_steps=None))
    train(replace(cfg, resume=True, max_steps=5))  # the same batch size goes on


# --------------------------------------------------------------------------------------------
# atomic writes


def test_a_failed_write_keeps_the_previous_checkpoint_and_leaves_no_temp(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "latest.pt"
    atomic_save({"step": torch.tensor(1)}, path)

    def torn_save(obj: object, f: object) -> None:  # half a file written, then the process "dies"
        f.write(b"PK\x03\x04 half a checkpoint")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(KeyboardInterrupt):
        atomic_save({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert int(safe_load(path)["step"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]
    # kill -9 skips the clean-up: its leftover goes on the next resume, and nothing else does
    (tmp_path / ".latest.pt.abcd1234.tmp").write_bytes(b"torn")
    (tmp_path / "notes.tmp").write_text("someone else's")
    assert [p.name for p in remove_stale_temps(tmp_path)] == [".latest.pt.abcd1234.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.pt", "notes.tmp"]
