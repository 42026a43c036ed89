"""Landmark-motion check: features on a real clip, synthetic flow and pose cases, files, scorers, CLI."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from facelab.detector.dataset import MOTION_COLUMNS, MotionRow, write_rows
from facelab.detector.landmark_motion import (
    FEATURES,
    POSE_CENTRAL,
    POSE_INDICES,
    POSE_MODEL,
    REFERENCE,
    MotionExtractor,
    MotionSequence,
    aggregate,
    detection_spacing,
    flow_residuals,
    head_pose_inconsistency,
    window_features,
    window_names,
)
from facelab.detector.landmark_scorer import (
    LandmarkScorer,
    calibrate_real_windows,
    fit_landmark_classifier,
    load_landmark_scorer,
)
from facelab.errors import InputError, WeightsError
from facelab.faces.detect import Face

torch.set_num_threads(1)

# --------------------------------------------------------------------------------------------
# A real clip, tracked once for the module
# --------------------------------------------------------------------------------------------

N_FRAMES = 40


@pytest.fixture(scope="module")
def real_clip(shared_data: Path) -> tuple[list[np.ndarray], list[Face]]:
    """The first 40 frames of tpsmm_driving.mp4 and the raw MTCNN face of its first track."""
    from facelab.faces.detect import FaceDetector
    from facelab.faces.track import track_video

    frames, faces = [], []
    path = shared_data / "face_videos" / "tpsmm_driving.mp4"
    for _, frame, tracked in track_video(path, FaceDetector(device="cpu"), detect_every=1, max_frames=N_FRAMES):
        t0 = [t for t in tracked if t.track_id == 0]
        assert t0 and t0[0].detected
        frames.append(frame)
        faces.append(t0[0].raw)
    return frames, faces


def _run(frames: list[np.ndarray], faces: list[Face]) -> MotionSequence:
    ex = MotionExtractor(fps=25.0)
    for i, (frame, face) in enumerate(zip(frames, faces)):
        ex.update(i, frame, [(0, face, True)])
    return ex.sequences()[0]


def _shift(face: Face, d: np.ndarray) -> Face:
    return Face(box=face.box + np.tile(d, 2), score=face.score, landmarks=face.landmarks + d)


def test_real_clip_features_are_small_and_landmarks_head_normalised(real_clip) -> None:
    frames, faces = real_clip
    seq = _run(frames, faces)
    assert len(seq) == N_FRAMES and seq.detected.all() and seq.frames.tolist() == list(range(N_FRAMES))
    assert set(seq.features) == set(FEATURES)
    for k in ("jitter", "flow_inner", "flow_outline"):
        v = seq.features[k][np.isfinite(seq.features[k])]
        assert len(v) >= N_FRAMES - 3, k
        assert 0 <= np.median(v) < 0.15, (k, np.median(v))  # a few % of the inter-ocular distance
    assert np.isnan(seq.features["pose_rot"]).all()  # five points: no Yang pose
    eyes = seq.landmarks[:, :2]
    np.testing.assert_allclose(eyes.mean(axis=1), 0, atol=0.05)
    # The eyes and the nose anchor the fit, so the IOD is about 1 (turning heads shorten it).
    np.testing.assert_allclose(np.linalg.norm(eyes[:, 1] - eyes[:, 0], axis=1), 1, atol=0.1)
    assert seq.iod is not None and 20 < np.median(seq.iod) < 200  # pixels
    win = window_features(seq)
    assert win.spans == [(0, 30), (10, 40)] and win.X.shape == (2, 2 * len(FEATURES))


def test_jittered_landmarks_score_higher(real_clip) -> None:
    frames, faces = real_clip
    rng = np.random.default_rng(0)
    noisy = []
    for f in faces:
        iod = float(np.linalg.norm(f.landmarks[1] - f.landmarks[0]))
        noisy.append(Face(box=f.box, score=f.score, landmarks=f.landmarks + rng.normal(0, 0.05 * iod, (5, 2))))
    real, fake = _run(frames, faces), _run(frames, noisy)
    for k in ("jitter", "flow_inner"):
        assert np.nanmedian(fake.features[k]) > 2 * np.nanmedian(real.features[k]), k
    scorer = load_landmark_scorer()
    p_real, p_fake = scorer.score(window_features(real).X), scorer.score(window_features(fake).X)
    assert aggregate(p_fake) > aggregate(p_real) and aggregate(p_fake) >= scorer.threshold


def test_pasted_face_wobbling_against_the_head_scores_higher(real_clip) -> None:
    """Paste each frame's own inner face back shifted by a random few % of the IOD, landmarks with it."""
    frames, faces = real_clip
    rng = np.random.default_rng(1)
    pasted_frames, pasted_faces = [], []
    for frame, f in zip(frames, faces):
        lm = f.landmarks.astype(np.float64)
        iod = float(np.linalg.norm(lm[1] - lm[0]))
        d = rng.normal(0, 0.06 * iod, 2)
        shifted = cv2.warpAffine(frame, np.float64([[1, 0, d[0]], [0, 1, d[1]]]), frame.shape[1::-1],
                                 borderMode=cv2.BORDER_REFLECT_101)
        mask = np.zeros(frame.shape[:2], np.float32)
        c = lm.mean(axis=0) + d
        cv2.ellipse(mask, (int(c[0]), int(c[1])), (int(0.85 * iod), int(1.1 * iod)), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.05 * iod)[..., None]
        pasted_frames.append((mask * shifted + (1 - mask) * frame).round().astype(np.uint8))
        pasted_faces.append(_shift(f, d.astype(np.float32)))
    real, fake = _run(frames, faces), _run(pasted_frames, pasted_faces)
    assert np.nanmedian(fake.features["flow_outline"]) > 1.5 * np.nanmedian(real.features["flow_outline"])
    scorer = load_landmark_scorer()
    assert aggregate(scorer.score(window_features(fake).X)) > aggregate(scorer.score(window_features(real).X))


