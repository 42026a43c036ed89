"""`facelab fakes --resume`: a run killed in pass 1 and again in pass 2 ends with the data set of an uninterrupted run.

Real MTCNN, one-shot swaps and the sample photos and video. The crash is simulated in-process by
raising from the progress callback after N units, which stops the run where a kill would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from facelab.cli import cli
from facelab.detector.fakes import FakesConfig, build_fakes, work_folder
from facelab.errors import ConfigError, OutputError
from facelab.faces.detect import FaceDetector

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
INPUTS = [SAMPLES / "astronaut.jpg", SAMPLES / "grace_hopper.jpg", SAMPLES / "astronaut_pan.mp4"]
CFG = FakesConfig(max_frames=3, motion_frames=20, seed=5, device="cpu")


class Crash(Exception):
    """Stands in for a kill."""


def crash_after(stage: str, n: int, seen: list[tuple[str, int]]) -> Callable[[str, int, int | None], None]:
    count = {"n": 0}

    def on_progress(s: str, k: int, total: int | None) -> None:
        seen.append((s, k))
        if s == stage:
            count["n"] += k
            if count["n"] >= n:
                raise Crash(f"killed in {stage}")

    return on_progress


def snapshot(out: Path) -> dict[str, bytes]:
    files = ["manifest.csv", "motion.csv", *(str(p.relative_to(out)) for p in out.rglob("*.png")),
             *(str(p.relative_to(out)) for p in out.rglob("*.npz"))]
    return {f: (out / f).read_bytes() for f in sorted(files)}


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(device="cpu")


@pytest.mark.slow
def test_crash_in_both_passes_then_resume_gives_the_clean_data_set(tmp_path: Path, detector: FaceDetector) -> None:
    clean = build_fakes(INPUTS, tmp_path / "clean", CFG, detector=detector)
    assert clean.total("fake") > 0 and clean.motion_total > 0
    out = tmp_path / "data"
    work = work_folder(out)
    # 1. killed during the scan of the video (the two photos are scanned and saved)
    seen: list[tuple[str, int]] = []
    with pytest.raises(Crash):
        build_fakes(INPUTS, out, CFG, detector=detector, on_progress=crash_after("scan", 5, seen))
    assert work.is_dir() and not out.exists()
    assert sorted(p.name for p in (work / "progress" / "scan").glob("*.json")) == ["astronaut.json", "grace_hopper.json"]
    # a plain re-run does not throw the work away; other settings cannot resume it
    with pytest.raises(OutputError, match="--resume"):
        build_fakes(INPUTS, out, CFG, detector=detector)
    with pytest.raises(ConfigError, match="other settings"):
        build_fakes(INPUTS, out, FakesConfig(max_frames=4, motion_frames=20, seed=5, device="cpu"),
                    detector=detector, resume=True)
    # 2. resumed, killed again in pass 2 after the first photo is done and during the second
    seen = []
    with pytest.raises(Crash):
        build_fakes(INPUTS, out, CFG, detector=detector, resume=True, on_progress=crash_after("fakes", 2, seen))
    assert sum(k for s, k in seen if s == "scan") == 8  # only the video is scanned again: ceil(75 / 10) frames
    assert [p.name for p in (work / "progress" / "done").glob("*.json")] == ["astronaut.json"]
    # 3. the CLI resumes and finishes
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "--threads", "1", "fakes", *map(str, INPUTS), "-o", str(out),
                                   "--max-frames", "3", "--motion-frames", "20", "--seed", "5", "--resume"])
    assert res.exit_code == 0, res.output
    assert not work.exists() and (out / "dataset.json").is_file()
    assert snapshot(out) == snapshot(tmp_path / "clean")


def test_inputs_changed_since_the_crash(tmp_path: Path, detector: FaceDetector) -> None:
    photos = tmp_path / "in"
    photos.mkdir()
    for p in INPUTS:
        (photos / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "data"
    with pytest.raises(Crash):
        build_fakes([photos], out, CFG, detector=detector, on_progress=crash_after("scan", 1, []))
    (photos / "rocket.jpg").write_bytes((SAMPLES / "rocket.jpg").read_bytes())
    with pytest.raises(ConfigError, match="inputs changed"):
        build_fakes([photos], out, CFG, detector=detector, resume=True)
    # --overwrite starts again
    summary = build_fakes([photos], out, CFG, detector=detector, overwrite=True)
    assert summary.total("real") > 0 and not work_folder(out).exists()
