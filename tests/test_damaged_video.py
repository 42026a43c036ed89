"""Damaged videos through every video command: property tests (hypothesis) and the issue's case.

Small real clips (the bundled ``astronaut_pan.mp4``: a real face, with audio) in each container
facelab reads are damaged at random as files get damaged (bytes overwritten, deleted or
duplicated), then ``swap``, ``translate``, ``detect`` and ``extract`` run on them through the
CLI. Whatever the damage, each command must: not crash (exit 0, or exit 1 with a one-line
error and no traceback), leave no partial output on failure, write (or analyse) exactly the
frames the reader decoded, decode within a few frames of what ffmpeg's own decoder gets, and
say so when frames were lost.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from facelab.cli import cli
from facelab.errors import FacelabError
from facelab.io.video import VideoReader, VideoWriter

sys.path.insert(0, str(Path(__file__).parent))  # the damage helpers, with any pytest import mode
from damage import edit_bytes, ffmpeg_frames, naive_frames, patch_bytes  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "astronaut_pan.mp4"
FRAMES = 16
# container -> video codec (the writer's default is H.264; WebM holds VP9, MPEG-PS holds MPEG-1)
CONTAINERS = {"mp4": None, "mov": None, "mkv": None, "avi": None, "webm": None, "mpg": "mpeg1video"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first FRAMES frames of the bundled sample, with its audio, in each container."""
    folder = tmp_path_factory.mktemp("clips")
    reader = VideoReader(SAMPLE)
    frames = [f for _, f in zip(range(FRAMES), reader, strict=False)]
    out = {}
    for ext, codec in CONTAINERS.items():
        path = folder / f"clip.{ext}"
        opts = {"preset": "ultrafast"} if codec is None and ext != "webm" else {"deadline": "realtime", "cpu-used": "8"}
        # MPEG-PS cannot hold the sample's AAC audio: that clip is silent
        with VideoWriter(path, reader.info.fps, audio_from=SAMPLE if ext != "mpg" else None, codec=codec,
                         encoder_options=opts if codec is None else {}) as wr:
            for f in frames:
                wr.write(f)
        out[ext] = path
    return out


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"FACELAB_OFFLINE": "1"})


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def check_failure(res: Result, bad: Path, folder: Path, inputs: set[str]) -> None:
    """A refusal: exit 1, one line naming the file, no traceback, nothing written."""
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit | FacelabError), res.exception
    assert "Traceback" not in res.output
    errors = re.findall(r"error: [^\n]*", res.output)
    assert errors and bad.name in errors[0], res.output
    assert leftovers(folder, inputs) == [], "partial output left behind"


def decoded(bad: Path) -> tuple[int, VideoReader] | None:
    """What facelab's reader decodes from ``bad`` (None when it refuses the file)."""
    try:
        reader = VideoReader(bad)
        return sum(1 for _ in reader), reader
    except FacelabError:
        return None


damage_ops = st.tuples(st.sampled_from(["overwrite", "delete", "duplicate"]), st.floats(0.0, 0.999),
                       st.integers(1, 6000), st.sampled_from(sorted(CONTAINERS)))


def check_command(command: str, run_it: Callable[[Path, Path], Result],
                  output_frames: Callable[[Path, Result], tuple[int, dict]],
                  clips: dict[str, Path], damage: tuple[str, float, int, str]) -> None:
    op, at, length, ext = damage
    with pytest.MonkeyPatch.context():
        folder = Path(__import__("tempfile").mkdtemp(prefix=f"dmg-{command}-"))
        try:
            bad = edit_bytes(clips[ext], folder / f"bad.{ext}", op, at, length)
            out = folder / ("out" if command == "extract" else f"out.{'json' if command == 'detect' else ext}")
            res = run_it(bad, out)
            got = decoded(bad)
            if res.exit_code != 0:
                if command == "detect":  # detect's JSON is the batch report: it records the failure
                    assert json.loads(out.read_text())[0]["error"]
                    out.unlink()
                check_failure(res, bad, folder, {bad.name})
                return
            assert got is not None, f"{command} succeeded on a file the reader refuses: {res.output}"
            n, reader = got
            reference = ffmpeg_frames(bad)
            assert abs(n - reference) <= 3, (op, at, length, ext, n, reference)
            n_out, doc = output_frames(out, res)
            assert n_out == n, (command, op, at, length, ext, n_out, n)
            lost = reader.damage.frames_lost
            assert doc.get("frames_lost_to_damage", 0) == lost
            if reader.damage.damaged:
                assert any("damaged video" in w for w in doc.get("warnings", [])), doc.get("warnings")
                assert "WARNING: damaged video" in res.output, res.output
            else:
                assert "WARNING" not in res.output
        finally:
            shutil.rmtree(folder, ignore_errors=True)


# no shrinking: each example runs a whole command, and the failing example is printed as found
PROPERTY = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                    derandomize=True, phases=[Phase.explicit, Phase.reuse, Phase.generate])


