"""Image and video I/O: the only place pixels change representation.

At the boundary an image or frame is ``uint8 (H, W, 3)`` RGB, upright; inside the networks it is
``float32 (B, 3, H, W)`` in ``[-1, 1]``. BGR<->RGB and HWC<->CHW conversions happen here and
nowhere else. See :mod:`facelab.io.image` and :mod:`facelab.io.video` for the conventions and
the decisions (odd video sizes, truncated files, rotation), and :mod:`facelab.io.audio` for how
a video's audio is copied.
"""

from facelab.files import check_output_dir, make_output_dir
from facelab.io.audio import write_audio
from facelab.io.image import (
    IMAGE_EXTS,
    batch_to_images,
    image_to_tensor,
    images_to_batch,
    is_image,
    read_image,
    resize_image,
    tensor_to_image,
    write_image,
)
from facelab.io.video import (
    VIDEO_EXTS,
    VideoInfo,
    VideoReader,
    VideoWriter,
    is_video,
    probe_video,
)

__all__ = [
    "IMAGE_EXTS",
    "VIDEO_EXTS",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "batch_to_images",
    "check_output_dir",
    "image_to_tensor",
    "images_to_batch",
    "is_image",
    "is_video",
    "make_output_dir",
    "probe_video",
    "read_image",
    "resize_image",
    "tensor_to_image",
    "write_audio",
    "write_image",
]
