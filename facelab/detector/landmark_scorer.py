"""Scorers for the landmark-motion windows: a real-video calibration, or a fitted classifier.

    scorer = load_landmark_scorer()               # bundled calibration, works out of the box
    probs = scorer.score(window_features(seq).X)  # fake probability per window, in [0, 1]
    fake = aggregate(probs) >= scorer.threshold

Three kinds (``LandmarkScorer.kind``):

``calibrated`` (default, ``landmark_calibration.json`` next to this module)
    Made by ``tools/calibrate_landmarks.py`` from **real** videos only. Each window column ``j``
    gets a robust z-score ``z_j = (x_j - median_j) / (1.4826 MAD_j)`` against the real windows
    (columns without real values are ignored, so the 68-point pose columns drop out with five
    points). The bundled calibration uses the ``*_median`` columns only: on the real clips the
    90th percentiles of 30 frames swing with every burst of fast motion, and each extra column
    in a maximum costs sensitivity at the same false-positive rate (the trained classifiers
    use all columns). The window statistic is ``s = max_j z_j`` over the columns used (any
    feature far out of the real range is suspicious; the features are one-sided: only large
    values are).
    With ``s50`` and ``s95`` the median and 95th percentile of ``s`` over the real windows, the
    probability is ``sigmoid((s - s95) / tau)`` with ``tau = (s95 - s50) / ln 19``: a median real
    window scores 0.05 and 95 % of the real calibration windows score below the threshold 0.5.
    The JSON also stores a leave-one-video-out check of that 95 %.
``logreg``, ``svm``
    Fitted by :func:`fit_landmark_classifier` (``facelab train landmarks``) on the motion
    sequences of a data set made by ``facelab fakes``: standardisation (training mean and
    standard deviation; NaN becomes 0 after it, i.e. the mean), then scikit-learn's
    ``LogisticRegression`` or RBF ``SVC`` with Platt scaling (``CalibratedClassifierCV``,
    sigmoid). The checkpoint stores only arrays (coefficients; support vectors, dual
    coefficients, gamma, intercept, Platt ``A, B``), loads
    with ``weights_only=True``, and scoring is re-implemented here in numpy (tested equal to
    scikit-learn's ``predict_proba``). The threshold is the equal-error-rate point on the
    validation windows.

Convention:
    ``X`` is ``float64 (m, F)`` with columns in ``scorer.names`` order (as
    :func:`~facelab.detector.landmark_motion.window_features` makes them); 1 = fake.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facelab.errors import ConfigError, InputError, WeightsError

__all__ = ["CALIBRATION_PATH", "LandmarkScorer", "calibrate_real_windows", "fit_landmark_classifier",
           "load_landmark_scorer"]

log = logging.getLogger(__name__)

CALIBRATION_PATH = Path(__file__).with_name("landmark_calibration.json")
CALIBRATION_FORMAT = "facelab.landmark_calibration/1"
CHECKPOINT_KIND = "facelab.detector.landmarks"
_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


def _f(a: Any) -> float:
    """A stored scalar (0-d or 1-element array) as a float."""
    return float(np.asarray(a, np.float64).reshape(-1)[0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


def _rbf(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    d = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    return np.exp(-gamma * np.maximum(d, 0.0))


class LandmarkScorer:
    """Window features -> fake probability (see the module docstring for the kinds).

    Attributes:
        names: the window columns ``score`` expects, in order.
        threshold: probability at and above which a window or track counts as fake.
        kind: ``"calibrated"``, ``"logreg"`` or ``"svm"``.
        params: the kind's arrays (float64).
        meta: provenance and metrics.
    """

    def __init__(self, kind: str, names: Sequence[str], threshold: float, params: dict[str, np.ndarray],
                 meta: dict[str, Any] | None = None) -> None:
        if kind not in ("calibrated", "logreg", "svm"):
            raise ValueError(f"unknown scorer kind {kind!r}")
        self.kind = kind
        self.names = list(names)
        self.threshold = float(threshold)
        self.params = {k: np.asarray(v, np.float64) for k, v in params.items()}
        self.meta = dict(meta or {})

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.names):
            raise ValueError(f"expected X of shape (m, {len(self.names)}) with columns {self.names}, got {X.shape}")
        return X

    def standardise(self, X: np.ndarray) -> np.ndarray:
        """Classifier input: ``(X - mean) / scale`` with NaN -> 0 (logreg / svm only)."""
        Xs = (self._check(X) - self.params["mean"]) / self.params["scale"]
        return np.where(np.isfinite(Xs), Xs, 0.0)

    def statistic(self, X: np.ndarray) -> np.ndarray:
        """Calibrated kind: ``max_j z_j`` per window (NaN when no column is defined)."""
        z = (self._check(X) - self.params["median"]) / self.params["scale"]
        z = np.where(np.isfinite(self.params["median"])[None, :], z, np.nan)
        out = np.full(len(z), np.nan)
        has = np.isfinite(z).any(axis=1)
        out[has] = np.nanmax(z[has], axis=1)
        return out

    def decision(self, X: np.ndarray) -> np.ndarray:
        """Raw score before the logistic: logit (logreg), SVM decision value, or ``s`` (calibrated)."""
        if self.kind == "calibrated":
            return self.statistic(X)
        Xs = self.standardise(X)
        if self.kind == "logreg":
            return Xs @ self.params["coef"] + _f(self.params["intercept"])
        k = _rbf(Xs, self.params["support_vectors"], _f(self.params["gamma"]))
        return k @ self.params["dual_coef"] + _f(self.params["intercept"])

    def score(self, X: np.ndarray) -> np.ndarray:
        """Fake probability per window, ``float64 (m,)`` in [0, 1].

        A calibrated window with no defined column scores NaN (nothing to judge); the
        classifiers impute missing columns and always give a number.
        """
        d = self.decision(X)
        if self.kind == "calibrated":
            p = self.params
            return _sigmoid((d - _f(p["s95"])) / _f(p["tau"]))
        if self.kind == "logreg":
            return _sigmoid(d)
        # Platt scaling as sklearn's _SigmoidCalibration: P(fake | f) = 1 / (1 + exp(A f + B)).
        return _sigmoid(-(_f(self.params["platt_a"]) * d + _f(self.params["platt_b"])))

    def describe(self) -> dict[str, Any]:
        """Plain-JSON summary: kind, columns, threshold and provenance / metrics."""
        return {"kind": self.kind, "names": list(self.names), "threshold": self.threshold, **self.meta}


# --------------------------------------------------------------------------------------------
# Calibration on real windows
# --------------------------------------------------------------------------------------------


def _robust(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    med = np.full(X.shape[1], np.nan)
    scale = np.full(X.shape[1], np.nan)
    for j in range(X.shape[1]):
        v = X[:, j][np.isfinite(X[:, j])]
        if len(v) < 3:
            continue
        med[j] = np.median(v)
        mad = _MAD_TO_SIGMA * np.median(np.abs(v - med[j]))
        # Why the floor: a near-constant column would turn rounding noise into huge z-scores.
        scale[j] = max(mad, 0.1 * float(np.std(v)), 1e-6)
    return med, scale


def _calibrated(names: Sequence[str], X: np.ndarray, use: Sequence[str] | None = None) -> LandmarkScorer:
    med, scale = _robust(X)
    if use is not None:
        med[[n not in use for n in names]] = np.nan  # a NaN median leaves the column out
    sc = LandmarkScorer("calibrated", names, 0.5, {"median": med, "scale": np.where(np.isfinite(scale), scale, 1.0),
                                                  "s95": np.array(0.0), "tau": np.array(1.0)})
    s = sc.statistic(X)
    s = s[np.isfinite(s)]
    if len(s) < 5:
        raise InputError("calibration", f"only {len(s)} real windows with features; need at least 5")
    s50, s95 = float(np.quantile(s, 0.5)), float(np.quantile(s, 0.95))
    sc.params["s95"] = np.array(s95)
    sc.params["tau"] = np.array(max((s95 - s50) / math.log(19.0), 1e-3))
    sc.params["s50"] = np.array(s50)
    return sc


def calibrate_real_windows(names: Sequence[str], X: np.ndarray, groups: Sequence[str],
                           use: Sequence[str] | None = None) -> dict[str, Any]:
    """Calibration record (the JSON of :data:`CALIBRATION_PATH`) from real windows.

    Args:
        names: window column names.
        X: ``(m, F)`` window features of real videos only.
        groups: ``m`` labels (the video each window came from), for the leave-one-video-out
            check: each video scored with a calibration made without it.
        use: the columns the statistic uses (default: all); the others are stored as null.

    Returns:
        A JSON-ready dict: format, kind, names, per-column median and scale (null where a column
        has no real values), ``s50``, ``s95``, ``tau``, threshold, and ``evaluation``.
    """
    X = np.asarray(X, np.float64)
    group = np.asarray(list(groups))
    sc = _calibrated(names, X, use)
    p = sc.score(X)
    ev: dict[str, Any] = {"windows": int(len(X)), "real_below_threshold": float(np.nanmean(p < 0.5))}
    loo: dict[str, float] = {}
    for g in sorted(set(group.tolist())):
        held = group == g
        if held.all():
            continue
        try:
            other = _calibrated(names, X[~held], use)
        except InputError:
            continue
        loo[str(g)] = round(float(np.nanmean(other.score(X[held]) < 0.5)), 4)
    if loo:
        ev["leave_one_video_out_below_threshold"] = loo
        counts = {g: int((group == g).sum()) for g in loo}
        ev["leave_one_video_out_pooled"] = round(sum(loo[g] * counts[g] for g in loo) / sum(counts.values()), 4)

    def _list(a: np.ndarray) -> list[float | None]:
        return [None if not np.isfinite(v) else round(float(v), 8) for v in a]

    return {
        "format": CALIBRATION_FORMAT, "kind": "calibrated", "names": list(names),
        "statistic": "max robust z over the columns with a median",
        "median": _list(sc.params["median"]), "scale": _list(np.where(np.isfinite(sc.params["median"]),
                                                                      sc.params["scale"], np.nan)),
        "s50": round(float(sc.params["s50"]), 6), "s95": round(float(sc.params["s95"]), 6),
        "tau": round(float(sc.params["tau"]), 6), "threshold": 0.5, "evaluation": ev,
    }


def _from_calibration(path: Path) -> LandmarkScorer:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "landmark calibration not found (run tools/calibrate_landmarks.py)") from None
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(rec, dict) or rec.get("format") != CALIBRATION_FORMAT:
        raise InputError(path, f"not a {CALIBRATION_FORMAT} file")

    def arr(key: str) -> np.ndarray:
        return np.array([np.nan if v is None else float(v) for v in rec[key]], np.float64)

    med, scale = arr("median"), arr("scale")
    meta = {k: rec[k] for k in ("statistic", "evaluation", "provenance", "window", "stride", "detect_every")
            if k in rec}
    return LandmarkScorer("calibrated", rec["names"], float(rec.get("threshold", 0.5)),
                          {"median": med, "scale": np.where(np.isfinite(scale), scale, 1.0),
                           "s50": rec["s50"], "s95": rec["s95"], "tau": rec["tau"]}, meta)


def load_landmark_scorer(path: str | Path | None = None) -> LandmarkScorer:
    """Load a scorer: None -> the bundled real-video calibration; ``.json`` -> a calibration;
    anything else -> a checkpoint from :func:`fit_landmark_classifier`.

    Raises:
        InputError: missing or malformed file. WeightsError: a checkpoint of another kind.
    """
    if path is None:
        return _from_calibration(CALIBRATION_PATH)
    p = Path(path)
    if p.suffix.lower() == ".json":
        return _from_calibration(p)
    from facelab.checkpoint import describe_checkpoint, safe_load

    ck = safe_load(p)
    meta = ck.get("meta", {}) if isinstance(ck, dict) else {}
    if not isinstance(ck, dict) or ck.get("arch") != "landmark_motion" or meta.get("kind") != CHECKPOINT_KIND:
        raise WeightsError(f"{p}: {describe_checkpoint(ck)}, not a landmark-motion classifier "
                           "(make one with `facelab train landmarks`)")
    kind = ck.get("arch_kwargs", {}).get("kind")
    need = {"logreg": ("mean", "scale", "coef", "intercept"),
            "svm": ("mean", "scale", "support_vectors", "dual_coef", "intercept", "gamma", "platt_a", "platt_b")}
    state = ck.get("state_dict", {})
    if kind not in need or any(k not in state for k in need[kind]) or "names" not in meta or "threshold" not in meta:
        raise WeightsError(f"{p}: incomplete landmark-motion checkpoint (kind {kind!r}); retrain it")
    params = {k: v.double().numpy() for k, v in state.items()}
    return LandmarkScorer(kind, meta["names"], float(meta["threshold"]), params,
                          {k: v for k, v in meta.items() if k not in ("names", "threshold")})


# --------------------------------------------------------------------------------------------
# Fitting a classifier on facelab's fakes
# --------------------------------------------------------------------------------------------


def _eer(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """``(equal error rate, threshold there)``."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(y, p)
    fnr = 1.0 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2), float(min(max(thr[i], 0.0), 1.0))


