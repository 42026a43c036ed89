"""Untrusted weights through every command that loads them: code-bearing pickles are refused
before any of their code runs, hashes that do not match are refused, and a checkpoint made for
another model or architecture is named as such in one `error:` line (never a state_dict traceback).

The malicious files are real: unpickled with `weights_only=False` they would run `os.system`
(or `exec`) and create a marker file; each test checks that the marker never appears.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image

from facelab import hub
from facelab.checkpoint import FORMAT, atomic_save, net_record, safe_load
from facelab.cli import cli
from facelab.config import Pix2PixConfig
from facelab.detector.cnn import checkpoint_record, create_classifier
from facelab.detector.dataset import MANIFEST_COLUMNS, CropRow, write_rows
from facelab.errors import WeightsError
from facelab.nn.factory import create_generator
from facelab.translate.trainer import train

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "samples" / "astronaut.jpg"
REFUSED = "refused to load"


class _RunsCode:
    """Unpickling calls `func(arg)`: what a hostile checkpoint does (here: create a marker file)."""

    def __init__(self, func: object, arg: str) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return self.func, (self.arg,)


def craft_malicious(path: Path, marker: Path, how: str = "torch") -> Path:
    """A checkpoint-looking file whose unpickling would create `marker`.

    how: "torch" (torch.save zip, the facelab layout around the payload), "state_dict" (payload
    hidden among real tensors of a bare state_dict), "exec" (builtins.exec instead of os.system).
    """
    system = _RunsCode(os.system, f"touch {marker}")
    if how == "torch":
        obj: object = {"format": FORMAT, "version": 1, "kind": "pix2pix", "nets": {}, "meta": {"x": system}}
    elif how == "state_dict":
        obj = {"model.1.weight": torch.zeros(4, 3, 7, 7), "model.1.bias": system}
    elif how == "exec":
        obj = {"meta": {"kind": "facelab.detector.cnn"},
               "state_dict": _RunsCode(exec, f"open({str(marker)!r}, 'w').close()")}
    else:
        raise ValueError(how)
    torch.save(obj, path)
    return path


def test_the_crafted_file_really_runs_code_without_weights_only(tmp_path: Path) -> None:
    """Guard for the tests below: the payload works, so its absence there means it was refused."""
    marker = tmp_path / "pwned"
    evil = craft_malicious(tmp_path / "evil.pt", marker)
    torch.load(evil, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("how", ["torch", "state_dict", "exec"])
def test_safe_load_refuses_and_names_the_global(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "pwned"
    evil = craft_malicious(tmp_path / "evil.pt", marker, how)
    with pytest.raises(WeightsError, match=f"{evil}: refused to load") as info:
        safe_load(evil)
    msg = str(info.value)
    assert f"it references {'exec' if how == 'exec' else 'posix.system'}" in msg, msg
    assert "weights_only` set to `False`" not in msg  # torch's advice to retry unsafely is not passed on
    assert not marker.exists()


def test_a_plain_pickle_is_refused_too(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps({"w": _RunsCode(os.system, f"touch {marker}")}, protocol=2))
    with pytest.raises(WeightsError, match="raw.pkl"):
        safe_load(raw)
    assert not marker.exists()


# --------------------------------------------------------------------------------------------
# helpers: tiny inputs for each command, and the one-line-error check


def _noise(path: Path, seed: int, size: int = 36) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def _one_error_line(res: Result, *needles: str) -> str:
    """Exit 1, exactly one `error:` line on stderr naming every needle, no traceback; returns it."""
    assert res.exit_code == 1, (res.exit_code, res.output, res.stderr)
    assert "Traceback" not in res.stderr and "Traceback" not in res.output
    assert "Error(s) in loading state_dict" not in res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def _invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, ["--device", "cpu", *args])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Data for the training commands, and checkpoints of each kind facelab makes."""
    root = tmp_path_factory.mktemp("inputs")
    for i in range(2):
        _noise(root / "faces_a" / f"{i}.png", 50 + i, 32)  # square "aligned crops" for train swap
        _noise(root / "faces_b" / f"{i}.png", 60 + i, 32)
        _noise(root / "pairs" / "A" / f"{i}.png", i)
        _noise(root / "pairs" / "B" / f"{i}.png", 10 + i)
        _noise(root / "unpaired" / "trainA" / f"{i}.png", 20 + i)
        _noise(root / "unpaired" / "trainB" / f"{i}.png", 30 + i)
    # a `facelab fakes`-shaped data set of noise crops: enough for train detector to reach --resume
    ds = root / "fakes"
    rows = []
    for k, (label, split) in enumerate([("real", "train"), ("fake", "train"), ("real", "val"), ("fake", "val")]):
        rel = f"crops/{label}/{split}.png"
        _noise(ds / rel, 40 + k, 32)
        rows.append(CropRow(rel, label, split, split, "noise.png", 0, 0, "real" if label == "real" else "oneshot"))
    write_rows(ds / "manifest.csv", rows, MANIFEST_COLUMNS)
    (ds / "dataset.json").write_text(json.dumps({"crop": {"size": 32, "margin": 0.3}}))
    # checkpoints of every kind
    gen = create_generator("unet_128", ngf=4, norm="batch")
    final = {"format": FORMAT, "version": 1, "kind": "pix2pix",
             "nets": {"G": net_record(gen, "unet_128", {"ngf": 4, "norm": "batch"})}, "meta": {}}
    atomic_save(final, root / "translator_final.pt")
    resnet = create_generator("resnet_6blocks", ngf=4, norm="instance")
    lying = {**final, "nets": {"G": {**net_record(resnet, "resnet_6blocks", {"ngf": 4}), "arch": "unet_128",
                                     "arch_kwargs": {"ngf": 4, "norm": "batch"}}}}
    atomic_save(lying, root / "resnet_recorded_as_unet.pt")
    atomic_save(dict(resnet.state_dict()), root / "bare_resnet_6blocks.pth")
    clf = create_classifier("tiny", pretrained=False)
    atomic_save(checkpoint_record(clf, "tiny", {}, {"crop": {"size": 32, "margin": 0.3}, "threshold": 0.5}),
                root / "detector.pt")
    landmarks = {"arch": "landmark_motion", "arch_kwargs": {"kind": "logreg", "window": 30, "stride": 15, "features": 2},
                 "state_dict": {k: torch.zeros(2) for k in ("mean", "scale", "coef")} | {"intercept": torch.zeros(1)},
                 "meta": {"kind": "facelab.detector.landmarks", "names": ["a", "b"], "threshold": 0.5}}
    atomic_save(landmarks, root / "landmarks.pt")
    return {"root": root, "pairs": root / "pairs", "faces_a": root / "faces_a", "faces_b": root / "faces_b", "unpaired": root / "unpaired", "fakes": ds,
            "final": root / "translator_final.pt", "lying": root / "resnet_recorded_as_unet.pt",
            "bare": root / "bare_resnet_6blocks.pth", "detector": root / "detector.pt",
            "landmarks": root / "landmarks.pt"}


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty FACELAB_HOME cache, offline, and without the repository's weights/ folder."""
    monkeypatch.setenv("FACELAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FACELAB_OFFLINE", "1")
    monkeypatch.delenv("FACELAB_MIRROR", raising=False)
    monkeypatch.setattr(hub, "project_weights_dir", lambda: None)
    cache = hub.cache_dir()
    cache.mkdir(parents=True)
    return cache


