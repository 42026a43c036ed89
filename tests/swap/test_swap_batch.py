"""`facelab swap` over a folder: outputs as they finish, failures reported, --resume skips finished outputs.

Real MTCNN and one-shot swaps on the repo samples (a photo, a short cut of the sample video).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from facelab.cli import cli
from facelab.io.video import VideoReader, VideoWriter, probe_video
from facelab.swap.pipeline import finished

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def swap(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["--device", "cpu", "--threads", "1", "swap", "--source",
                                   str(SAMPLES / "astronaut.jpg"), *args])
    return res.exit_code, res.output


def test_folder_of_targets_resume_and_failures(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    with VideoReader(SAMPLES / "astronaut_pan.mp4") as reader, \
            VideoWriter(src / "clip.mp4", reader.info.fps, (reader.info.width, reader.info.height)) as writer:
        for i, frame in enumerate(reader):
            if i == 10:
                break
            writer.write(frame)
    shutil.copy(SAMPLES / "grace_hopper.jpg", src / "sub" / "grace.jpg")
    shutil.copy(SAMPLES / "coffee.jpg", src / "coffee.jpg")  # no face: passes through, still an output
    (src / "broken.mp4").write_bytes(b"not a video")
    (src / "notes.txt").write_text("not media: ignored")
    out = tmp_path / "out"

    code, msg = swap("--target", str(src), "-o", str(out))
    assert code == 3, msg  # one target failed, the others finished
    assert "broken.mp4" in msg and "Traceback" not in msg
    outputs = [out / "clip.mp4", out / "sub" / "grace.jpg", out / "coffee.jpg"]
    assert all(finished(p) for p in outputs) and not (out / "broken.mp4").exists()
    assert probe_video(out / "clip.mp4").frame_count == 10
    side = json.loads((out / "sub" / "grace.jpg.json").read_text())
    assert side["faces_changed"] == 1 and side["input"] == str(src / "sub" / "grace.jpg")
    assert not [p for p in out.rglob(".*")], "temporary files left"

    # again without --resume or --overwrite: every existing output is refused, nothing changes
    before = {p: p.stat().st_mtime_ns for p in outputs}
    code, msg = swap("--target", str(src), "-o", str(out))
    assert code == 1 and msg.count("--overwrite") >= 3
    assert {p: p.stat().st_mtime_ns for p in outputs} == before

    # a crash between a video and its sidecar, and a photo never written: --resume redoes those two only
    (out / "clip.mp4.json").unlink()
    (out / "sub" / "grace.jpg").unlink()
    code, msg = swap("--target", str(src), "-o", str(out), "--resume")
    assert code == 3, msg
    assert "1 of 4 outputs already finished" in msg
    assert all(finished(p) for p in outputs)
    assert (out / "coffee.jpg").stat().st_mtime_ns == before[out / "coffee.jpg"]
    assert (out / "clip.mp4").stat().st_mtime_ns != before[out / "clip.mp4"]


def test_several_targets_need_an_output_folder(tmp_path: Path) -> None:
    code, msg = swap("--target", str(SAMPLES / "grace_hopper.jpg"), "--target", str(SAMPLES / "coffee.jpg"),
                     "-o", str(tmp_path / "x.jpg"))
    assert code == 2 and "output folder" in msg
    code, msg = swap("--target", str(SAMPLES / "grace_hopper.jpg"), "-o", str(tmp_path / "o.jpg"),
                     "--resume", "--overwrite")
    assert code == 2 and "exclude" in msg
