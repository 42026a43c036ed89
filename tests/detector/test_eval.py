"""`evaluate` on a data set and on labelled media, and the `train detector` / `eval` commands."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from facelab.cli import cli
from facelab.detector.evaluate import evaluate, labelled_media
from facelab.detector.train import DetectorTrainConfig, train_detector
from facelab.errors import ConfigError, InputError
from facelab.faces.detect import FaceDetector
from facelab.io.image import read_image, write_image
from facelab.swap.oneshot import OneShotSource, SwapSettings, swap_face

sys.path.insert(0, str(Path(__file__).parent))  # the tiny data set builder, with any pytest import mode
from test_train import SAMPLES, build_tiny_dataset  # noqa: E402

torch.set_num_threads(1)


def _runner() -> CliRunner:
    """A runner with stderr apart from stdout (click < 8.2 mixes them unless told not to)."""
    import inspect

    return CliRunner(mix_stderr=False) if "mix_stderr" in inspect.signature(CliRunner).parameters else CliRunner()


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(device="cpu")


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory, detector: FaceDetector) -> Path:
    return build_tiny_dataset(tmp_path_factory.mktemp("fakes"), detector=detector)


@pytest.fixture(scope="module")
def tiny_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "tiny"
    return train_detector(DetectorTrainConfig(dataset=str(tiny_dataset), out=str(out), arch="tiny", pretrained=False,
                                              epochs=2, batch_size=4, lr=1e-2, warmup_steps=0, device="cpu"))


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory, detector: FaceDetector) -> Path:
    """real/: the two portraits, a 3 s video of one of them and a cat (no face); fake/: the two swaps."""
    root = tmp_path_factory.mktemp("labelled")
    settings = SwapSettings(size=128, margin=0.2)
    a, h = read_image(SAMPLES / "astronaut.jpg"), read_image(SAMPLES / "grace_hopper.jpg")
    for img, donor, name in ((a, h, "astronaut_as_hopper.png"), (h, a, "hopper_as_astronaut.png")):
        src = OneShotSource.from_image(donor, detector, settings)
        fake, _ = swap_face(img, detector.detect(img)[0].landmarks, src, settings)
        write_image(root / "fake" / name, fake)
    (root / "real" / "video").mkdir(parents=True)
    for name in ("astronaut.jpg", "grace_hopper.jpg", "chelsea.jpg"):
        shutil.copy(SAMPLES / name, root / "real" / name)
    shutil.copy(SAMPLES / "astronaut_pan.mp4", root / "real" / "video" / "pan.mp4")
    return root


def test_evaluate_data_set_writes_roc_confusion_scores(tiny_run: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    res = evaluate(tiny_run, tiny_dataset, split="val", device="cpu", out_dir=tmp_path / "ev")
    assert res.kind == "dataset" and len(res.scored) == 12 and not res.skipped
    assert res.metrics["n_real"] == res.metrics["n_fake"] == 6 and res.metrics["roc_auc"] is not None
    assert res.threshold == pytest.approx(res.classifier["threshold"]) and 0 <= res.threshold <= 1
    for name in ("roc.png", "confusion.txt", "metrics.json", "scores.csv"):
        assert (tmp_path / "ev" / name).is_file(), name
    assert (tmp_path / "ev" / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert saved["metrics"]["confusion"] == res.metrics["confusion"] and saved["split"] == "val"
    assert "predicted fake" in (tmp_path / "ev" / "confusion.txt").read_text()
    lines = (tmp_path / "ev" / "scores.csv").read_text().splitlines()
    assert lines[0].startswith("path,label,score,prediction") and len(lines) == 13
    c = res.metrics["confusion"]
    assert c["tn"] + c["fp"] == 6 and c["fn"] + c["tp"] == 6
    everything = evaluate(tiny_run, tiny_dataset, split="all", device="cpu")
    assert everything.metrics["n"] == 24 and everything.files == {}


def test_evaluate_labelled_media_folder_and_csv(tiny_run: Path, labelled: Path, detector: FaceDetector,
                                                tmp_path: Path) -> None:
    assert len(labelled_media(labelled)) == 6
    res = evaluate(tiny_run, labelled, frames=3, device="cpu", out_dir=tmp_path / "media", detector=detector)
    assert res.kind == "media" and res.metrics["n_real"] == 3 and res.metrics["n_fake"] == 2
    (cat,) = res.skipped
    assert cat.path == "real/chelsea.jpg" and cat.note == "no face found" and not cat.failed
    video = next(it for it in res.items if it.path.endswith("pan.mp4"))
    assert video.faces == 3 and 0 <= video.score <= 1
    assert (tmp_path / "media" / "roc.png").is_file()
    assert "real/chelsea.jpg" in (tmp_path / "media" / "scores.csv").read_text()

    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,label\n"
                        f"{labelled / 'real' / 'astronaut.jpg'},real\n"
                        f"{labelled / 'fake' / 'astronaut_as_hopper.png'},FAKE\n"
                        "missing.jpg,real\n")
    res2 = evaluate(tiny_run, csv_path, device="cpu", detector=detector)
    assert res2.metrics["n"] == 2 and res2.metrics["roc_auc"] in (0.0, 1.0)
    (missing,) = res2.skipped
    assert missing.failed and "missing.jpg" in missing.note
    by_path = {Path(it.path).name: it.score for it in res.items}
    assert np.isclose(by_path["astronaut.jpg"], next(it.score for it in res2.items if it.path.endswith("astronaut.jpg")))


def test_evaluate_errors(tiny_run: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no_such_dir"):
        evaluate(tiny_run, tmp_path / "no_such_dir", device="cpu")
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match="real/ and fake/"):
        evaluate(tiny_run, tmp_path / "plain", device="cpu")
    with pytest.raises(ConfigError, match="split"):
        evaluate(tiny_run, tiny_dataset, split="test", device="cpu")
    bad = tmp_path / "bad.csv"
    bad.write_text("file,kind\nx.jpg,real\n")
    with pytest.raises(InputError, match="path,label"):
        evaluate(tiny_run, bad, device="cpu")


# --------------------------------------------------------------------------------------------
# CLI


def test_cli_train_detector_then_eval(tiny_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["--device", "cpu", "train", "detector", str(tiny_dataset), "-o", str(run),
                                   "--arch", "tiny", "--no-pretrained", "--epochs", "2", "--batch-size", "4",
                                   "--warmup-steps", "0"])
    assert res.exit_code == 0, res.output
    assert "best epoch" in res.output and (run / "best.pt").is_file()
    saved = json.loads((run / "config.json").read_text())
    assert saved["arch"] == "tiny" and saved["batch_size"] == 4 and saved["device"] == "cpu"

    res = CliRunner().invoke(cli, ["--device", "cpu", "train", "detector", str(tiny_dataset), "-o", str(run),
                                   "--resume", "--epochs", "3"])  # the saved arch/batch size are kept
    assert res.exit_code == 0, res.output
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3

    ev = tmp_path / "ev"
    res = CliRunner().invoke(cli, ["--device", "cpu", "eval", str(tiny_dataset), "--weights", str(run), "-o", str(ev)])
    assert res.exit_code == 0, res.output
    assert (ev / "roc.png").is_file() and (ev / "scores.csv").is_file()
    for word in ("roc_auc", "eer", "accuracy", "predicted fake", "actual real"):
        assert word in res.output


def test_cli_bad_paths_are_one_line_errors(tiny_dataset: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    for args in (["train", "detector", str(missing), "-o", str(tmp_path / "r"), "--arch", "tiny"],
                 ["eval", str(tiny_dataset), "--weights", str(missing)]):
        res = _runner().invoke(cli, ["--device", "cpu", *args])
        assert res.exit_code == 1, res.output
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and "nowhere" in lines[0], res.stderr


def test_cli_help_has_examples_and_arch_choices_match_the_registry() -> None:
    from facelab.detector.cnn import list_classifiers

    train = cli.commands["train"]
    assert isinstance(train, click.Group)
    (arch,) = [p for p in train.commands["detector"].params if p.name == "arch"]
    assert isinstance(arch.type, click.Choice) and list(arch.type.choices) == list_classifiers()
    for path in (["train", "detector"], ["eval"]):
        res = CliRunner().invoke(cli, [*path, "--help"])
        assert res.exit_code == 0 and "Example" in res.output