# --------------------------------------------------------------------------------------------
# a code-bearing pickle given to every command that loads weights


def _loading_commands(evil: Path, tmp: Path, inputs: dict[str, Path]) -> dict[str, list[str]]:
    return {
        "translate --weights": ["translate", "--weights", str(evil), str(PHOTO), "-o", str(tmp / "o.jpg")],
        "swap --model": ["swap", "--model", str(evil), "--target", str(PHOTO), "-o", str(tmp / "o.jpg")],
        "detect --weights": ["detect", "--weights", str(evil), str(PHOTO)],
        "detect --landmark-model": ["detect", "--landmark-model", str(evil), "--no-gradcam", str(PHOTO)],
        "eval --weights": ["eval", str(inputs["fakes"]), "--weights", str(evil)],
        "fakes --swap-model": ["fakes", str(PHOTO), "-o", str(tmp / "fakes"), "--swap-model", str(evil)],
        "fakes --translator": ["fakes", str(PHOTO), "-o", str(tmp / "fakes"), "--translator", str(evil)],
    }


@pytest.mark.parametrize("command", ["translate --weights", "swap --model", "detect --weights",
                                     "detect --landmark-model", "eval --weights", "fakes --swap-model",
                                     "fakes --translator"])
def test_malicious_weights_are_refused_by_every_loader(command: str, inputs: dict[str, Path], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = craft_malicious(tmp_path / "evil.pt", marker)
    res = _invoke(_loading_commands(evil, tmp_path, inputs)[command])
    _one_error_line(res, str(evil), REFUSED, "posix.system")
    assert not marker.exists()


@pytest.mark.parametrize("model", ["pix2pix", "cyclegan"])
def test_malicious_latest_pt_is_refused_by_train_resume(model: str, inputs: dict[str, Path], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    evil = craft_malicious(run / "checkpoints" / "latest.pt", marker)
    data = inputs["pairs"] if model == "pix2pix" else inputs["unpaired"]
    res = _invoke(["train", model, str(data), "-o", str(run), "--resume", "--netG", "resnet_6blocks", "--ngf", "4",
                   "--ndf", "4", "--load-size", "36", "--crop-size", "32", "--batch-size", "1"])
    _one_error_line(res, str(evil), REFUSED)
    assert not marker.exists()


def test_malicious_latest_pt_is_refused_by_train_swap_resume(inputs: dict[str, Path], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    run = tmp_path / "swap_run"
    (run / "checkpoints").mkdir(parents=True)
    evil = craft_malicious(run / "checkpoints" / "latest.pt", marker, "state_dict")
    res = _invoke(["train", "swap", "--faces-a", str(inputs["faces_a"]), "--faces-b", str(inputs["faces_b"]),
                   "-o", str(run), "--resume", "--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--workers", "0"])
    _one_error_line(res, str(evil), REFUSED, "posix.system")
    assert not marker.exists()


def test_truncated_checkpoints_are_one_line_errors(inputs: dict[str, Path], tmp_path: Path) -> None:
    """What a copy cut short (or a write torn without atomic_save) looks like to each loader."""
    for key, args in (("final", ["translate", "--weights", "{f}", str(PHOTO), "-o", str(tmp_path / "o.jpg")]),
                      ("detector", ["detect", "--weights", "{f}", str(PHOTO)]),
                      ("landmarks", ["detect", "--landmark-model", "{f}", str(PHOTO)])):
        torn = tmp_path / f"torn_{key}.pt"
        torn.write_bytes(inputs[key].read_bytes()[: inputs[key].stat().st_size // 2])
        _one_error_line(_invoke([a.format(f=torn) for a in args]), str(torn), "not a readable PyTorch checkpoint")


def test_malicious_last_pt_is_refused_by_train_detector_resume(inputs: dict[str, Path], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    evil = craft_malicious(run / "last.pt", marker, "exec")
    res = _invoke(["train", "detector", str(inputs["fakes"]), "-o", str(run), "--resume", "--arch", "tiny",
                   "--no-pretrained", "--batch-size", "1"])
    _one_error_line(res, str(evil), REFUSED, "references exec")
    assert not marker.exists()


def test_malicious_registry_file_is_refused_and_verify_never_unpickles(registry: Path, tmp_path: Path) -> None:
    """A hostile file in the cache under a registry name: `weights verify` only hashes it, and
    `translate --model` refuses it at load time (its sidecar matches: the hash proves identity, not safety)."""
    marker = tmp_path / "pwned"
    evil = craft_malicious(registry / "horse2zebra.pth", marker)
    hub.write_sidecar(evil, hub.sha256_file(evil))
    res = _invoke(["weights", "verify", "horse2zebra"])
    assert res.exit_code == 0 and "ok" in res.output and not marker.exists()
    res = _invoke(["translate", "--model", "horse2zebra", str(PHOTO), "-o", str(tmp_path / "z.jpg")])
    _one_error_line(res, str(evil), REFUSED)
    assert not marker.exists()


# --------------------------------------------------------------------------------------------
# sha256 records


def test_registry_file_with_a_mismatching_sidecar_is_refused(registry: Path, tmp_path: Path,
                                                              inputs: dict[str, Path]) -> None:
    cached = registry / "horse2zebra.pth"
    shutil.copy(inputs["bare"], cached)
    hub.write_sidecar(cached, "0" * 64)
    res = _invoke(["translate", "--model", "horse2zebra", str(PHOTO), "-o", str(tmp_path / "z.jpg")])
    _one_error_line(res, str(cached), "sha256 mismatch", "facelab weights fetch horse2zebra")
    assert not (tmp_path / "z.jpg").exists()
    res = _invoke(["weights", "verify", "horse2zebra"])
    assert res.exit_code == 1 and "MISMATCH" in res.output


def test_explicit_weights_file_with_a_mismatching_sidecar_is_refused(registry: Path, tmp_path: Path,
                                                                     inputs: dict[str, Path]) -> None:
    mine = tmp_path / "mine.pth"
    shutil.copy(inputs["bare"], mine)
    hub.write_sidecar(mine, hub.sha256_file(mine))
    with mine.open("r+b") as f:  # one flipped byte deep inside the tensor data
        f.seek(mine.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    res = _invoke(["translate", "--model", "horse2zebra", "--weights", str(mine), str(PHOTO),
                   "-o", str(tmp_path / "z.jpg")])
    _one_error_line(res, str(mine), "sha256 mismatch")


# --------------------------------------------------------------------------------------------
# a checkpoint for another model or architecture


def test_checkpoints_given_to_the_wrong_command_say_what_they_are(inputs: dict[str, Path], tmp_path: Path) -> None:
    photo, out = str(PHOTO), str(tmp_path / "o.jpg")
    detector, final, landmarks = (str(inputs[k]) for k in ("detector", "final", "landmarks"))
    cases = [
        (["translate", "--weights", detector, photo, "-o", out],
         [detector, "deepfake-detector CNN classifier", "detect --weights", "not an image-translation generator"]),
        (["swap", "--model", detector, "--target", photo, "-o", out],
         [detector, "deepfake-detector CNN classifier", "not an image-translation generator"]),
        (["detect", "--weights", final, photo], [final, "pix2pix checkpoint", "unet_128", "not a detector classifier"]),
        (["eval", str(inputs["fakes"]), "--weights", final], [final, "pix2pix checkpoint", "not a detector classifier"]),
        (["detect", "--weights", landmarks, photo],
         [landmarks, "landmark-motion classifier", "--landmark-model", "not a detector classifier"]),
        (["detect", "--landmark-model", detector, "--no-gradcam", photo],
         [detector, "deepfake-detector CNN classifier", "not a landmark-motion classifier"]),
        (["swap", "--model", final, "--target", photo, "-o", out], [final, "pix2pix", "not a face-swap model"]),
    ]
    for args, needles in cases:
        _one_error_line(_invoke(args), *needles)


def test_architecture_mismatches_name_both_architectures(inputs: dict[str, Path], tmp_path: Path,
                                                         registry: Path) -> None:
    out = str(tmp_path / "o.jpg")
    # a facelab checkpoint whose record says unet_128 but whose weights are a resnet's
    line = _one_error_line(_invoke(["translate", "--weights", str(inputs["lying"]), str(PHOTO), "-o", out]),
                           str(inputs["lying"]), "unet_128", "resnet_6blocks")
    assert "recorded unet_128" in line
    # an official-style bare state_dict of a resnet_6blocks given for a resnet_9blocks registry model
    line = _one_error_line(_invoke(["translate", "--model", "horse2zebra", "--weights", str(inputs["bare"]),
                                    str(PHOTO), "-o", out]), str(inputs["bare"]), "resnet_9blocks", "resnet_6blocks")
    assert "--model" in line


def test_train_resume_with_a_foreign_or_mismatched_checkpoint(inputs: dict[str, Path], tmp_path: Path) -> None:
    small = ["--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32", "--batch-size", "1"]
    # a real pix2pix run (resnet_6blocks), resumed while asking for another generator
    run = tmp_path / "p2p"
    cfg = Pix2PixConfig(dataroot=str(inputs["pairs"]), out=str(run))
    train(Pix2PixConfig.from_dict({**json.loads(cfg.to_json()), "netG": "resnet_6blocks", "ngf": 4, "ndf": 4,
                                 "load_size": 36, "crop_size": 32, "batch_size": 1, "max_steps": 1, "workers": 0}))
    latest = run / "checkpoints" / "latest.pt"
    res = _invoke(["train", "pix2pix", str(inputs["pairs"]), "-o", str(run), "--resume", "--netG", "unet_128"])
    _one_error_line(res, str(latest), "resnet_6blocks", "unet_128")
    # the same run resumed as a CycleGAN
    res = _invoke(["train", "cyclegan", str(inputs["unpaired"]), "-o", str(run), "--resume"])
    _one_error_line(res, str(latest), "a pix2pix run", "train pix2pix")
    # a final.pt (generators only) put where latest.pt belongs
    shutil.copy(inputs["final"], latest)
    res = _invoke(["train", "pix2pix", str(inputs["pairs"]), "-o", str(run), "--resume", *small])
    _one_error_line(res, str(latest), "pix2pix checkpoint", "not a training checkpoint")
    # a detector's checkpoint there
    shutil.copy(inputs["detector"], latest)
    res = _invoke(["train", "pix2pix", str(inputs["pairs"]), "-o", str(run), "--resume", *small])
    _one_error_line(res, str(latest), "deepfake-detector CNN classifier", "not a training checkpoint")


def test_train_detector_resume_with_a_foreign_checkpoint(inputs: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "det"
    run.mkdir()
    args = ["train", "detector", str(inputs["fakes"]), "-o", str(run), "--resume", "--arch", "tiny",
            "--no-pretrained", "--batch-size", "1"]
    shutil.copy(inputs["final"], run / "last.pt")
    _one_error_line(_invoke(args), str(run / "last.pt"), "pix2pix checkpoint", "not a detector classifier")
    shutil.copy(inputs["detector"], run / "last.pt")  # a best.pt-like record: no optimiser state
    _one_error_line(_invoke(args), str(run / "last.pt"), "without training state")
