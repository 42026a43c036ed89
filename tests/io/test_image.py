"""facelab.io.image on real files made with Pillow / OpenCV in tmp_path."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from facelab.errors import InputError, OutputError
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


def _assert_one_line_naming(exc: pytest.ExceptionInfo, path: Path) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message


def _quadrants(h: int = 40, w: int = 60) -> np.ndarray:
    """Red top-left, green top-right, blue bottom-left, white bottom-right; uint8 (h, w, 3)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (255, 0, 0)
    img[: h // 2, w // 2 :] = (0, 255, 0)
    img[h // 2 :, : w // 2] = (0, 0, 255)
    img[h // 2 :, w // 2 :] = (255, 255, 255)
    return img


def _close(a: np.ndarray, b: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.all(np.abs(a.astype(int) - np.array(b)) <= tol))


# ---- extensions ------------------------------------------------------------------------------


def test_is_image() -> None:
    assert IMAGE_EXTS == {"jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"}
    assert is_image("a/b.JPG") and is_image("x.webp") and is_image(Path("y.tiff"))
    assert not is_image("clip.mp4") and not is_image("noext")


# ---- reading: colour modes -------------------------------------------------------------------


def test_exif_orientation_6_is_applied(tmp_path: Path) -> None:
    src = _quadrants(40, 60)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored picture must be turned 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    Image.fromarray(src).save(path, quality=95, exif=exif)

    img = read_image(path)
    assert img.shape == (60, 40, 3)  # width and height swapped
    # Clockwise turn: the old top-left (red) is now top-right, bottom-left (blue) is top-left.
    assert _close(img[5, 35], (255, 0, 0))
    assert _close(img[5, 5], (0, 0, 255))
    assert _close(img[55, 35], (0, 255, 0))
    assert _close(img[55, 5], (255, 255, 255))


@pytest.mark.parametrize("mode", ["L", "1"])
def test_grayscale_becomes_rgb(tmp_path: Path, mode: str) -> None:
    gray = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))
    pil = Image.fromarray(gray).convert(mode)
    path = tmp_path / f"gray_{mode}.png"
    pil.save(path)
    img = read_image(path)
    assert img.dtype == np.uint8 and img.shape == (8, 64, 3)
    assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2])
    assert np.array_equal(img[..., 0], np.asarray(pil.convert("L")))


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200  # red-ish
    rgba[:2, :, 3] = 0  # top half fully transparent
    rgba[2:, :2, 3] = 255  # opaque
    rgba[2:, 2:, 3] = 128  # half transparent
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    img = read_image(path)
    assert img.shape == (4, 4, 3)
    assert np.all(img[:2] == 255)
    assert np.all(img[2:, :2] == (200, 0, 0))
    half = img[3, 3].astype(int)
    assert abs(half[0] - 228) <= 1 and abs(half[1] - 127) <= 1  # 200*a + 255*(1-a), a = 128/255


def test_la_is_composited_on_white(tmp_path: Path) -> None:
    la = Image.new("LA", (3, 3), (50, 0))
    path = tmp_path / "la.png"
    la.save(path)
    assert np.all(read_image(path) == 255)


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    pal = Image.new("P", (4, 2))
    pal.putpalette([10, 20, 30, 200, 100, 50] + [0] * (256 * 3 - 6))
    pal.putpixel((1, 0), 1)
    plain = tmp_path / "pal.png"
    pal.save(plain)
    img = read_image(plain)
    assert tuple(img[0, 0]) == (10, 20, 30) and tuple(img[0, 1]) == (200, 100, 50)

    transparent = tmp_path / "pal_t.png"
    pal.save(transparent, transparency=0)  # index 0 is transparent
    img = read_image(transparent)
    assert tuple(img[0, 0]) == (255, 255, 255) and tuple(img[0, 1]) == (200, 100, 50)


