"""Long `facelab detect` runs: the journal, --resume after a crash, and memory flat in the number of files.

Real MTCNN, a real (tiny) classifier checkpoint, real video files cut from samples/astronaut_pan.mp4.
A crash is simulated in-process: a run that journals its first input and stops, as a killed
process would leave it (plus a torn half line).
"""

from __future__ import annotations

import gc
import json
import shutil
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from facelab.cli import cli
from facelab.detector.cnn import load_classifier
from facelab.detector.journal import DetectJournal, journal_path, run_settings
from facelab.detector.pipeline import DetectConfig, detect_files, make_detector
from facelab.faces.detect import FaceDetector
from facelab.io.video import VideoReader, VideoWriter

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(device="cpu")


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 12 frames of the sample video (a real face, real H.264)."""
    path = tmp_path_factory.mktemp("clip") / "short.mp4"
    with VideoReader(SAMPLES / "astronaut_pan.mp4") as reader:
        info = reader.info
        with VideoWriter(path, info.fps, (info.width, info.height)) as writer:
            for i, frame in enumerate(reader):
                if i == 12:
                    break
                writer.write(frame)
    return path


def copies(clip: Path, folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        shutil.copy(clip, folder / f"v{i:02d}.mp4")
        out.append(folder / f"v{i:02d}.mp4")
    return out


def _records(path: Path) -> list[dict]:
    doc = json.loads(path.read_text())
    for r in doc:  # what differs between two runs of the same analysis
        r.pop("timings")
    return doc


def test_resume_after_a_crash_gives_the_uninterrupted_outputs(tmp_path: Path, short_clip: Path,
                                                              tiny_detector_weights: Path) -> None:
    files = copies(short_clip, tmp_path / "in", 3)
    bad = tmp_path / "in" / "v03_bad.mp4"
    bad.write_bytes(b"not a video")
    args = ["-q", "--device", "cpu", "--threads", "1", "detect", str(tmp_path / "in"), "--weights", str(tiny_detector_weights),
            "--stride", "4", "--top", "1"]
    clean = tmp_path / "clean"
    clean.mkdir()
    res = CliRunner().invoke(cli, [*args, "--json", str(clean / "v.json"), "--csv", str(clean / "f.csv"),
                                   "--report", str(clean / "r.html")])
    assert res.exit_code == 3, res.output
    assert not journal_path(clean / "v.json").exists()  # removed once the outputs are written

    # the "crashed" run: the same settings as the CLI's, the first input journalled, then killed mid-line
    out = tmp_path / "crashed"
    out.mkdir()
    cfg = DetectConfig(stride=4, top_k=1, cnn=True, landmarks=True, gradcam=True)
    settings = run_settings(cfg.to_dict(), weights=tiny_detector_weights, landmark_model=None, report=True)
    journal = DetectJournal.open(journal_path(out / "v.json"), settings, resume=False)
    from facelab.detector.landmark_scorer import load_landmark_scorer

    # the CLI's detector: MTCNN's pyramid from --min-size (make_detector)
    for r in detect_files(files[:1], cfg, detector=make_detector(cfg, "cpu"), classifier=load_classifier(tiny_detector_weights),
                          scorer=load_landmark_scorer()):
        journal.append(r, html=True)
    journal.close()
    with open(journal.path, "ab") as fh:
        fh.write(b'{"key": {"path": "/half/a/line')  # torn by the kill
    lines = journal.path.read_text().splitlines()
    assert json.loads(lines[0])["journal"] == "facelab.detect-journal/1" and len(lines) == 3

    # without --resume the journal is not thrown away silently
    res = CliRunner().invoke(cli, [*args, "--json", str(out / "v.json")])
    assert res.exit_code == 1 and "--resume" in res.output
    # other settings: refused
    res = CliRunner().invoke(cli, [*args[:-2], "--top", "2", "--json", str(out / "v.json"), "--csv", str(out / "f.csv"),
                                   "--report", str(out / "r.html"), "--resume"])
    assert res.exit_code == 1 and "other settings" in res.output and "top_k" in res.output
    res = CliRunner().invoke(cli, [*args[1:], "--json", str(out / "v.json"), "--csv", str(out / "f.csv"),
                                   "--report", str(out / "r.html"), "--resume"])  # not quiet: the resume note
    assert res.exit_code == 3, res.output
    assert "1 of 4 inputs already analysed" in res.output
    assert _records(out / "v.json") == _records(clean / "v.json")
    assert (out / "f.csv").read_text() == (clean / "f.csv").read_text()
    html = (out / "r.html").read_text()
    assert html.count('<section class="media"') == 4 and html.count("data:image/jpeg") >= 3
    assert all(f'id="m{i}"' in html for i in range(4)) and "@@anchor@@" not in html
    assert not journal.path.exists()


def _peak_bytes(files: list[Path], cfg: DetectConfig, detector: FaceDetector, classifier: object,
                journal: DetectJournal) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        for r in detect_files(files, cfg, detector=detector, classifier=classifier):
            journal.append(r, html=True)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_files(tmp_path: Path, short_clip: Path, tiny_detector_weights: Path,
                                                       detector: FaceDetector) -> None:
    """Peak traced (Python and numpy) memory over 2 and over 6 videos: the same within 1 MB, while each
    video's result holds about 1 MB of crops and Grad-CAM maps that a list of results would keep."""
    cfg = DetectConfig(stride=4, top_k=4, landmarks=False)
    classifier = load_classifier(tiny_detector_weights)
    files = copies(short_clip, tmp_path / "in", 6)
    list(detect_files(files[:1], cfg, detector=detector, classifier=classifier))  # warm up caches and lazy imports
    peaks = {}
    for n in (2, 6):
        journal = DetectJournal.open(tmp_path / f"j{n}.jsonl", {"n": n}, resume=False)
        peaks[n] = _peak_bytes(files[:n], cfg, detector, classifier, journal)
        journal.write_outputs(files[:n], json_out=tmp_path / f"v{n}.json", report=tmp_path / f"r{n}.html")
        journal.remove()
        assert len(json.loads((tmp_path / f"v{n}.json").read_text())) == n
    kept = list(detect_files(files[:1], cfg, detector=detector, classifier=classifier))
    per_file = sum(s.crop.nbytes + (s.cam.nbytes if s.cam is not None else 0)
                   for t in kept[0].tracks for s in t.suspicious)
    assert per_file > 500_000  # so keeping 4 more results would show
    assert peaks[6] - peaks[2] < 1_000_000, peaks
