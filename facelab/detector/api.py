"""``facelab.detect`` and ``facelab.load_detector``: deepfake verdicts from Python.

    import facelab
    results = facelab.detect(["clip.mp4", "photo.jpg"])          # the shipped CNN + landmark motion
    results[0].verdict, results[0].fake_probability, results[0].reasons
    det = facelab.load_detector("runs/detector")                 # load once, run on many batches
    more = facelab.detect(["other.mp4"], detector=det, frames=16)

``facelab detect`` loads its models with :func:`load_detector` and builds its settings with
:meth:`Detector.config`; it adds the journal, ``--resume``, ``--shard`` and the report files
around the same :func:`~facelab.detector.pipeline.detect_files`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from facelab.detector.fuse import FusionConfig
from facelab.detector.pipeline import NO_CNN_HINT, DetectConfig, detect_files, list_media, make_detector
from facelab.detector.protocols import CropClassifier, MotionScorer
from facelab.detector.results import MediaResult

if TYPE_CHECKING:
    from facelab.detector.cnn import FakeClassifier

__all__ = ["Detector", "detect", "load_detector"]

log = logging.getLogger(__name__)


@dataclass
class Detector:
    """The models ``facelab detect`` runs, loaded once.

    Attributes:
        classifier: the CNN (None: switched off with ``weights="none"``, or no shipped weights here).
        scorer: the landmark-motion scorer (None: switched off).
        fusion: how the signals combine (the weights' own measured settings, else the defaults).
        device: where the models run (``"auto"``, ``"cpu"``, ``"cuda"``).
        notes: what the user should know about this choice of models (printed by the CLI).
        motion_skipped: why the landmark-motion signal is missing, when it was switched off.
        cnn_skipped: why the CNN is missing, when it was switched off.
    """

    classifier: CropClassifier | None
    scorer: MotionScorer | None
    fusion: FusionConfig
    device: str = "auto"
    notes: list[str] = field(default_factory=list)
    motion_skipped: str | None = None
    cnn_skipped: str | None = None

    def config(self, *, stride: int = 5, frames: int | None = None, detect_every: int = 5, refine: bool = True,
               min_size: float = 40.0, window: int = 30, window_stride: int = 15, top: int = 4,
               batch_size: int | None = None, gradcam: bool = False, provenance: bool = True,
               on_damage: str = "skip") -> DetectConfig:
        """The :class:`~facelab.detector.pipeline.DetectConfig` for these models (the arguments are
        ``facelab detect``'s options of the same names; ``gradcam`` only matters for an HTML report)."""
        return DetectConfig(stride=stride, frames=frames, detect_every=detect_every, refine=refine, min_size=min_size,
                            window=window, stride_windows=window_stride, top_k=top, batch_size=batch_size,
                            cnn=self.classifier is not None, landmarks=self.scorer is not None, gradcam=gradcam,
                            fusion=self.fusion, provenance=provenance, on_damage=on_damage)


def load_detector(weights: str | Path | None = None, *, landmark_model: str | Path | None = None,
                  landmarks: bool = True, device: str = "auto") -> Detector:
    """Load the CNN and the landmark-motion scorer.

    Args:
        weights: a run folder of ``facelab train detector`` (its ``best.pt``) or a ``.pt`` file;
            None: the shipped detector (``deepfake_sbi_lite0``); ``"none"``: no CNN.
        landmark_model: a classifier from ``facelab train landmarks`` (None: the built-in
            calibration on real videos).
        landmarks: False switches the landmark-motion check off.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Raises:
        InputError, WeightsError: a weights file that is missing or is not a detector's.
    """
    from facelab.detector.cnn import load_classifier, load_default_classifier

    classifier: FakeClassifier | None = None
    notes: list[str] = []
    cnn_skipped = None
    if weights is not None and str(weights).lower() == "none":
        cnn_skipped = "switched off with --weights none"
        notes.append("CNN stage switched off (--weights none).")
    elif weights is not None:
        classifier = load_classifier(weights, device=device)
    else:
        classifier = load_default_classifier(device=device)
        if classifier is None:
            notes.append(f"the shipped detector is not installed here (it ships in the repository's weights/ "
                         f"folder). {NO_CNN_HINT}.")
    # the weights' own measured fusion settings (shipped detector), else the defaults
    fusion = FusionConfig(**classifier.fusion_settings()) if classifier is not None else FusionConfig()
    scorer: MotionScorer | None = None
    if landmarks:
        from facelab.detector.landmark_scorer import load_landmark_scorer

        scorer = load_landmark_scorer(landmark_model)
    for note in notes:  # the CLI prints them; a library caller finds them here and in the results
        log.debug("%s", note)
    return Detector(classifier, scorer, fusion, device=device, notes=notes,
                    motion_skipped=None if landmarks else "switched off with --no-landmarks", cnn_skipped=cnn_skipped)


def detect(paths: Iterable[str | Path] | str | Path, weights: str | Path | None = None, *,
           detector: Detector | None = None, device: str = "auto", landmark_model: str | Path | None = None,
           landmarks: bool = True, stride: int = 5, frames: int | None = None, detect_every: int = 5,
           refine: bool = True, min_size: float = 40.0, provenance: bool = True,
           on_frame: Callable[[int, int], None] | None = None) -> list[MediaResult]:
    """REAL / FAKE / UNCERTAIN verdicts on photos and videos, one :class:`MediaResult` per file.

    Args:
        paths: files and folders (searched recursively for images and videos); one path is
            taken as a list of one.
        weights, landmark_model, landmarks, device: the models (:func:`load_detector`), unless
            ``detector`` gives them already loaded.
        stride, frames, detect_every, refine, min_size: as ``facelab detect``'s options.
        provenance: read C2PA manifests and metadata labels first (a valid declaration of
            synthetic content decides the verdict; ``docs/security.md``).
        on_frame: progress callback ``(frames done, total or 0)``.

    Returns:
        One result per media file, in order (folders expanded in sorted order). A file that
        could not be analysed has ``error`` set (``verdict`` UNCERTAIN) and the others go on, as
        in ``facelab detect``; so does a named file that is missing or is not media.

    Raises:
        InputError: a folder holds no images or videos, or nothing to analyse was given.
        WeightsError: bad detector weights.
    """
    from facelab.errors import InputError

    if isinstance(paths, (str, Path)):
        paths = [paths]
    files, skipped = list_media(paths, keep_bad_files=True)
    if skipped:
        raise InputError(skipped[0][0], skipped[0][1])
    if not files:
        raise InputError(".", "no media to analyse: pass photo or video files, or folders that hold some")
    det = detector if detector is not None else load_detector(weights, landmark_model=landmark_model,
                                                               landmarks=landmarks, device=device)
    cfg = det.config(stride=stride, frames=frames, detect_every=detect_every, refine=refine, min_size=min_size,
                     provenance=provenance)
    finder = make_detector(cfg, det.device)
    return list(detect_files(files, cfg, detector=finder, classifier=det.classifier, scorer=det.scorer,
                             motion_skipped=det.motion_skipped, cnn_skipped=det.cnn_skipped, on_frame=on_frame))