def _load_windows(root: Path, window: int, stride: int) -> dict[str, Any]:
    from facelab.detector.dataset import read_motion_index
    from facelab.detector.landmark_motion import MotionSequence, window_features

    rows = read_motion_index(root)
    X, y, split, track = [], [], [], []
    names: list[str] | None = None
    for n, r in enumerate(rows):
        seq = MotionSequence.load(root / r.path)
        wf = window_features(seq, window, stride)
        if names is None and wf.names:
            names = wf.names
        if len(wf.X) == 0:
            continue
        if wf.names != names:
            raise InputError(root / r.path, f"feature columns {wf.names} differ from the first file's {names}")
        X.append(wf.X)
        y += [r.y] * len(wf.X)
        split += [r.split] * len(wf.X)
        track += [n] * len(wf.X)
    if not X or names is None:
        raise InputError(root / "motion.csv", f"no sequence has a full window ({window} frames); nothing to train on")
    return {"X": np.concatenate(X), "y": np.asarray(y), "split": np.asarray(split), "track": np.asarray(track),
            "names": names}


def fit_landmark_classifier(dataset: str | Path, out: str | Path, kind: str = "logreg", window: int = 30,
                            stride: int = 15, seed: int = 0) -> dict[str, Any]:
    """Train a window classifier on ``DATASET/motion.csv`` and save it as a checkpoint.

    Trains on the ``train`` split, reports on ``val`` (window-level ROC AUC, average precision,
    EER; track-level AUC of :func:`aggregate` when both classes have tracks) and sets the
    threshold at the validation EER point. The checkpoint (``torch``, via
    :func:`facelab.checkpoint.atomic_save`) holds only tensors and plain data.

    Returns:
        The metrics dict (also stored in ``meta["metrics"]``).

    Raises:
        InputError: unreadable data set, or a split without both labels.
        ConfigError: unknown ``kind``.
    """
    if kind not in ("logreg", "svm"):
        raise ConfigError(f"--kind must be logreg or svm, got {kind!r}")
    import torch
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.svm import SVC

    from facelab import __version__
    from facelab.checkpoint import atomic_save
    from facelab.detector.landmark_motion import aggregate

    root = Path(dataset)
    d = _load_windows(root, window, stride)
    X, y, split = d["X"], d["y"], d["split"]
    for s in ("train", "val"):
        labels = set(y[split == s].tolist())
        if labels != {0, 1}:
            raise InputError(root / "motion.csv", f"the {s} split needs real and fake windows, has labels {sorted(labels)}")
    tr, va = split == "train", split == "val"
    Xf = np.where(np.isfinite(X[tr]), X[tr], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (the pose with 5 points)
        mean, std = np.nanmean(Xf, axis=0), np.nanstd(Xf, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
    base = LandmarkScorer(kind, d["names"], 0.5, {"mean": mean, "scale": std})
    Xtr = base.standardise(X[tr])

    if kind == "logreg":
        clf = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced", random_state=seed).fit(Xtr, y[tr])
        params = {"coef": clf.coef_.ravel(), "intercept": np.float64(clf.intercept_[0])}
    else:
        # Platt scaling on 3-fold cross-validated decision values, then one SVC on all of the
        # training windows (ensemble=False); sklearn 1.9 deprecates SVC(probability=True).
        folds = int(min(3, np.bincount(y[tr]).min()))
        if folds < 2:
            raise InputError(root / "motion.csv", "the SVM needs at least 2 training windows of each label")
        cal = CalibratedClassifierCV(SVC(kernel="rbf", C=1.0, gamma="scale", class_weight="balanced"),
                                     method="sigmoid", cv=folds, ensemble=False).fit(Xtr, y[tr])
        svc, platt = cal.calibrated_classifiers_[0].estimator, cal.calibrated_classifiers_[0].calibrators[0]
        params = {"support_vectors": svc.support_vectors_, "dual_coef": svc.dual_coef_.ravel(),
                  "intercept": np.float64(svc.intercept_[0]), "gamma": np.float64(svc._gamma),
                  "platt_a": np.float64(platt.a_), "platt_b": np.float64(platt.b_)}
    scorer = LandmarkScorer(kind, d["names"], 0.5, {"mean": mean, "scale": std, **params})
    p = scorer.score(X[va])
    eer, thr = _eer(y[va], p)
    metrics: dict[str, Any] = {
        "val_auc": float(roc_auc_score(y[va], p)), "val_ap": float(average_precision_score(y[va], p)),
        "val_eer": eer, "threshold": thr, "train_windows": int(tr.sum()), "val_windows": int(va.sum()),
        "train_fake_share": float(y[tr].mean()), "val_fake_share": float(y[va].mean()),
    }
    tracks = d["track"][va]
    ty, tp = [], []
    for t in sorted(set(tracks.tolist())):
        m = tracks == t
        ty.append(int(y[va][m][0]))
        tp.append(aggregate(p[m]))
    if len(set(ty)) == 2:
        metrics["val_track_auc"] = float(roc_auc_score(ty, tp))
    scorer.threshold = thr
    state = {k: torch.as_tensor(np.atleast_1d(v).astype(np.float64)) for k, v in scorer.params.items()}
    ck = {"arch": "landmark_motion",
          "arch_kwargs": {"kind": kind, "window": int(window), "stride": int(stride), "features": len(d["names"])},
          "state_dict": state,
          "meta": {"kind": CHECKPOINT_KIND, "names": list(d["names"]), "threshold": thr, "metrics": metrics,
                   "dataset": str(root), "seed": int(seed), "facelab": __version__}}
    atomic_save(ck, out)
    log.info("landmark %s: val AUC %.3f, EER %.3f, threshold %.3f", kind, metrics["val_auc"], eer, thr)
    return metrics
