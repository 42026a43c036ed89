"""The expression-following one-shot swap and several sources, on real photos with the real MTCNN.

Tests that need dlib's 68 points skip without the `dlib` extra; all need ../shared/data.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from facelab.cli import cli
from facelab.faces.dense import mouth_opening
from facelab.faces.detect import FaceDetector
from facelab.io.image import read_image, write_image
from facelab.io.video import VideoWriter
from facelab.swap.oneshot import MultiSource, OneShotSource, SwapSettings, swap_face
from facelab.swap.pipeline import swap_video_file

needs_dlib = pytest.mark.skipif(importlib.util.find_spec("dlib") is None, reason="the dlib extra is not installed")


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(device="cpu")


@needs_dlib
def test_closed_mouth_source_opens_with_the_target(shared_data: Path, detector: FaceDetector) -> None:
    """Biden's closed mouth onto Obama's open smile: with 68 points the swapped mouth opens as the
    target's (judged by dlib on the output), with 5 points it stays the source's; outside the
    mask every pixel is the target's, bit for bit."""
    from facelab.faces.landmarks import get_landmark_backend

    dlib68 = get_landmark_backend("dlib68")
    target = read_image(shared_data / "faces" / "face_recognition" / "obama.jpg")
    (face,) = detector.detect(target)
    (pts,) = dlib68(target, [face])
    opening = {}
    for mode in ("5pt", "dlib68"):
        settings = SwapSettings(landmarks=mode)
        source = OneShotSource.from_photo(shared_data / "faces" / "face_recognition" / "biden.jpg", detector, settings)
        out, mask = swap_face(target, face.landmarks, source, settings, dense=pts if mode == "dlib68" else None)
        assert np.array_equal(out[mask == 0], target[mask == 0])
        assert (out != target).any(-1).sum() > 0.3 * (mask > 0).sum()
        (after,) = dlib68(out, [face])
        opening[mode] = mouth_opening(after)
    want = mouth_opening(pts)
    assert want > 0.1
    assert abs(opening["dlib68"] - want) < 0.05 < abs(opening["5pt"] - want), (want, opening)


@needs_dlib
def test_source_warnings_flag_an_open_smile(shared_data: Path, detector: FaceDetector) -> None:
    settings = SwapSettings(landmarks="dlib68")
    smiling = OneShotSource.from_photo(shared_data / "faces" / "face_recognition" / "obama.jpg", detector, settings)
    assert any("mouth is open" in w for w in smiling.warnings())
    calm = OneShotSource.from_photo(shared_data / "faces" / "face_recognition" / "biden.jpg", detector, settings)
    assert not any("mouth" in w for w in calm.warnings())


def test_several_sources_pick_the_nearest_pose(shared_data: Path, detector: FaceDetector, tmp_path: Path) -> None:
    """A source photo and its mirror image: a target turned like the mirror gets the mirror."""
    photo = read_image(shared_data / "faces" / "face_recognition" / "obama.jpg")
    settings = SwapSettings()
    sources = [OneShotSource.from_image(img, detector, settings, name)
               for img, name in ((photo, "as is"), (np.ascontiguousarray(photo[:, ::-1]), "mirrored"))]
    multi = MultiSource(sources)
    yaws = [s.pose[0] for s in sources]
    assert np.sign(yaws[0]) == -np.sign(yaws[1]) and abs(yaws[0]) > 0.01
    for i, img in enumerate((photo, np.ascontiguousarray(photo[:, ::-1]))):
        (face,) = detector.detect(img)
        out, mask = swap_face(img, face.landmarks, multi, settings)
        assert multi.last == i
        assert np.array_equal(out[mask == 0], img[mask == 0])
    assert multi.describe()["sources"] == ["as is", "mirrored"]


def test_cli_source_folder_and_repeated(shared_data: Path, tmp_path: Path) -> None:
    faces_dir = shared_data / "faces" / "face_recognition"
    folder = tmp_path / "alice"
    folder.mkdir()
    for name in ("obama.jpg", "obama2.jpg"):
        write_image(folder / name.replace(".jpg", ".png"), read_image(faces_dir / name))
    out = tmp_path / "out.png"
    res = CliRunner().invoke(cli, ["--device", "cpu", "swap", "--source", str(folder), "--landmarks", "5pt",
                                   "--target", str(faces_dir / "biden.jpg"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    side = json.loads((tmp_path / "out.png.json").read_text())
    assert [Path(p).name for p in side["source"]["sources"]] == ["obama.png", "obama2.png"]
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "swap", "--source", str(folder / "obama.png"),
                                   "--source", str(tmp_path / "missing.jpg"), "--target", str(faces_dir / "biden.jpg"),
                                   "-o", str(tmp_path / "out2.png")])
    assert res.exit_code != 0 and "missing.jpg" in res.output
    assert not (tmp_path / "out2.png").exists()


@needs_dlib
def test_default_is_the_expression_mode_with_dlib(shared_data: Path, tmp_path: Path) -> None:
    faces_dir = shared_data / "faces" / "face_recognition"
    out = tmp_path / "out.png"
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "swap", "--source", str(faces_dir / "biden.jpg"),
                                   "--target", str(faces_dir / "two_people.jpg"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    side = json.loads((tmp_path / "out.png.json").read_text())
    assert side["settings"]["landmarks"] == "dlib68" and side["source"]["warp"] == "piecewise-affine"
    assert side["faces_changed"] == 2  # group photos: every face


@needs_dlib
def test_video_with_dense_landmarks(shared_data: Path, detector: FaceDetector, tmp_path: Path) -> None:
    """Eight frames of a real talking head through swap_video_file with the 68-point mode."""
    from facelab.io.video import VideoReader

    clip = tmp_path / "talk.mp4"
    with VideoReader(shared_data / "face_videos" / "sadtalker_WDA_KatieHill_000.mp4") as reader, \
            VideoWriter(clip, reader.info.fps, (reader.info.width, reader.info.height)) as writer:
        for i, frame in reader.frames_with_index():
            if i >= 8:
                break
            writer.write(frame)
    settings = SwapSettings(landmarks="dlib68")
    source = OneShotSource.from_photo(shared_data / "faces" / "face_recognition" / "biden.jpg", detector, settings)
    rec = swap_video_file(source, clip, tmp_path / "out.mp4", detector, settings)
    assert rec.frames_total == 8 and all(f["faces"] for f in rec.frames)
    assert rec.source["warp"] == "piecewise-affine"
