"""facelab: image-to-image translation, face swapping and deepfake detection."""

import os as _os

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
