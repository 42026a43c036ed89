"""Detection metrics with fake (1) as the positive class: ROC-AUC, AP, EER and its threshold,
accuracy and confusion at a threshold; and the per-family view of a real-media validation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from facelab.detector.online import ALL_FAMILIES

__all__ = ["compute_metrics", "family_metrics"]




def compute_metrics(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray,
                    threshold: float | None = None) -> dict[str, Any]:
    """Detection metrics with fake (1) as the positive class.

    Args:
        y_true: ``(n,)`` labels, 0 real, 1 fake.
        scores: ``(n,)`` fake scores (probabilities), higher = more likely fake.
        threshold: decision threshold for ``accuracy`` and ``confusion`` (fake when
            ``score >= threshold``); None uses the EER threshold (0.5 when it is undefined).

    Returns:
        ``roc_auc``, ``average_precision``, ``eer``, ``eer_threshold`` (None unless both classes
        are present), ``threshold`` (the one used), ``accuracy`` (None when n = 0),
        ``confusion`` ``{"tn", "fp", "fn", "tp"}``, ``n``, ``n_real``, ``n_fake``.

    Convention:
        EER is read off the unreduced ROC curve (``roc_curve(drop_intermediate=False)``) at the
        threshold where the false-positive rate and the miss rate (1 - TPR) are closest; it is
        their mean there, and ``eer_threshold`` is that threshold. With perfect separation
        EER = 0 at the lowest fake score.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    y = np.asarray(y_true).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    n_real, n_fake = int((y == 0).sum()), int((y == 1).sum())
    out: dict[str, Any] = {"roc_auc": None, "average_precision": None, "eer": None, "eer_threshold": None}
    if n_real and n_fake:
        out["roc_auc"] = float(roc_auc_score(y, s))
        out["average_precision"] = float(average_precision_score(y, s))
        fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
        i = int(np.argmin(np.abs((1 - tpr) - fpr)))
        out["eer"] = float((fpr[i] + 1 - tpr[i]) / 2)
        # thr[0] is +inf ("nothing is fake"); keep that meaning with a finite number
        out["eer_threshold"] = float(thr[i]) if np.isfinite(thr[i]) else float(np.nextafter(s.max(), np.inf))
    t = threshold if threshold is not None else out["eer_threshold"] if out["eer_threshold"] is not None else 0.5
    pred = s >= t
    tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
    fn, tn = n_fake - tp, n_real - fp
    out.update(threshold=float(t), accuracy=float((tp + tn) / y.size) if y.size else None,
               confusion={"tn": tn, "fp": fp, "fn": fn, "tp": tp}, n=int(y.size), n_real=n_real, n_fake=n_fake)
    return out


def family_metrics(y: np.ndarray, p: np.ndarray, fam: np.ndarray) -> dict[str, Any]:
    """Per fake family, ROC-AUC against all the val reals; and how the unseen reals score.

    ``real_mean`` (mean fake probability of the val reals) and ``real_above_half`` (their share at
    0.5 or more) watch the failure a single AUC hides: reals of unseen sources drifting up.
    """
    real = y == 0
    out: dict[str, Any] = {"family_auc": {}, "real_mean": float(p[real].mean()) if real.any() else None,
                           "real_above_half": float((p[real] >= 0.5).mean()) if real.any() else None}
    for k, name in enumerate(ALL_FAMILIES):
        if (fam == k).any():  # the families the run validated on
            sel = real | (fam == k)
            out["family_auc"][name] = compute_metrics(y[sel], p[sel])["roc_auc"]
    return out