# --------------------------------------------------------------------------------------------
# Synthetic geometry
# --------------------------------------------------------------------------------------------


def _texture(h: int = 260, w: int = 260, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (h // 4, w // 4)).astype(np.float32)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def _translate(img: np.ndarray, d: tuple[float, float]) -> np.ndarray:
    return cv2.warpAffine(img, np.float64([[1, 0, d[0]], [0, 1, d[1]]]), img.shape[1::-1],
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def test_flow_residuals_zero_for_rigid_motion_and_large_against_the_texture() -> None:
    prev = _texture()
    lm0 = REFERENCE * 50 + np.array([130.0, 110.0])  # IOD 50 px, face in the middle
    d = (3.0, 2.0)
    cur = _translate(prev, d)
    inner, outline = flow_residuals(prev, cur, lm0, lm0 + d)
    assert inner < 0.02 and outline < 0.02, (inner, outline)
    inner, outline = flow_residuals(prev, cur, lm0, lm0 + d + np.array([-4.0, 3.0]))
    assert inner > 0.08 and outline > 0.08, (inner, outline)


def test_extractor_flow_features_on_a_moving_texture() -> None:
    base = _texture()
    lm0 = REFERENCE * 50 + np.array([130.0, 110.0])
    ex = MotionExtractor(fps=30.0)
    for i in range(6):
        d = np.array([2.0 * i, 1.0 * i])
        frame = np.repeat(_translate(base, tuple(d))[..., None], 3, axis=2)
        ex.update(i, frame, [(7, Face(box=[80, 60, 180, 180], score=0.99, landmarks=lm0 + d), True)])
    seq = ex.sequences()[7]
    assert np.isnan(seq.features["flow_inner"][0]) and np.isnan(seq.features["jitter"][:2]).all()
    assert np.nanmax(seq.features["flow_inner"]) < 0.02 and np.nanmax(seq.features["flow_outline"]) < 0.02
    assert np.nanmax(seq.features["jitter"]) < 1e-6  # pure translation: nothing left after compensation


def _project(rvec: np.ndarray, tvec: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    cam = np.array([[max(w, h), 0, (w - 1) / 2], [0, max(w, h), (h - 1) / 2], [0, 0, 1]], np.float64)
    pts, _ = cv2.projectPoints(POSE_MODEL, rvec, tvec, cam, None)
    return pts.reshape(-1, 2)


def test_yang_pose_inconsistency() -> None:
    size = (640, 480)
    t = np.array([0.5, -0.3, 60.0])
    a = np.array([0.1, 0.25, -0.05])  # about 16 degrees
    b = a + np.array([0.0, 0.35, 0.0])  # 20 degrees more yaw
    dense = np.zeros((68, 2))
    dense[list(POSE_INDICES)] = _project(a, t, size)
    rot, trans = head_pose_inconsistency(dense, size)
    assert rot < 0.5 and trans < 0.01, (rot, trans)
    central = [POSE_INDICES[i] for i in POSE_CENTRAL]
    dense[central] = _project(b, t, size)[list(POSE_CENTRAL)]
    rot2, _ = head_pose_inconsistency(dense, size)
    # The whole-face fit shares the 8 central points (of 14), so it follows them part of the way.
    assert rot2 > 2.0, rot2
    assert all(math.isnan(v) for v in head_pose_inconsistency(np.zeros((5, 2)), size))

    frame = np.zeros((480, 640, 3), np.uint8)
    face = Face(box=[200, 100, 400, 350], score=0.99, landmarks=dense[[36, 45, 30, 48, 54]])
    ex = MotionExtractor(fps=None, landmarks="dlib68")
    ex.update(0, frame, [(0, face, True)], dense={0: dense})
    ex.update(1, frame, [(0, face, False)], dense={0: dense})  # carried frames get no features
    pose = ex.sequences()[0].features["pose_rot"]
    assert pose[0] == pytest.approx(rot2, abs=1e-3) and np.isnan(pose[1])


# --------------------------------------------------------------------------------------------
# Files and windows
# --------------------------------------------------------------------------------------------


def _sequence(n: int = 100, seed: int = 0, fake: bool = False, track: int = 0,
              detected: np.ndarray | None = None) -> MotionSequence:
    rng = np.random.default_rng(seed)
    feats = {k: np.abs(rng.normal(0.03, 0.01, n)).astype(np.float32) for k in FEATURES}
    if fake:
        feats["flow_outline"] += np.float32(0.04)
        feats["jitter"] += np.float32(0.02)
    feats["flow_gap"] = feats["flow_outline"] - feats["flow_inner"]
    feats["pose_rot"][:] = np.nan
    feats["pose_trans"][:] = np.nan
    feats["jitter"][:2] = np.nan
    det = np.ones(n, bool) if detected is None else detected
    for v in feats.values():
        v[~det] = np.nan
    lm = np.repeat(REFERENCE[None].astype(np.float32), n, 0) + rng.normal(0, 0.01, (n, 5, 2)).astype(np.float32)
    return MotionSequence(track=track, frames=np.arange(n, dtype=np.int64), detected=det, landmarks=lm,
                          features=feats, fps=25.0)


def test_sequence_npz_round_trip_and_bad_files(tmp_path: Path) -> None:
    seq = _sequence(20, detected=np.arange(20) % 3 != 1)
    seq.save(tmp_path / "s.npz")
    back = MotionSequence.load(tmp_path / "s.npz")
    assert back.track == seq.track and back.fps == 25.0
    np.testing.assert_array_equal(back.frames, seq.frames)
    np.testing.assert_array_equal(back.detected, seq.detected)
    np.testing.assert_array_equal(back.landmarks, seq.landmarks)
    assert list(back.features) == list(seq.features)
    for k in seq.features:
        np.testing.assert_array_equal(back.features[k], seq.features[k])
    MotionSequence(0, np.zeros(0, np.int64), np.zeros(0, bool), np.zeros((0, 5, 2), np.float32), {}, None) \
        .save(tmp_path / "empty.npz")
    assert len(MotionSequence.load(tmp_path / "empty.npz")) == 0

    (tmp_path / "junk.npz").write_bytes(b"\x00not a zip")
    np.savez(tmp_path / "pickled.npz", format=np.array(["facelab.motion/1", None], dtype=object))
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    for name in ("junk.npz", "pickled.npz", "other.npz", "missing.npz"):
        with pytest.raises(InputError, match=name):
            MotionSequence.load(tmp_path / name)


def test_window_spans() -> None:
    win = window_features(_sequence(100))
    assert win.spans == [(0, 30), (15, 45), (30, 60), (45, 75), (60, 90), (70, 100)]
    assert win.names == window_names() and win.X.shape == (6, len(win.names))
    assert np.isnan(win.X[:, win.names.index("pose_rot_median")]).all()
    assert np.isfinite(win.X[:, win.names.index("jitter_p90")]).all()
    assert window_features(_sequence(12)).spans == [(0, 12)]  # shorter than a window: one window
    assert window_features(_sequence(4)).X.shape == (0, len(win.names))  # fewer than 5 detections
    every5 = window_features(_sequence(60, detected=np.arange(60) % 5 == 0))  # 6 detections per window
    assert every5.spans == [(0, 30), (15, 45), (30, 60)]
    sparse = window_features(_sequence(60, detected=np.arange(60) % 10 == 0))  # 3 per window: too few
    assert sparse.spans == []
    assert detection_spacing(_sequence(60, detected=np.arange(60) % 5 == 0)) == 5.0
    assert detection_spacing(_sequence(100)) == 1.0 and math.isnan(detection_spacing(_sequence(1)))


def test_aggregate_is_the_mean_of_the_top_third() -> None:
    assert aggregate(np.array([0.1, 0.2, 0.9, 0.3, 0.8, np.nan])) == pytest.approx((0.9 + 0.8) / 2)
    assert aggregate(np.array([0.4])) == pytest.approx(0.4)
    assert math.isnan(aggregate(np.array([])))


# --------------------------------------------------------------------------------------------
# Scorers
# --------------------------------------------------------------------------------------------


def test_calibrated_scorer_puts_95_percent_of_real_windows_below_half() -> None:
    rng = np.random.default_rng(0)
    names = ["a", "b", "c"]
    X = np.abs(rng.normal(0, 1, (400, 3)))
    X[:, 2] = np.nan  # a column without real values is ignored
    rec = calibrate_real_windows(names, X, [f"v{i % 4}" for i in range(400)])
    assert rec["median"][2] is None and rec["evaluation"]["real_below_threshold"] == pytest.approx(0.95, abs=0.01)
    assert set(rec["evaluation"]["leave_one_video_out_below_threshold"]) == {"v0", "v1", "v2", "v3"}
    import json

    path = Path(__file__).parent / "_calib_tmp.json"
    try:
        path.write_text(json.dumps(rec))
        sc = load_landmark_scorer(path)
    finally:
        path.unlink(missing_ok=True)
    p = sc.score(X)
    assert sc.kind == "calibrated" and np.mean(p < 0.5) == pytest.approx(0.95, abs=0.01)
    assert np.median(p) == pytest.approx(0.05, abs=0.01)
    assert sc.score(np.array([[50.0, 0.0, np.nan]]))[0] > 0.99


def test_bundled_calibration() -> None:
    sc = load_landmark_scorer()
    d = sc.describe()
    assert sc.kind == "calibrated" and sc.threshold == 0.5 and sc.names == window_names()
    assert d["evaluation"]["real_below_threshold"] >= 0.9
    assert d["provenance"]["videos"] and d["provenance"]["landmarks"] == "5pt" and d["detect_every"] == 1
    assert not any("deepfake" in v["file"] for v in d["provenance"]["videos"])
    # The calibrated statistic uses the median columns only; the p90 columns are left to classifiers.
    used = [n for n, m in zip(sc.names, sc.params["median"]) if np.isfinite(m)]
    assert used and all(n.endswith("_median") for n in used)


def _dataset(root: Path, n_per: int = 6) -> Path:
    rows = []
    (root / "motion").mkdir(parents=True)
    i = 0
    for split in ("train", "val"):
        for label in ("real", "fake"):
            for k in range(n_per):
                name = f"motion/{split}_{label}_{k}.npz"
                _sequence(75, seed=i, fake=label == "fake", track=k).save(root / name)
                ident = f"{split}_person{k % 3}"
                rows.append(MotionRow(path=name, label=label, split=split, identity=ident, source=f"{ident}.mp4",
                                      track=k, method="real" if label == "real" else "oneshot",
                                      donor="" if label == "real" else f"{split}_donor"))
                i += 1
    write_rows(root / "motion.csv", rows, MOTION_COLUMNS)
    return root


def _sklearn_reference(root: Path, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """What scikit-learn itself predicts on the val windows, trained exactly as facelab does."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    from facelab.detector.dataset import read_motion_index

    data: dict[str, tuple[list, list]] = {"train": ([], []), "val": ([], [])}
    for r in read_motion_index(root):
        X = window_features(MotionSequence.load(root / r.path)).X
        data[r.split][0].append(X)
        data[r.split][1].extend([r.y] * len(X))
    Xtr, ytr = np.concatenate(data["train"][0]), np.array(data["train"][1])
    Xva = np.concatenate(data["val"][0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the all-NaN pose columns
        mean = np.nan_to_num(np.nanmean(Xtr, axis=0))
        std = np.nanstd(Xtr, axis=0)
    std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
    tr, va = np.nan_to_num((Xtr - mean) / std), np.nan_to_num((Xva - mean) / std)
    if kind == "logreg":
        clf = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced", random_state=0).fit(tr, ytr)
        return Xva, clf.predict_proba(va)[:, 1]
    cal = CalibratedClassifierCV(SVC(kernel="rbf", C=1.0, gamma="scale", class_weight="balanced"),
                                 method="sigmoid", cv=3, ensemble=False).fit(tr, ytr)
    return Xva, cal.predict_proba(va)[:, 1]


@pytest.mark.parametrize("kind", ["logreg", "svm"])
def test_fit_classifier_checkpoint_matches_sklearn(tmp_path: Path, kind: str) -> None:
    root = _dataset(tmp_path / "ds")
    m = fit_landmark_classifier(root, tmp_path / "lm.pt", kind=kind)
    assert m["val_auc"] > 0.9 and 0 <= m["val_eer"] < 0.2 and m["train_windows"] == 12 * 4
    ck = torch.load(tmp_path / "lm.pt", weights_only=True)
    assert ck["arch"] == "landmark_motion" and ck["meta"]["kind"] == "facelab.detector.landmarks"
    assert all(isinstance(v, torch.Tensor) for v in ck["state_dict"].values())
    sc = load_landmark_scorer(tmp_path / "lm.pt")
    assert sc.kind == kind and sc.threshold == pytest.approx(m["threshold"]) and sc.names == window_names()
    Xva, ref = _sklearn_reference(root, kind)
    np.testing.assert_allclose(sc.score(Xva), ref, atol=1e-9)
    del ck["state_dict"]["intercept"]
    torch.save(ck, tmp_path / "broken.pt")
    with pytest.raises(WeightsError, match="incomplete"):
        load_landmark_scorer(tmp_path / "broken.pt")


def test_fit_classifier_needs_both_labels(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "ds", n_per=2)
    from facelab.detector.dataset import read_motion_index

    rows = [r for r in read_motion_index(root) if not (r.split == "val" and r.label == "fake")]
    write_rows(root / "motion.csv", rows, MOTION_COLUMNS)
    with pytest.raises(InputError, match="val split"):
        fit_landmark_classifier(root, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="expected X of shape"):
        LandmarkScorer("logreg", ["a"], 0.5, {"mean": [0.0], "scale": [1.0], "coef": [1.0],
                                              "intercept": 0.0}).score(np.zeros((2, 3)))


def test_cli_train_landmarks(tmp_path: Path) -> None:
    from facelab.cli import cli

    root = _dataset(tmp_path / "ds", n_per=4)
    out = tmp_path / "lm.pt"
    res = CliRunner().invoke(cli, ["train", "landmarks", str(root), "-o", str(out), "--kind", "logreg"])
    assert res.exit_code == 0, res.output
    assert "AUC" in res.output and "EER" in res.output and out.is_file()
    res = CliRunner().invoke(cli, ["train", "landmarks", str(root), "-o", str(out)])
    assert res.exit_code == 1 and "--overwrite" in res.output
    res = CliRunner().invoke(cli, ["train", "landmarks", "--help"])
    assert res.exit_code == 0 and "Example" in res.output