def test_16bit_gray_png_scales_by_type_range(tmp_path: Path) -> None:
    values = np.array([[0, 257, 257 * 128, 65535, 65534, 32768]], dtype=np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(values).save(path)  # Pillow writes I;16 as a 16-bit PNG
    assert Image.open(path).mode.startswith("I")
    img = read_image(path)
    assert img[0, :, 0].tolist() == [0, 1, 128, 255, 255, 128]
    assert np.array_equal(img[..., 0], img[..., 2])


def test_16bit_gray_tiff(tmp_path: Path) -> None:
    values = np.array([[0, 65535, 257 * 10]], dtype=np.uint16)
    path = tmp_path / "g16.tif"
    Image.fromarray(values).save(path)
    assert read_image(path)[0, :, 1].tolist() == [0, 255, 10]


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_48bit_rgb_keeps_full_depth(tmp_path: Path, ext: str) -> None:
    rgb = np.array([[[65535, 0, 257 * 77], [32767, 32768, 128]]], dtype=np.uint16)  # RGB order
    path = tmp_path / f"rgb48.{ext}"
    assert cv2.imwrite(str(path), rgb[..., ::-1])  # OpenCV writes BGR
    img = read_image(path)
    assert img.dtype == np.uint8 and img.shape == (1, 2, 3)
    expected = np.round(rgb.astype(np.float64) / 257.0).astype(np.uint8)
    assert np.array_equal(img, expected)


def test_float_tiff_is_read_as_0_1(tmp_path: Path) -> None:
    values = np.array([[0.0, 0.5, 1.0, 1.5, -0.2]], dtype=np.float32)
    path = tmp_path / "f.tif"
    Image.fromarray(values).save(path)  # float32 -> mode F
    assert read_image(path)[0, :, 0].tolist() == [0, 128, 255, 255, 0]


def test_cmyk_jpeg(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta + yellow: red
    path = tmp_path / "cmyk.jpg"
    cmyk.save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    img = read_image(path)
    assert img.shape == (16, 16, 3)
    assert _close(img[8, 8], (255, 0, 0), tol=10)


def test_png_round_trip_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    path = tmp_path / "a" / "b" / "rt.png"  # parents are created
    write_image(path, img)
    assert np.array_equal(read_image(path), img)


@pytest.mark.parametrize("ext", ["jpg", "jpeg", "bmp", "tif", "tiff", "webp"])
def test_write_every_format(tmp_path: Path, ext: str) -> None:
    img = _quadrants(32, 32)
    path = tmp_path / f"q.{ext}"
    write_image(path, img)
    back = read_image(path)
    assert back.shape == img.shape
    assert np.abs(back.astype(int) - img).mean() < 8


# ---- reading: errors -------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jpg"
    with pytest.raises(InputError, match="not found") as exc:
        read_image(path)
    _assert_one_line_naming(exc, path)


def test_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="folder"):
        read_image(tmp_path)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(InputError, match="empty") as exc:
        read_image(path)
    _assert_one_line_naming(exc, path)


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\nsecond line\n")
    with pytest.raises(InputError, match="not an image") as exc:
        read_image(path)
    _assert_one_line_naming(exc, path)


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_truncated_file(tmp_path: Path, ext: str) -> None:
    rng = np.random.default_rng(1)
    whole = tmp_path / f"whole.{ext}"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(whole)
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt") as exc:
        read_image(cut)
    _assert_one_line_naming(exc, cut)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and an IHDR declaring ``width`` x ``height`` RGB, with no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [10_000, 20_000])  # 1x-2x Pillow's limit warns, > 2x errors
def test_decompression_bomb(tmp_path: Path, side: int) -> None:
    assert side * side > Image.MAX_IMAGE_PIXELS
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(side, side))
    with pytest.raises(InputError, match="too large") as exc:
        read_image(path)
    _assert_one_line_naming(exc, path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    Image.new("RGB", (2, 2)).save(path)
    path.chmod(0)
    try:
        with pytest.raises(InputError, match="permission"):
            read_image(path)
    finally:
        path.chmod(0o644)


# ---- writing ---------------------------------------------------------------------------------


def test_write_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    first = np.zeros((2, 2, 3), np.uint8)
    write_image(path, first)
    with pytest.raises(OutputError, match="--overwrite") as exc:
        write_image(path, first + 1)
    _assert_one_line_naming(exc, path)
    assert np.array_equal(read_image(path), first)
    write_image(path, first + 1, overwrite=True)
    assert np.array_equal(read_image(path), first + 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temp file left


def test_write_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="unknown image extension"):
        write_image(tmp_path / "x.gif2", np.zeros((2, 2, 3), np.uint8))


def test_write_failure_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        write_image(blocker / "out.png", np.zeros((2, 2, 3), np.uint8))  # parent is a file
    with pytest.raises(ValueError, match="uint8"):
        write_image(tmp_path / "f.png", np.zeros((2, 2, 3), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_write_jpeg_quality(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    write_image(tmp_path / "lo.jpg", img, quality=20)
    write_image(tmp_path / "hi.jpg", img, quality=95)
    assert (tmp_path / "lo.jpg").stat().st_size < (tmp_path / "hi.jpg").stat().st_size


# ---- tensors ---------------------------------------------------------------------------------


def test_image_to_tensor_matches_torchvision() -> None:
    from torchvision import transforms

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    official = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
    )(Image.fromarray(img))
    t = image_to_tensor(img)
    assert t.shape == (3, 7, 9) and t.dtype == torch.float32
    assert torch.equal(t, official)
    assert t.min() >= -1 and t.max() <= 1


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3))))
def test_tensor_round_trip_is_exact(img: np.ndarray) -> None:
    back = tensor_to_image(image_to_tensor(img))
    assert back.dtype == np.uint8 and np.array_equal(back, img)
    assert np.array_equal(tensor_to_image(image_to_tensor(img)[None]), img)


