"""Reading and writing still images, and the one place pixels change representation.

Convention:
    * At the I/O boundary an image is a ``numpy.ndarray`` of dtype ``uint8`` and shape
      ``(H, W, 3)`` in **RGB** order, rows top to bottom, upright (EXIF orientation applied).
    * Inside the networks an image is a ``torch.float32`` tensor of shape ``(3, H, W)`` or
      ``(B, 3, H, W)`` with values in ``[-1, 1]``: the ``ToTensor()`` + ``Normalize(0.5, 0.5)``
      convention of the official pytorch-CycleGAN-and-pix2pix code, where pixel ``v`` maps to
      ``(v / 255 - 0.5) / 0.5``.
    * Sizes passed as tuples are ``(width, height)`` like Pillow; array shapes are ``(H, W)``.

Only this module and :mod:`facelab.io.video` convert between BGR and RGB or between uint8 HWC
and float CHW; everything else receives and returns the representations above.
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from facelab.errors import InputError, OutputError
from facelab.files import folder_problem, make_parent

__all__ = [
    "IMAGE_EXTS",
    "batch_to_images",
    "image_to_tensor",
    "images_to_batch",
    "is_image",
    "read_image",
    "resize_image",
    "tensor_to_image",
    "write_image",
]

log = logging.getLogger(__name__)

#: Lower-case extensions (without the dot) that facelab treats as still images.
IMAGE_EXTS: frozenset[str] = frozenset({"jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"})

# Pillow format name for each extension we write.
_WRITE_FORMATS: dict[str, str] = {
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "png": "PNG",
    "bmp": "BMP",
    "tif": "TIFF",
    "tiff": "TIFF",
    "webp": "WEBP",
}

Interpolation = Literal["nearest", "bilinear", "bicubic", "lanczos", "box", "area", "hamming"]

_RESAMPLE: dict[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    # Pillow's BOX filter averages every source pixel under the target pixel: OpenCV's INTER_AREA.
    "area": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}

# EXIF orientation -> the transpose that makes the image upright (same table as ImageOps).
_EXIF_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def is_image(path: str | Path) -> bool:
    """True when ``path`` has one of :data:`IMAGE_EXTS` (any case); the file is not opened."""
    return Path(path).suffix.lower().lstrip(".") in IMAGE_EXTS


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an upright uint8 RGB array.

    Args:
        path: any file Pillow can open (JPEG, PNG, BMP, TIFF, WebP, GIF, ...); the extension
            is not checked. Multi-frame files (GIF, multi-page TIFF) give their first frame.

    Returns:
        ``uint8`` array of shape ``(H, W, 3)``, RGB, rows top to bottom.

    Conversions:
        * EXIF orientation is applied, so the array is what a photo viewer shows.
        * Grayscale (``L``, 1-bit) is repeated into three channels; palette images are expanded.
        * Transparency (RGBA, LA, palette with a transparent index) is composited on **white**.
        * 16-bit samples (``I;16`` grayscale, 48/64-bit RGB(A) PNG and TIFF) are scaled by the
          range of their type, ``round(v * 255 / 65535)``, never clipped; 32-bit integer
          samples (``I``) by their bits per sample; float samples (``F``) are taken as ``[0, 1]``.
        * CMYK (including Adobe's inverted CMYK JPEGs) goes through Pillow's conversion; ICC
          profiles are ignored.

    Raises:
        InputError: the file is missing, a folder, empty, unreadable, not an image Pillow knows,
            truncated or corrupt, or larger than Pillow's decompression-bomb limit
            (``Image.MAX_IMAGE_PIXELS``, about 89 megapixels). Setting
            ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True`` elsewhere makes truncated files load.
    """
    path = Path(path)
    _check_readable_file(path)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its limit; treat both as "too large".
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()  # force a full decode so truncated files fail here, not later
                return _pil_to_rgb(img, path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(
            path,
            f"image too large (over Pillow's limit of {Image.MAX_IMAGE_PIXELS} pixels); "
            "it may be a decompression bomb",
        ) from None
    except UnidentifiedImageError:
        raise InputError(path, "not an image (or a format Pillow cannot read)") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as exc:
        # Pillow reports truncated and corrupt data as OSError ("image file is truncated", ...).
        raise InputError(path, f"truncated or corrupt image ({_one_line(exc)})") from None
    except (ValueError, SyntaxError, EOFError) as exc:
        raise InputError(path, f"corrupt or unsupported image ({_one_line(exc)})") from None


def _check_readable_file(path: Path) -> None:
    """Raise InputError for the cases that must never reach the decoder."""
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "is a folder, not an image file")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise InputError(path, "permission denied")


