"""`facelab demo` end to end on the bundled samples, with few training steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from facelab.cli import cli
from facelab.io.image import read_image
from facelab.io.video import probe_video

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_runs_offline_on_the_samples(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()  # left by an earlier demo: replaced without --overwrite
    (out / ".facelab-demo").write_text("")
    (out / "old.txt").write_text("from an earlier run")
    env = {"FACELAB_OFFLINE": "1", "FACELAB_HOME": str(tmp_path / "home")}
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "demo", "-o", str(out), "--steps", "10"], env=env)
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 10 and summary["video_frames"] == probe_video(ROOT / "samples" / "astronaut_pan.mp4").frame_count
    assert read_image(out / "grace_hopper_sepia.jpg").shape == read_image(ROOT / "samples" / "grace_hopper.jpg").shape
    v = probe_video(out / "astronaut_pan_sepia.mp4")
    assert v.has_audio
    assert (out / "run" / "final.pt").is_file() and (out / "run" / "index.html").is_file()
    # the swap half: one face in the photo, the face in most frames of the video, sidecars beside them
    assert summary["swap"]["photo_faces"] == 1
    assert summary["swap"]["video_frames_changed"] >= 0.9 * summary["swap"]["video_frames"]
    side = json.loads((out / "astronaut_pan_swapped.mp4.json").read_text())
    assert side["synthetic"] and side["frames_total"] == summary["video_frames"]
    assert probe_video(out / "astronaut_pan_swapped.mp4").has_audio
    # the detect half: verdicts for the real sample and the fakes, JSON and HTML report
    names = [d["file"] for d in summary["detect"]]
    assert names == ["astronaut_pan.mp4", "astronaut_pan_swapped.mp4", "astronaut.jpg", "astronaut_swapped.jpg"]
    assert all(d["error"] is None for d in summary["detect"])
    # the shipped detector calls facelab's own swaps FAKE and the originals REAL
    assert [d["verdict"] for d in summary["detect"]] == ["REAL", "FAKE", "REAL", "FAKE"], summary["detect"]
    doc = json.loads((out / "detect.json").read_text())
    # both signals ran, the CNN being the shipped detector, named in the JSON and the report
    assert doc[0]["signals"]["landmark_motion"]["ran"] and doc[0]["signals"]["cnn"]["ran"]
    assert doc[0]["signals"]["cnn"]["name"] == "deepfake_sbi_lite0"
    html = (out / "detect_report.html").read_text()
    assert "CNN stage skipped" not in html and "deepfake_sbi_lite0" in html and "docs/detect.md" in html
    assert not (out / "old.txt").exists()
    # a folder that is not a demo's own is refused
    other = tmp_path / "mine"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    res = CliRunner().invoke(cli, ["-q", "demo", "-o", str(other), "--steps", "10"], env=env)
    assert res.exit_code == 1 and (other / "keep.txt").is_file()
