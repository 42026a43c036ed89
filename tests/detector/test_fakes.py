"""`facelab fakes`: a labelled real/fake crop data set from real media, built with facelab's own swaps.

Real code paths throughout: MTCNN, one-shot swaps, a tiny learned swap model trained here, real
video files. The samples (astronaut photo and pan video, Grace Hopper) always run; the shared
photos and videos add more people (four or more identities give fakes in both splits).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from facelab import __version__
from facelab.cli import cli
from facelab.detector.crops import CROP
from facelab.detector.dataset import CropRow, read_dataset_info, read_manifest, read_motion_index
from facelab.detector.fakes import METHODS, FakesConfig, FakesSummary, build_fakes
from facelab.detector.landmark_motion import MotionSequence
from facelab.errors import ConfigError, OutputError
from facelab.faces.align import align_face
from facelab.faces.blend import BLEND_MODES
from facelab.faces.color import COLOR_METHODS
from facelab.faces.detect import FaceDetector
from facelab.io.image import read_image, write_image

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(device="cpu")


def face_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference inside the face (the central half of a detector crop)."""
    n = a.shape[0]
    box = slice(n // 4, 3 * n // 4)
    return float(np.abs(a[box, box].astype(np.float32) - b[box, box].astype(np.float32)).mean())


def check_dataset(out: Path, summary_identities: dict[str, str] | None = None) -> list[CropRow]:
    """The invariants every data set keeps; returns its rows."""
    rows = read_manifest(out)
    info = read_dataset_info(out)
    splits = {name: entry["split"] for name, entry in info["identities"].items()}
    assert summary_identities is None or splits == summary_identities
    by_identity: dict[str, set[str]] = {}
    for r in rows:
        by_identity.setdefault(r.identity, set()).add(r.split)
        assert (out / r.path).is_file(), r.path
        assert r.path.startswith(f"crops/{r.label}/{r.identity}/")
        assert splits[r.identity] == r.split
        params = json.loads(r.params)
        if r.label == "real":
            assert r.method == "real" and r.donor == "" and set(params) == {"jpeg"}
        else:
            assert r.method in ("oneshot", "learned", "translate")
            assert set(params) == {"feather", "color", "blend", "jpeg"}
            assert 0.02 <= params["feather"] <= 0.10
            assert params["color"] in COLOR_METHODS and params["blend"] in BLEND_MODES
        assert params["jpeg"] is None or 40 <= params["jpeg"] <= 95
        if r.method == "oneshot":  # a different person of the same split
            assert r.donor != r.identity and splits[r.donor] == r.split, r
    assert all(len(s) == 1 for s in by_identity.values()), "an identity is in both splits"
    for entry in info["inputs"]:
        assert all(splits[name] == split for name, split in entry["splits"].items())
        assert set(entry["splits"]) == set(entry["identities"].values())
    assert info["crop"] == CROP.to_dict() and info["facelab"] == __version__ and info["format"] == "facelab.fakes/1"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")], "temporary folder left"
    return rows


def crop_pairs(out: Path, rows: list[CropRow]) -> list[tuple[np.ndarray, np.ndarray, CropRow]]:
    """(real crop, fake crop, fake row) of the same frame and track."""
    real = {(r.source, r.frame, r.track): r for r in rows if r.label == "real"}
    return [(read_image(out / real[(r.source, r.frame, r.track)].path), read_image(out / r.path), r)
            for r in rows if r.label == "fake" and (r.source, r.frame, r.track) in real]


# ---------------------------------------------------------------------------------------------
# The CLI on the repo samples: three identities, a broken video, inputs without faces


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory, _tiny_video_master: Path) -> tuple[Result, Path]:
    tmp = tmp_path_factory.mktemp("fakes_cli")
    broken = tmp / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    out = tmp / "data"
    res = CliRunner().invoke(cli, ["--device", "cpu", "fakes", str(SAMPLES / "astronaut.jpg"),
                                   str(SAMPLES / "grace_hopper.jpg"), str(SAMPLES / "astronaut_pan.mp4"),
                                   str(broken), str(_tiny_video_master), str(SAMPLES / "chelsea.jpg"),
                                   "-o", str(out), "--max-frames", "3", "--motion-frames", "24"])
    return res, out


