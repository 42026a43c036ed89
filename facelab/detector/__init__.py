"""Deepfake detection: a CNN on aligned face crops, a landmark-motion check, and their fusion.

Modules, in data-flow order:

- :mod:`facelab.detector.crops`: the detector's face crop (ArcFace alignment, 224 px, margin 0.3).
- :mod:`facelab.detector.dataset`: the manifest of a labelled crop data set (``facelab fakes``).
- :mod:`facelab.detector.fakes`: build that data set from real media with facelab's own swaps.
- :mod:`facelab.detector.cnn`: the real/fake classifier, its checkpoint and Grad-CAM.
- :mod:`facelab.detector.train`: training, validation metrics and threshold calibration.
- :mod:`facelab.detector.landmark_motion`: the classical landmark-motion inconsistency check.
- :mod:`facelab.detector.fuse`: the fused REAL / FAKE / UNCERTAIN verdict.
- :mod:`facelab.detector.report`: JSON, CSV and HTML reports.
- :mod:`facelab.detector.pipeline`: media -> tracks -> scores -> verdict.
"""