def _pil_to_rgb(img: Image.Image, path: Path) -> np.ndarray:
    """Decoded Pillow image -> upright uint8 (H, W, 3) RGB."""
    high = _read_high_depth_color(img, path)
    if high is not None:
        return high

    img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8).copy()
    if mode in ("L", "1"):
        return np.repeat(np.asarray(img.convert("L"), dtype=np.uint8)[..., None], 3, axis=2)
    if mode.startswith("I;16") or mode == "I" or mode == "F":
        gray = _scale_to_uint8(np.asarray(img), mode, _bits_per_sample(img))
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P" and "transparency" not in img.info:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    if mode in ("RGBA", "RGBa", "LA", "La", "PA", "P"):
        return _composite_on_white(img.convert("RGBA"))
    # CMYK, YCbCr, LAB, HSV, ...: let Pillow convert (raises ValueError when it cannot).
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def _composite_on_white(rgba: Image.Image) -> np.ndarray:
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8).copy()


def _bits_per_sample(img: Image.Image) -> int:
    """Bits per sample declared by the file, falling back on the width of the Pillow mode."""
    tag = getattr(img, "tag_v2", None)
    if tag is not None and 258 in tag:
        bits = tag[258]
        return int(bits[0] if isinstance(bits, tuple) else bits)
    if img.mode == "I" and img.format == "PNG":
        return 16  # old Pillow versions opened 16-bit PNG as "I"
    return 16 if img.mode.startswith("I;16") else 32


def _scale_to_uint8(a: np.ndarray, mode: str, bits: int) -> np.ndarray:
    """Scale high-depth samples to uint8 by the range of their type (F: [0, 1])."""
    if mode == "F":
        x = np.nan_to_num(a.astype(np.float64), nan=0.0)
        return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
    top = float(2**bits - 1)
    x = np.clip(a.astype(np.float64), 0.0, top)  # only signed types can be out of range
    return np.round(x * (255.0 / top)).astype(np.uint8)