@pytest.mark.slow
@given(damage=damage_ops)
@PROPERTY
def test_property_swap_on_damaged_video(clips: dict[str, Path], damage: tuple[str, float, int, str]) -> None:
    source = Path(__file__).resolve().parents[1] / "samples" / "grace_hopper.jpg"

    def output_frames(out: Path, res: Result) -> tuple[int, dict]:
        doc = json.loads(out.with_name(out.name + ".json").read_text())
        assert doc["frames_total"] == ffmpeg_frames(out)
        return doc["frames_total"], doc

    check_command("swap", lambda bad, out: run("swap", "--source", str(source), "--target", str(bad), "-o", str(out)),
                  output_frames, clips, damage)


@pytest.mark.slow
@given(damage=damage_ops)
@PROPERTY
def test_property_translate_on_damaged_video(clips: dict[str, Path], tiny_generator: Path,
                                             damage: tuple[str, float, int, str]) -> None:
    def output_frames(out: Path, res: Result) -> tuple[int, dict]:
        n = ffmpeg_frames(out)
        reader = VideoReader(out.parent / out.name.replace("out", "bad"))
        sum(1 for _ in reader)
        warnings = [reader.damage.describe()] if reader.damage.damaged else []
        return n, {"frames_lost_to_damage": reader.damage.frames_lost, "warnings": warnings}

    check_command("translate", lambda bad, out: run("translate", "--weights", str(tiny_generator), str(bad),
                                                    "-o", str(out)), output_frames, clips, damage)


@pytest.mark.slow
@given(damage=damage_ops)
@PROPERTY
def test_property_detect_on_damaged_video(clips: dict[str, Path], damage: tuple[str, float, int, str]) -> None:
    def output_frames(out: Path, res: Result) -> tuple[int, dict]:
        doc = json.loads(out.read_text())[0]
        return doc["frames_analysed"], doc

    check_command("detect", lambda bad, out: run("detect", str(bad), "--json", str(out), "--frames", "4"),
                  output_frames, clips, damage)


@pytest.mark.slow
@given(damage=damage_ops)
@PROPERTY
def test_property_extract_on_damaged_video(clips: dict[str, Path], damage: tuple[str, float, int, str]) -> None:
    def output_frames(out: Path, res: Result) -> tuple[int, dict]:
        (sidecar,) = out.rglob("faces.json")
        video = json.loads(sidecar.read_text())["video"]
        return video["frames_processed"], video

    check_command("extract", lambda bad, out: run("extract", str(bad), "-o", str(out)), output_frames, clips, damage)


@pytest.mark.slow
def test_issue_case_real_clip_damaged_in_the_middle(shared_data: Path, tmp_path: Path) -> None:
    """A real H.264 clip with twenty 200-byte patches a third of the way in (the issue's damage):
    swap keeps >= 95 % of the frames ffmpeg decodes, at their times, with the audio; detect
    analyses as many and reports the damage; --on-damage fail refuses with one line."""
    clip = shared_data / "face_videos" / "short_hamilton_clip.mp4"
    bad = patch_bytes(clip, tmp_path / "damaged.mp4", at=1 / 3)
    reference = ffmpeg_frames(bad)
    assert naive_frames(bad) < 0.5 * reference  # the damage really stops a naive decoder early

    out = tmp_path / "out.mp4"
    res = run("swap", "--source", str(SAMPLE.with_name("grace_hopper.jpg")), "--target", str(bad), "-o", str(out))
    assert res.exit_code == 0, res.output
    doc = json.loads(out.with_name("out.mp4.json").read_text())
    written = ffmpeg_frames(out)
    assert written == doc["frames_total"] >= 0.95 * reference
    assert doc["frames_lost_to_damage"] > 0 and "damaged video" in doc["warnings"][0]
    assert re.search(r"swapped [^\n]*; WARNING: damaged video: \d+ of \d+ frames lost", res.output), res.output
    # the timeline and the audio: every written frame at its input time, audio copied alongside
    src_times = [t for _, t, _ in VideoReader(bad).timed_frames()]
    out_times = [t for _, t, _ in VideoReader(out).timed_frames()]
    assert np.allclose(out_times, src_times, atol=2e-3)
    import av

    with av.open(str(bad)) as a, av.open(str(out)) as b:
        def starts(c: av.container.InputContainer) -> tuple[float, float]:
            v, s = c.streams.video[0], c.streams.audio[0]
            return float(v.start_time * v.time_base), float(s.start_time * s.time_base)

        (va, aa), (vb, ab) = starts(a), starts(b)
        assert abs((va - aa) - (vb - ab)) < 0.01  # audio-to-video offset kept: lip sync

    report = tmp_path / "det.json"
    res = run("detect", str(bad), "--json", str(report), "--frames", "8", "--report", str(tmp_path / "det.html"))
    assert res.exit_code == 0, res.output
    det = json.loads(report.read_text())[0]
    assert det["frames_analysed"] >= 0.95 * reference and det["frames_lost_to_damage"] == doc["frames_lost_to_damage"]
    assert "damaged video" in det["warnings"][0]
    assert "frames lost" in (tmp_path / "det.html").read_text()

    refused = tmp_path / "refused.mp4"
    res = run("swap", "--source", str(SAMPLE.with_name("grace_hopper.jpg")), "--target", str(bad), "-o", str(refused),
              "--on-damage", "fail")
    assert res.exit_code == 1 and not refused.exists()
    assert re.search(r"error: [^\n]*damaged\.mp4: damaged video", res.output) and "Traceback" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