def test_cli_writes_the_data_set_and_reports_the_broken_input(cli_run: tuple[Result, Path]) -> None:
    res, out = cli_run
    assert res.exit_code == 3, res.output  # finished, but an input failed
    assert "broken.mp4" in res.stderr and res.stderr.count("error:") == 1
    assert "without a usable face" in res.stderr  # the cat photo and the synthetic clip: not failures
    assert "wrote " in res.stdout and "-> " in res.stdout
    rows = check_dataset(out)
    info = read_dataset_info(out)
    assert sorted(info["identities"]) == ["astronaut", "astronaut_pan", "grace_hopper"]
    assert [f["source"] for f in info["failures"]] == [str(out.parent / "broken.mp4")]
    assert info["settings"]["max_frames"] == 3 and info["seed"] == 0 and info["settings"]["methods"] == ["oneshot"]
    # three identities: two in one split, one alone in the other (no same-split donor there, a warning)
    assert Counter(info["identities"][n]["split"] for n in info["identities"]) == Counter({"train": 2, "val": 1})
    assert "single identity" in res.stderr
    video = [r for r in rows if r.source.endswith("astronaut_pan.mp4")]
    assert sorted({r.frame for r in video if r.label == "real"}) == [0, 40, 70]  # 3 of the 8 sampled, spread
    assert all(r.frame % 10 == 0 and r.track == 0 for r in video)
    assert Counter(r.label for r in rows if r.split == "train") == Counter({"real": 4, "fake": 4})
    for r in rows:
        assert read_image(out / r.path).shape == (224, 224, 3)


def test_cli_fake_crops_differ_from_the_real_crop_inside_the_face(cli_run: tuple[Result, Path]) -> None:
    _, out = cli_run
    pairs = crop_pairs(out, read_manifest(out))
    assert len(pairs) == 4
    for real, fake, row in pairs:
        assert face_diff(real, fake) > 1.0, row
        # the crop border (background) is nearly untouched: the swap is local
        assert np.abs(real[:20].astype(np.float32) - fake[:20]).mean() < face_diff(real, fake) + 10


def test_cli_motion_sequences_are_written_and_load(cli_run: tuple[Result, Path]) -> None:
    _, out = cli_run
    motion = read_motion_index(out)
    info = read_dataset_info(out)
    assert motion and all(m.source.endswith("astronaut_pan.mp4") for m in motion)
    real = [m for m in motion if m.label == "real"]
    assert len(real) == 1 and real[0].method == "real"
    for m in motion:
        seq = MotionSequence.load(out / m.path)
        assert 16 <= len(seq) <= 24 and np.all(np.diff(seq.frames) == 1)  # consecutive frames
        assert m.split == info["identities"][m.identity]["split"]
    for m in motion:
        if m.label == "fake":
            assert m.method == "oneshot" and m.donor != m.identity
            assert info["identities"][m.donor]["split"] == m.split


def test_cli_refuses_an_existing_output_and_writes_nothing(cli_run: tuple[Result, Path], tmp_path: Path) -> None:
    _, out = cli_run
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    res = CliRunner().invoke(cli, ["fakes", str(SAMPLES / "astronaut.jpg"), "-o", str(out)])
    assert res.exit_code == 1 and "--overwrite" in res.output
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    res = CliRunner().invoke(cli, ["fakes", str(SAMPLES / "astronaut.jpg"), "-o", str(other), "--overwrite"])
    assert res.exit_code == 1 and "not a fakes data set" in res.output
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def test_cli_usage_errors_and_help() -> None:
    res = CliRunner().invoke(cli, ["fakes", "--help"])
    assert res.exit_code == 0 and "Example" in res.output and "--identity" in res.output
    res = CliRunner().invoke(cli, ["fakes", "a.jpg", "-o", "x", "--methods", "oneshot,deepfacelab"])
    assert res.exit_code == 2 and "deepfacelab" in res.output
    res = CliRunner().invoke(cli, ["fakes", "a.jpg", "-o", "x", "--methods", "learned"])
    assert res.exit_code == 2 and "--swap-model" in res.output


