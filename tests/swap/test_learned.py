"""Learned swap end to end on real footage: extract faces from the two 512x512 talking heads,
train a (tiny) CycleGAN between them briefly, then swap with it."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from click.testing import CliRunner

from facelab.cli import cli
from facelab.io.video import VideoReader, VideoWriter, probe_video


def run(*args: str):
    return CliRunner().invoke(cli, ["-q", "--device", "cpu", *args])


@pytest.fixture(scope="module")
def face_sets(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("faces")
    videos = sorted((shared_data / "face_videos").glob("sadtalker_*.mp4"))
    assert len(videos) == 2
    res = run("extract", *map(str, videos), "-o", str(out), "--size", "64", "--margin", "0.2", "--every", "10",
              "--detect-every", "2")
    assert res.exit_code == 0, res.output
    a, b = (out / v.stem for v in videos)
    return a, b


def test_learned_swap_runs_end_to_end(face_sets: tuple[Path, Path], shared_data: Path, tmp_path: Path) -> None:
    a, b = face_sets
    assert json.loads((a / "faces.json").read_text())["settings"]["size"] == 64
    assert len(list(a.glob("*.png"))) >= 15 and len(list(b.glob("*.png"))) >= 15
    run_dir = tmp_path / "run"
    res = run("train", "swap", "--faces-a", str(a), "--faces-b", str(b), "-o", str(run_dir),
              "--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8", "--max-steps", "20", "--workers", "0",
              "--batch-size", "2")
    assert res.exit_code == 0, res.output
    assert (run_dir / "final.pt").is_file()
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["extra"]["swap"] == {"size": 64, "margin": 0.2}

    # a short clip of person A (30 frames, with its audio) becomes person B
    src = shared_data / "face_videos" / "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"
    clip = tmp_path / "clip.mp4"
    info = probe_video(src)
    with VideoReader(src) as reader, VideoWriter(clip, info.fps, audio_from=src) as writer:
        for i, frame in enumerate(reader):
            if i == 30:
                break
            writer.write(frame)
    out = tmp_path / "swapped.mp4"
    res = run("swap", "--model", str(run_dir), "--target", str(clip), "-o", str(out), "--largest")
    assert res.exit_code == 0, res.output
    side = json.loads((tmp_path / "swapped.mp4.json").read_text())
    assert side["source"]["method"] == "learned" and side["frames_changed"] >= 25
    assert side["settings"]["size"] == 64 and side["settings"]["margin"] == 0.2
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30
    assert probe_video(out).has_audio