def _read_high_depth_color(img: Image.Image, path: Path) -> np.ndarray | None:
    """48/64-bit RGB(A) PNG or TIFF read at full depth with OpenCV, else None.

    Pillow opens these as 8-bit RGB keeping only the high byte (``v >> 8``); OpenCV keeps the
    16 bits so they can be rounded the same way as 16-bit grayscale.
    """
    if img.mode not in ("RGB", "RGBA") or img.format not in ("PNG", "TIFF"):
        return None
    if img.format == "PNG":
        with open(path, "rb") as f:
            head = f.read(26)
        deep = len(head) == 26 and head[12:16] == b"IHDR" and head[24] == 16
    else:
        deep = _bits_per_sample(img) == 16
    if not deep:
        return None
    import cv2  # local: only needed for this rare case

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.dtype != np.uint16 or raw.ndim != 3 or raw.shape[2] not in (3, 4):
        log.debug("%s: OpenCV could not read 16-bit colour; using Pillow's 8-bit copy", path)
        return None
    x = raw.astype(np.float64) / 65535.0
    rgb = x[..., 2::-1]  # OpenCV gives BGR(A)
    if raw.shape[2] == 4:
        alpha = x[..., 3:4]
        rgb = rgb * alpha + (1.0 - alpha)  # composite on white
    out = np.round(rgb * 255.0).astype(np.uint8)
    orientation = img.getexif().get(0x0112, 1)
    if orientation in _EXIF_TRANSPOSE:
        out = np.asarray(Image.fromarray(out).transpose(_EXIF_TRANSPOSE[orientation]))
    return np.ascontiguousarray(out)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_image(
    path: str | Path, img: np.ndarray, *, overwrite: bool = False, quality: int = 95,
    metadata: dict[str, str] | None = None, seal: Callable[[Path, Path], None] | None = None,
) -> None:
    """Write a uint8 RGB image; the format comes from the extension.

    Args:
        path: destination; the extension (one of :data:`IMAGE_EXTS`) picks the format. Missing
            parent folders are created.
        img: ``uint8`` array of shape ``(H, W, 3)``, RGB.
        overwrite: replace an existing file. Without it an existing file is an error.
        quality: JPEG / WebP quality (1-100); ignored by lossless formats.
        metadata: text tags to embed: PNG ``tEXt`` chunks (key -> text); JPEG, WebP and TIFF get
            them as EXIF ``ImageDescription`` (the ``comment`` / ``description`` value) and
            ``Software`` (the ``software`` value), the fields viewers and exiftool show.
        seal: called as ``seal(temporary file, path)`` once the temporary file is complete and
            before it is renamed: it may rewrite the file (facelab signs its C2PA manifest there,
            :meth:`facelab.credentials.SigningKey.sealer`), so a signed output appears whole or not at all.

    The file appears atomically: the data goes to a hidden temporary file in the same folder,
    which is renamed over ``path`` only once complete, and removed if anything fails.

    Raises:
        OutputError: unknown extension, ``path`` exists and ``overwrite`` is false, ``path`` is a
            folder, or the folder cannot be created or written.
        ValueError: ``img`` is not a uint8 ``(H, W, 3)`` array.
    """
    path = Path(path)
    _check_image_array(img)
    ext = path.suffix.lower().lstrip(".")
    if ext not in _WRITE_FORMATS:
        raise OutputError(
            path,
            f"unknown image extension '{path.suffix}' (use one of {', '.join(sorted(IMAGE_EXTS))})",
        )
    if path.is_dir():
        raise OutputError(path, "is a folder; give a file name")
    if path.exists() and not overwrite:
        raise OutputError(path, "already exists; pass --overwrite to replace it")

    fmt = _WRITE_FORMATS[ext]
    options: dict[str, object] = {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = int(quality)
    elif fmt == "TIFF":
        options["compression"] = "tiff_lzw"
    if metadata:
        options.update(_metadata_options(fmt, metadata))

    make_parent(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        # os.open with 0o666 so the final file gets the usual umask permissions (mkstemp: 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            Image.fromarray(np.ascontiguousarray(img)).save(f, format=fmt, **options)
        if seal is not None:
            seal(tmp, path)
        os.replace(tmp, path)
    except PermissionError:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, folder_problem(path.parent, PermissionError())) from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, f"cannot write the image ({_one_line(exc)})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.debug("wrote %s (%dx%d %s)", path, img.shape[1], img.shape[0], fmt)


def _metadata_options(fmt: str, metadata: dict[str, str]) -> dict[str, object]:
    """Pillow save options that embed ``metadata`` in a file of format ``fmt``."""
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for key, value in metadata.items():
            info.add_itxt(str(key), str(value))
        return {"pnginfo": info}
    if fmt in ("JPEG", "WEBP", "TIFF"):
        exif = Image.Exif()
        text = metadata.get("comment") or metadata.get("description")
        if text:
            exif[0x010E] = str(text)  # ImageDescription
        if metadata.get("software"):
            exif[0x0131] = str(metadata["software"])  # Software
        return {"exif": exif.tobytes()} if fmt != "TIFF" else {"exif": exif}
    return {}


def _check_image_array(img: np.ndarray) -> None:
    if (
        not isinstance(img, np.ndarray)
        or img.dtype != np.uint8
        or img.ndim != 3
        or img.shape[2] != 3
    ):
        desc = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
        raise ValueError(f"expected a uint8 (H, W, 3) RGB array, got {desc}")


# --------------------------------------------------------------------------------------------
# Conversions between uint8 HWC and float CHW
# --------------------------------------------------------------------------------------------


def image_to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` RGB -> float32 ``(3, H, W)`` in ``[-1, 1]`` on the CPU.

    Computes ``(v / 255 - 0.5) / 0.5`` in float32, bit for bit what torchvision's
    ``ToTensor()`` followed by ``Normalize((0.5,) * 3, (0.5,) * 3)`` gives, so outputs match the
    official pix2pix / CycleGAN data pipeline.
    """
    _check_image_array(img)
    arr = np.ascontiguousarray(img)
    if not arr.flags.writeable:  # torch.from_numpy warns on read-only arrays (np.asarray(PIL))
        arr = arr.copy()
    t = torch.from_numpy(arr).permute(2, 0, 1).to(torch.float32)
    return t.div_(255.0).sub_(0.5).div_(0.5)


def images_to_batch(images: Sequence[np.ndarray]) -> torch.Tensor:
    """Same-sized uint8 ``(H, W, 3)`` RGB images -> float32 ``(B, 3, H, W)`` in ``[-1, 1]``.

    Raises:
        ValueError: the sequence is empty or the images differ in size.
    """
    if len(images) == 0:
        raise ValueError("images_to_batch needs at least one image")
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise ValueError(f"images differ in size: {sorted(shapes)}; resize them first")
    return torch.stack([image_to_tensor(im) for im in images])


def tensor_to_image(
    t: torch.Tensor, rounding: Literal["round", "truncate"] = "round"
) -> np.ndarray:
    """float ``(3, H, W)`` or ``(1, 3, H, W)`` in ``[-1, 1]`` -> uint8 ``(H, W, 3)`` RGB.

    Values are clamped to ``[-1, 1]`` and mapped with ``(t + 1) / 2 * 255``, then:

    * ``rounding="round"`` (default): to the nearest integer (``torch.round``, halves to even),
      so ``tensor_to_image(image_to_tensor(x)) == x`` exactly for every uint8 image.
    * ``rounding="truncate"``: towards zero, as the official pytorch-CycleGAN-and-pix2pix
      ``util.tensor2im`` does (``astype(np.uint8)``); use it to reproduce official result files
      bit for bit. It is biased about half a grey level darker, and is not a round trip:
      float error makes input levels 1..63 come back one lower.

    A single-channel tensor (``(1, H, W)``) is repeated into RGB, like ``tensor2im``. The tensor
    may live on any device and have any float dtype; it is not modified.

    Raises:
        ValueError: wrong shape (a batch of more than one image: use :func:`batch_to_images`).
    """
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(
                f"expected one image, got a batch of {t.shape[0]}; use batch_to_images"
            )
        t = t[0]
    if t.ndim != 3 or t.shape[0] not in (1, 3):
        raise ValueError(f"expected a (3, H, W) or (1, 3, H, W) tensor, got {tuple(t.shape)}")
    if rounding not in ("round", "truncate"):
        raise ValueError(f"rounding must be 'round' or 'truncate', not {rounding!r}")
    x = t.detach().to("cpu", torch.float32).clamp(-1.0, 1.0)
    x = (x + 1.0) / 2.0 * 255.0
    x = x.round() if rounding == "round" else x.trunc()
    out = x.to(torch.uint8).permute(1, 2, 0).numpy()
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out)


def batch_to_images(
    batch: torch.Tensor, rounding: Literal["round", "truncate"] = "round"
) -> list[np.ndarray]:
    """float ``(B, 3, H, W)`` in ``[-1, 1]`` -> list of B uint8 ``(H, W, 3)`` RGB images."""
    if batch.ndim != 4:
        raise ValueError(f"expected a (B, 3, H, W) tensor, got {tuple(batch.shape)}")
    return [tensor_to_image(b, rounding=rounding) for b in batch]


# --------------------------------------------------------------------------------------------
# Resizing
# --------------------------------------------------------------------------------------------


def resize_image(
    img: np.ndarray, size: tuple[int, int], interpolation: Interpolation = "bicubic"
) -> np.ndarray:
    """Resize a uint8 ``(H, W, 3)`` RGB image to ``size = (width, height)`` with Pillow.

    ``"bicubic"`` (default) is what the official pix2pix / CycleGAN code uses
    (``transforms.Resize(..., Image.BICUBIC)`` on a PIL image). Pillow filters are antialiased
    when shrinking. ``"area"`` is Pillow's box filter (OpenCV's ``INTER_AREA``).

    Returns:
        uint8 ``(height, width, 3)`` array (the input itself when the size already matches).
    """
    _check_image_array(img)
    w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive (width, height), got {size}")
    if interpolation not in _RESAMPLE:
        raise ValueError(f"unknown interpolation {interpolation!r}; use one of {sorted(_RESAMPLE)}")
    if (w, h) == (img.shape[1], img.shape[0]):
        return img
    pil = Image.fromarray(np.ascontiguousarray(img))
    return np.asarray(pil.resize((w, h), resample=_RESAMPLE[interpolation]), dtype=np.uint8).copy()