# ---------------------------------------------------------------------------------------------
# Library: errors before any work, config checks


def test_a_single_identity_is_a_clear_error(detector: FaceDetector, tmp_path: Path) -> None:
    out = tmp_path / "data"
    with pytest.raises(ConfigError, match="at least two identities") as err:
        build_fakes([SAMPLES / "astronaut.jpg", SAMPLES / "coffee.jpg"], out, detector=detector)
    assert "\n" not in str(err.value)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    # two identities, one per split: no same-split donor anywhere
    with pytest.raises(ConfigError, match="two identities in the same split"):
        build_fakes([SAMPLES / "astronaut.jpg", SAMPLES / "grace_hopper.jpg"], out, detector=detector)
    assert list(tmp_path.iterdir()) == []


def test_config_is_checked() -> None:
    assert FakesConfig().active_methods == ("oneshot",)
    assert FakesConfig(swap_model="run", translator="t.pt").active_methods == ("oneshot", "learned", "translate")
    for bad in ({"methods": ("learned",)}, {"methods": ("nope",)}, {"val_fraction": 0.0}, {"val_fraction": 1.0},
                {"every": 0}, {"motion_frames": -1}, {"identity": "face"}, {"jpeg_quality": (90, 40)}, {"seed": -1}):
        with pytest.raises(ConfigError):
            FakesConfig(**bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Shared real media: more people, a multi-person video, folder identities, learned swaps


@pytest.fixture(scope="module")
def people(shared_data: Path) -> dict[str, Any]:
    photos = shared_data / "faces" / "face_recognition"
    return {"photos": [photos / n for n in ("obama.jpg", "biden.jpg", "train_kit_harington_john1.jpeg",
                                             "train_rose_leslie_img1.jpg")],
            "stage": shared_data / "face_videos" / "short_hamilton_clip.mp4",
            "folders": shared_data / "faces" / "facenet_pytorch" / "test_images",
            "face_recognition": photos}


@pytest.mark.slow
def test_many_people_and_a_multi_person_video(people: dict[str, Any], detector: FaceDetector,
                                              tmp_path: Path) -> None:
    out = tmp_path / "data"
    seen: list[tuple[str, int, int | None]] = []
    summary = build_fakes([people["stage"], *people["photos"]], out,
                          FakesConfig(every=30, max_frames=2, motion_frames=20), detector=detector,
                          on_progress=lambda stage, n, total: seen.append((stage, n, total)))
    rows = check_dataset(out, summary.identities)
    assert summary.failures == []
    stage = sorted(n for n in summary.identities if n.startswith("short_hamilton_clip"))
    assert len(stage) >= 2 and all(n.startswith("short_hamilton_clip#t") for n in stage)  # several people
    assert {"obama", "biden"} <= set(summary.identities)
    for split in ("train", "val"):  # four or more identities: two or more per split, fakes in both
        assert sum(1 for s in summary.identities.values() if s == split) >= 2
        assert summary.total("fake", split) > 0 and summary.total("real", split) > 0
    assert summary.total() == len(rows)
    assert {stage for stage, _, _ in seen} == {"scan", "fakes"}
    scan_total = [t for s, _, t in seen if s == "scan"][0]
    assert sum(n for s, n, _ in seen if s == "scan") == scan_total == 10 + 4  # ceil(275 / 30) frames, 4 photos
    for real, fake, row in crop_pairs(out, rows):
        assert face_diff(real, fake) > 8.0, row  # another person's face
    for label in ("real", "fake"):  # the same JPEG re-encodes for both labels: some frames, not all
        assert {json.loads(r.params)["jpeg"] is None for r in rows if r.label == label} == {True, False}
    # motion: one clip of the stage video (where its tracks are), the kept faces swapped, each with its own donor
    motion = read_motion_index(out)
    assert len(motion) == summary.motion_total and all(m.source == str(people["stage"]) for m in motion)
    real_tracks = {m.track for m in motion if m.label == "real"}
    fake_tracks = {m.track for m in motion if m.label == "fake"}
    assert real_tracks and fake_tracks and fake_tracks <= real_tracks
    for m in motion:
        seq = MotionSequence.load(out / m.path)
        assert 16 <= len(seq) <= 20 and m.identity == f"short_hamilton_clip#t{m.track}"
        assert m.label == "real" or (m.donor != m.identity and summary.identities[m.donor] == m.split)
    video_rows = [r for r in rows if r.source == str(people["stage"])]
    assert all(r.frame % 30 == 0 for r in video_rows)
    assert Counter(r.identity for r in video_rows if r.label == "real").most_common(1)[0][1] <= 2  # max_frames


@pytest.fixture(scope="module")
def swap_run(people: dict[str, Any], detector: FaceDetector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A face-swap autoencoder (Obama -> Biden, 64 px) trained for 40 steps: enough to make a face."""
    from facelab.swap.learned import swap_config, train_swap

    photos = people["face_recognition"]
    root = tmp_path_factory.mktemp("swap_faces")
    for side, names in (("A", sorted(photos.glob("obama*.jpg"))),
                        ("B", [photos / "biden.jpg", photos / "train_biden_biden2.jpg"])):
        (root / side).mkdir()
        for path in names:
            image = read_image(path)
            face = detector.detect(image)[0]
            write_image(root / side / f"{path.stem}.png", align_face(image, face.landmarks, 64, 0.2).crop)
        (root / side / "faces.json").write_text(json.dumps({"settings": {"size": 64, "margin": 0.2}}))
    cfg = swap_config(root / "A", root / "B", root / "run", arch="autoencoder", ngf=8, latent=64, lr=5e-4,
                      batch_size=4, max_steps=40, workers=0, print_every=1000, display_every=1000,
                      save_epoch_every=1000, device="cpu")
    return train_swap(cfg)


@pytest.mark.slow
def test_folder_identities_with_learned_and_translated_fakes(people: dict[str, Any], swap_run: Path,
                                                             detector: FaceDetector, tmp_path: Path) -> None:
    out = tmp_path / "data"
    cfg = FakesConfig(identity="folder", swap_model=str(swap_run), translator=str(swap_run), seed=3, device="cpu")
    summary = build_fakes([people["folders"]], out, cfg, detector=detector)
    rows = check_dataset(out, summary.identities)
    assert sorted(summary.identities) == ["angelina_jolie", "kate_siegel", "paul_rudd", "shea_whigham"]
    made = Counter(r.method for r in rows if r.label == "fake")
    for method in METHODS:  # each target: a fake, or counted as not found again by the detector
        lost = sum(n for reason, n in summary.skipped.items() if reason.startswith(f"{method} "))
        assert made[method] + lost == 4, (method, made, summary.skipped)
    assert made["oneshot"] == 4 and made["learned"] + made["translate"] > 0
    for r in rows:
        if r.method in ("learned", "translate"):
            assert r.donor == f"{r.method}:{swap_run.name}"
    info = read_dataset_info(out)
    assert set(info["models"]) == {"learned", "translate"} and info["settings"]["identity"] == "folder"


@pytest.mark.slow
def test_same_seed_same_data_set_and_overwrite(people: dict[str, Any], detector: FaceDetector,
                                               tmp_path: Path) -> None:
    out = tmp_path / "data"
    first: FakesSummary = build_fakes(people["photos"], out, FakesConfig(seed=7), detector=detector)
    manifest = (out / "manifest.csv").read_text()
    crops = {p.relative_to(out): p.read_bytes() for p in (out / "crops").rglob("*.png")}
    with pytest.raises(OutputError, match="--overwrite"):
        build_fakes(people["photos"], out, FakesConfig(seed=7), detector=detector)
    again = build_fakes(people["photos"], out, FakesConfig(seed=7), detector=detector, overwrite=True)
    assert (out / "manifest.csv").read_text() == manifest and again.identities == first.identities
    assert {p.relative_to(out): p.read_bytes() for p in (out / "crops").rglob("*.png")} == crops
    other = build_fakes(people["photos"], tmp_path / "seed8", FakesConfig(seed=8), detector=detector)
    assert (tmp_path / "seed8" / "manifest.csv").read_text() != manifest or other.identities != first.identities