def test_tensor_round_trip_every_value() -> None:
    img = np.stack([np.arange(256, dtype=np.uint8)] * 3, axis=-1)[None]  # (1, 256, 3)
    img.setflags(write=False)  # read-only input (np.asarray of a PIL image) is fine
    assert np.array_equal(tensor_to_image(image_to_tensor(img)), img)
    # Truncation (the official tensor2im) is not a round trip: float error drops 1..63 by one.
    diff = img.astype(int) - tensor_to_image(image_to_tensor(img), rounding="truncate")
    assert set(np.unique(diff)) == {0, 1}
    assert np.nonzero(diff[0, :, 0])[0].tolist() == list(range(1, 64))


def test_tensor_to_image_rounding_and_clamping() -> None:
    # (t + 1) / 2 * 255 = 127.6 -> 128 rounded, 127 truncated (the official tensor2im).
    t = torch.full((3, 1, 2), 127.6 / 255 * 2 - 1)
    t[:, 0, 1] = 5.0  # clamped to 1 -> 255
    assert tensor_to_image(t)[0].tolist() == [[128] * 3, [255] * 3]
    assert tensor_to_image(t, rounding="truncate")[0].tolist() == [[127] * 3, [255] * 3]
    assert tensor_to_image(torch.full((3, 1, 1), -3.0))[0, 0].tolist() == [0, 0, 0]
    gray = tensor_to_image(torch.zeros(1, 2, 2))
    assert gray.shape == (2, 2, 3)
    with pytest.raises(ValueError, match="batch_to_images"):
        tensor_to_image(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError):
        tensor_to_image(torch.zeros(3, 4))


def test_batches() -> None:
    rng = np.random.default_rng(4)
    imgs = [rng.integers(0, 256, (5, 6, 3), dtype=np.uint8) for _ in range(3)]
    batch = images_to_batch(imgs)
    assert batch.shape == (3, 3, 5, 6)
    for a, b in zip(batch_to_images(batch), imgs, strict=True):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="differ"):
        images_to_batch([imgs[0], np.zeros((4, 4, 3), np.uint8)])
    with pytest.raises(ValueError):
        images_to_batch([])


# ---- resizing --------------------------------------------------------------------------------


def test_resize_matches_pillow_bicubic() -> None:
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    out = resize_image(img, (20, 10))
    assert out.shape == (10, 20, 3)
    expected = np.asarray(Image.fromarray(img).resize((20, 10), Image.Resampling.BICUBIC))
    assert np.array_equal(out, expected)
    assert resize_image(img, (40, 30)) is img
    area = resize_image(img, (4, 3), interpolation="area")
    assert np.abs(area.astype(float).mean() - img.mean()) < 3
    with pytest.raises(ValueError, match="interpolation"):
        resize_image(img, (4, 3), interpolation="fancy")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("astronaut.jpg", (512, 512, 3)),
        ("grace_hopper.jpg", (512, 437, 3)),
        ("chelsea.jpg", (300, 451, 3)),
        ("coffee.jpg", (400, 600, 3)),
        ("rocket.jpg", (427, 640, 3)),
    ],
)
def test_bundled_sample_images(name: str, shape: tuple[int, int, int]) -> None:
    path = Path(__file__).resolve().parents[2] / "samples" / name
    assert read_image(path).shape == shape


def test_write_image_embeds_metadata(tmp_path: Path) -> None:
    from PIL import Image

    img = np.zeros((8, 8, 3), np.uint8)
    tags = {"comment": "synthetic media made by facelab", "software": "facelab"}
    write_image(tmp_path / "a.png", img, metadata=tags)
    assert Image.open(tmp_path / "a.png").info["comment"] == tags["comment"]
    for ext in ("jpg", "webp"):
        write_image(tmp_path / f"a.{ext}", img, metadata=tags)
        exif = Image.open(tmp_path / f"a.{ext}").getexif()
        assert exif[0x010E] == tags["comment"] and exif[0x0131] == "facelab"
