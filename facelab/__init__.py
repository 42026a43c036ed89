"""facelab: image-to-image translation, face swapping and deepfake detection.

The Python API (``docs/api.md``), loaded on first use so that ``import facelab`` stays cheap::

    import facelab
    results = facelab.detect(["clip.mp4"])                       # list[MediaResult]
    facelab.swap("alice.jpg", "group.jpg", "swapped.jpg")        # SwapRecord
    facelab.translate(["horse.jpg"], model="horse2zebra", out="zebras/")   # list[JobResult]
    det, tr = facelab.load_detector(), facelab.load_translator("style_monet")
"""

import os as _os
from typing import Any as _Any

__version__ = "0.1.0"

# oneDNN (PyTorch's CPU convolutions) caches one compiled primitive per tensor shape, up to 1024
# of them. MTCNN's second and third stages see a different batch size (the number of candidate
# boxes) on almost every frame, so with the default the cache, and the process, kept growing with
# the length of a video: about +50-80 MiB over 150 frames of a 1080p crowd clip in `facelab swap`.
# 128 entries hold every fixed shape of a job (MTCNN's pyramid, the CNN or generator) and let the
# one-off shapes age out: the same run then stays within +7 MiB, at the same speed
# (docs/benchmarks.md, "Memory"). Read by oneDNN on its first use, so it must be set before any
# convolution runs; an explicit setting in the environment wins.
_os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "128")

#: name -> (module, attribute) of the API, imported when first used (PEP 562). ``swap`` and
#: ``translate`` are the sub-packages of those names, which are callable (their ``api.py``).
_API = {
    "detect": ("facelab.detector.api", "detect"),
    "load_detector": ("facelab.detector.api", "load_detector"),
    "Detector": ("facelab.detector.api", "Detector"),
    "MediaResult": ("facelab.detector.results", "MediaResult"),
    "swap": ("facelab.swap", None),
    "SwapRecord": ("facelab.swap.pipeline", "SwapRecord"),
    "translate": ("facelab.translate", None),
    "load_translator": ("facelab.translate.infer", "load_translator"),
    "Translator": ("facelab.translate.infer", "Translator"),
    "JobResult": ("facelab.translate.pipeline", "JobResult"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> _Any:
    if name not in _API:
        raise AttributeError(f"module 'facelab' has no attribute {name!r}")
    from importlib import import_module

    module_name, attr = _API[name]
    module = import_module(module_name)
    return module if attr is None else getattr(module, attr)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
