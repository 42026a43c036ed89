"""MTCNN detection on real photos: face counts, result types, downscaling, batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facelab.faces.detect import Face, FaceDetector
from facelab.faces.track import box_iou
from facelab.io.image import read_image

FACES = Path("faces")


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(device="cpu")


_cache: dict[str, list[Face]] = {}


def detect_photo(detector: FaceDetector, root: Path, name: str) -> list[Face]:
    """Detections in ``faces/<name>``, computed once per test session."""
    if name not in _cache:
        _cache[name] = detector.detect(read_image(root / FACES / name))
    return _cache[name]


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("face_recognition/two_people.jpg", 2),
        # Biden and Obama, and at the bottom right one of the Obama daughters (143 px, score
        # 0.99), half hidden: three real faces. MTCNN also proposes a patch of the blue
        # streamers at the bottom left, at 0.80: min_score 0.9 drops it.
        ("face_recognition/test_obama_and_biden.jpg", 3),
        ("face_recognition/test_kit_with_rose.jpg", 2),
        ("facenet_pytorch/multiface.jpg", 6),  # the six Friends on the steps
        ("face_recognition/obama.jpg", 1),  # plus a 0.82 false positive on his hand, dropped
        ("face_recognition/biden.jpg", 1),  # 970x2204: detected on a 960-pixel copy
        ("face_recognition/obama_small.jpg", 1),
        ("sadtalker/happy.png", 1),
    ],
)
def test_counts_faces_in_real_photos(detector: FaceDetector, shared_data: Path, name: str, count: int) -> None:
    faces = detect_photo(detector, shared_data, name)
    assert len(faces) == count, [(f.box.round().tolist(), round(f.score, 3)) for f in faces]
    areas = [f.area for f in faces]
    assert areas == sorted(areas, reverse=True)
    for f in faces:
        assert isinstance(f, Face) and f.score >= 0.9
        assert f.box.dtype == np.float32 and f.box.shape == (4,)
        assert f.landmarks.dtype == np.float32 and f.landmarks.shape == (5, 2)
        # landmarks inside the box; eyes above the mouth, "left" eye left of the right one
        lm = f.landmarks
        assert (lm[:, 0] > f.box[0] - 2).all() and (lm[:, 0] < f.box[2] + 2).all()
        assert (lm[:, 1] > f.box[1] - 2).all() and (lm[:, 1] < f.box[3] + 2).all()
        assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]
        assert lm[:2, 1].max() < lm[3:, 1].min()


def test_obama_and_biden_are_the_two_largest(detector: FaceDetector, shared_data: Path) -> None:
    faces = detect_photo(detector, shared_data, "face_recognition/test_obama_and_biden.jpg")
    xs = sorted(float(f.center[0]) for f in faces[:2])
    assert 700 < xs[0] < 1000 and 1100 < xs[1] < 1350  # Biden left, Obama right
    assert faces[2].center[1] > 1000  # the girl, low in the picture


def test_downscaled_detection_matches_full_resolution(detector: FaceDetector, shared_data: Path) -> None:
    image = read_image(shared_data / FACES / "face_recognition/test_kit_with_rose.jpg")  # 501x700
    small = FaceDetector(device="cpu", max_side=350).detect(image)  # boxes mapped back x2
    full = detect_photo(detector, shared_data, "face_recognition/test_kit_with_rose.jpg")
    assert len(small) == len(full) == 2
    for s, f in zip(small, full):
        width = f.width
        assert np.abs(s.landmarks - f.landmarks).max() < 0.05 * width
        assert np.abs(s.box - f.box).max() < 0.08 * width
        # no systematic shift: the pixel-centre mapping back is right
        assert np.abs((s.landmarks - f.landmarks).mean(axis=0)).max() < 0.02 * width


def test_batch_equals_single_images(detector: FaceDetector, shared_data: Path) -> None:
    images = [read_image(shared_data / FACES / f"sadtalker/{n}.png") for n in ("happy", "sad")]
    batch = detector.detect_batch(images)
    for image, faces in zip(images, batch):
        single = detector.detect(image)
        assert len(faces) == len(single) == 1
        np.testing.assert_allclose(faces[0].landmarks, single[0].landmarks, atol=1e-2)
        np.testing.assert_allclose(faces[0].box, single[0].box, atol=1e-2)
    assert detector.detect_batch([]) == []


def test_refine_re_detects_known_faces_with_o_net_alone(detector: FaceDetector, shared_data: Path) -> None:
    image = read_image(shared_data / FACES / "face_recognition/test_kit_with_rose.jpg")  # 501x700
    full = detect_photo(detector, shared_data, "face_recognition/test_kit_with_rose.jpg")
    # a box off by 8 % of the face, as a face that moved since the last frame
    moved = [f.box + np.array([1, 1, 1, 1]) * 0.08 * f.width for f in full]
    refined = detector.refine(image, moved)
    assert len(refined) == len(full) == 2
    for r, f in zip(refined, full):
        assert r is not None and r.score > 0.9
        # O-Net pulls the landmarks back onto the face: within 4 % of its width of the full
        # detection's (which ran the same O-Net on R-Net's box)
        assert np.linalg.norm(r.landmarks - f.landmarks, axis=1).max() < 0.04 * f.width
        assert box_iou(r.box[None], f.box[None])[0, 0] > 0.8
    # a box on the background (the top-left corner) is not a face any more
    w = full[0].width
    assert detector.refine(image, [np.array([0, 0, w, w])]) == [None]
    assert detector.refine(image, []) == []
    with pytest.raises(ValueError, match="uint8"):
        detector.refine(image.astype(np.float32), moved)


def test_no_face_gives_an_empty_list(detector: FaceDetector) -> None:
    rng = np.random.default_rng(0)
    assert detector.detect(np.full((120, 160, 3), 128, np.uint8)) == []
    assert detector.detect_batch([rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)] * 2) == [[], []]


def test_bad_inputs_are_refused(detector: FaceDetector) -> None:
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="same-size"):
        detector.detect_batch([np.zeros((10, 10, 3), np.uint8), np.zeros((12, 10, 3), np.uint8)])


def test_face_helpers() -> None:
    lm = np.array([[3, 4], [7, 4], [5, 6], [3, 8], [7, 8]])
    f = Face(box=np.array([1.0, 2.0, 9.0, 12.0]), score=0.95, landmarks=lm)
    assert f.width == 8 and f.height == 10 and f.area == 80
    np.testing.assert_array_equal(f.center, [5, 7])
    assert f.box.dtype == np.float32 and f.landmarks.dtype == np.float32
    with pytest.raises(ValueError):
        f.box[0] = 0  # read-only: a Face is a value
    d = f.to_dict()
    assert d["box"] == [1, 2, 9, 12] and len(d["landmarks"]) == 5 and d["score"] == 0.95
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        Face(box=np.zeros(4), score=1.0, landmarks=np.zeros((4, 2)))


# --------------------------------------------------------------------------------------------
# landmark backends (facelab.faces.landmarks)


def test_five_point_backend_returns_the_detector_landmarks() -> None:
    from facelab.faces.landmarks import FivePoint, LandmarkBackend, get_landmark_backend

    backend = get_landmark_backend("5pt")
    assert isinstance(backend, FivePoint) and isinstance(backend, LandmarkBackend) and backend.points == 5
    f = Face(box=np.array([0, 0, 10, 10]), score=1.0, landmarks=np.arange(10).reshape(5, 2))
    (pts,) = backend(np.zeros((12, 12, 3), np.uint8), [f])
    np.testing.assert_array_equal(pts, f.landmarks)
    assert pts.flags.writeable  # a copy, not the Face's read-only array


def test_unknown_backend_and_missing_dlib_are_config_errors() -> None:
    from facelab.errors import ConfigError
    from facelab.faces.landmarks import Dlib68, get_landmark_backend

    with pytest.raises(ConfigError, match="dlib68"):
        get_landmark_backend("hrnet")
    try:
        import dlib  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r'facelab\[dlib\].*NON-COMMERCIAL'):
            Dlib68()
    else:
        pytest.skip("dlib is installed; see test_dlib68_on_a_real_photo")


def test_dlib68_on_a_real_photo(detector: FaceDetector, shared_data: Path) -> None:
    pytest.importorskip("dlib")
    from facelab.faces.landmarks import Dlib68

    image = read_image(shared_data / FACES / "face_recognition/obama_small.jpg")
    (face,) = detector.detect(image)
    (pts,) = Dlib68()(image, [face])
    assert pts.shape == (68, 2)
    # dlib's eye centres (36-41, 42-47) are near MTCNN's eyes
    eyes = np.stack([pts[36:42].mean(0), pts[42:48].mean(0)])
    assert np.linalg.norm(eyes - face.landmarks[:2], axis=1).max() < 0.1 * face.width
