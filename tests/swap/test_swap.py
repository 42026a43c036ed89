"""Face swap on real photos and videos from ../shared/data, with the real MTCNN."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facelab.cli import cli
from facelab.faces.detect import FaceDetector
from facelab.faces.mask import dilate
from facelab.io.image import read_image
from facelab.io.video import probe_video
from facelab.swap.oneshot import OneShotSource, SwapSettings, swap_face


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(device="cpu")


def test_oneshot_changes_only_the_face_and_lands_on_the_target(shared_data: Path, detector: FaceDetector) -> None:
    faces_dir = shared_data / "faces" / "face_recognition"
    settings = SwapSettings()
    source = OneShotSource.from_photo(faces_dir / "biden.jpg", detector, settings)
    target = read_image(faces_dir / "obama.jpg")
    (face,) = detector.detect(target)
    out, mask = swap_face(target, face.landmarks, source, settings)
    changed = (out != target).any(-1)
    assert changed.sum() > 0.5 * (mask > 0).sum()  # the face really changed
    # only inside the (dilated) face mask; everything else bit-identical
    assert not (changed & (dilate((mask > 0).astype(np.float32), 1) == 0)).any()
    assert np.array_equal(out[mask == 0], target[mask == 0])
    # the pasted face's landmarks land on the target's (within 10 % of the face width)
    (after,) = detector.detect(out)
    err = np.linalg.norm(after.landmarks - face.landmarks, axis=1).max()
    assert err < 0.10 * face.width, err


def test_group_photo_all_faces_and_sidecar(shared_data: Path, tmp_path: Path) -> None:
    faces_dir = shared_data / "faces" / "face_recognition"
    out = tmp_path / "group.png"
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "swap", "--source", str(faces_dir / "biden.jpg"),
                                   "--target", str(faces_dir / "two_people.jpg"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    side = json.loads((tmp_path / "group.png.json").read_text())
    assert side["synthetic"] and side["faces_changed"] == 2 and side["source"]["method"] == "oneshot"
    assert {f["track"] for f in side["frames"][0]["faces"]} == {0, 1}
    assert "synthetic" in Image.open(out).info["comment"]
    # --largest swaps one face only
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "swap", "--source", str(faces_dir / "biden.jpg"),
                                   "--target", str(faces_dir / "two_people.jpg"), "-o", str(tmp_path / "one.png"),
                                   "--largest", "--blend", "poisson"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "one.png.json").read_text())["faces_changed"] == 1


def test_photo_without_faces_passes_through(tmp_path: Path, shared_data: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    src = tmp_path / "coffee.png"
    Image.open(root / "samples" / "coffee.jpg").save(src)
    out = tmp_path / "out.png"
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "swap", "--source",
                                   str(shared_data / "faces" / "face_recognition" / "obama.jpg"),
                                   "--target", str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert np.array_equal(read_image(out), read_image(src))
    assert json.loads((tmp_path / "out.png.json").read_text())["faces_changed"] == 0


def test_source_without_a_face_is_a_one_line_error(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    res = CliRunner().invoke(cli, ["--device", "cpu", "swap", "--source", str(root / "samples" / "coffee.jpg"),
                                   "--target", str(root / "samples" / "astronaut.jpg"), "-o", str(tmp_path / "x.jpg")])
    assert res.exit_code == 1 and "no face found" in res.output and "coffee.jpg" in res.output
    assert not (tmp_path / "x.jpg").exists()


@pytest.mark.slow
def test_video_swap_keeps_frames_fps_size_and_audio(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "face_videos" / "short_hamilton_clip.mp4"
    out = tmp_path / "swapped.mp4"
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "swap", "--source",
                                   str(shared_data / "faces" / "face_recognition" / "biden.jpg"),
                                   "--target", str(src), "-o", str(out), "--largest", "--detect-every", "10"])
    assert res.exit_code == 0, res.output
    a, b = probe_video(src), probe_video(out)
    assert (b.width, b.height, b.fps, b.has_audio, b.audio_codec) == (a.width, a.height, a.fps, True, a.audio_codec)
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 275
        assert "synthetic" in c.metadata.get("comment", "")
    side = json.loads((tmp_path / "swapped.mp4.json").read_text())
    assert side["frames_total"] == 275 and side["frames_changed"] > 200


def test_piecewise_affine_path_bends_the_source_onto_the_target(shared_data: Path, detector: FaceDetector) -> None:
    """With dense landmarks on both sides the one-shot face is warped piecewise-affinely. Run here
    with MTCNN's 5 points as the 'dense' set (dlib's 68 are an optional extra): each landmark is
    then moved exactly onto the target's, closer than the least-squares similarity puts it."""
    from dataclasses import replace

    from facelab.faces.align import align_face, transform_points

    faces_dir = shared_data / "faces" / "face_recognition"
    settings = SwapSettings()
    src_img = read_image(faces_dir / "biden.jpg")
    (sf,) = detector.detect(src_img)
    aligned = align_face(src_img, sf.landmarks, settings.size, settings.margin)
    plain = OneShotSource(aligned=aligned, path="biden.jpg")
    bent = replace(plain, dense=transform_points(sf.landmarks, aligned.M))
    target = read_image(faces_dir / "obama.jpg")
    (face,) = detector.detect(target)
    errs = []
    for source, dense in ((plain, None), (bent, face.landmarks)):
        out, mask = swap_face(target, face.landmarks, source, settings, dense=dense)
        assert np.array_equal(out[mask == 0], target[mask == 0])
        (after,) = detector.detect(out)
        errs.append(np.linalg.norm(after.landmarks - face.landmarks, axis=1).mean())
    assert errs[1] < errs[0], errs
    assert bent.describe()["warp"] == "piecewise-affine"
