"""Regenerate everything in ``samples/`` from public-domain / CC0 images in installed packages.

    python tools/make_samples.py            # writes samples/ (replacing what is there)
    python tools/make_samples.py --out DIR  # somewhere else

Needs, besides facelab's own dependencies, ``scikit-image`` and ``matplotlib`` (only for their
bundled sample images; they are not runtime dependencies of facelab). The output is
deterministic for given versions of Pillow, scikit-image, matplotlib and PyAV's FFmpeg / x264;
samples/README.md records the versions used and where each file comes from.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from facelab.io.image import read_image, resize_image, write_image
from facelab.io.video import VideoWriter, probe_video, write_audio

REPO = Path(__file__).resolve().parents[1]

# (output name, package, path inside the package, long side in pixels or None to keep)
STILLS: list[tuple[str, str, str, int | None]] = [
    ("astronaut.jpg", "skimage", "data/astronaut.png", None),  # 512x512, public domain (NASA)
    ("grace_hopper.jpg", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", 512),  # PD
    ("chelsea.jpg", "skimage", "data/chelsea.png", None),  # 451x300, CC0
    ("coffee.jpg", "skimage", "data/coffee.png", None),  # 600x400, CC0
    ("rocket.jpg", "skimage", "data/rocket.jpg", None),  # 640x427, public domain (SpaceX)
]
JPEG_QUALITY = 90

# The Ken Burns video: crop boxes (centre x, centre y, width) in astronaut.png pixels,
# 4:3, easing from a wide shot to a closer one around the face (face centre ~ (225, 120)).
VIDEO_NAME = "astronaut_pan.mp4"
VIDEO_SIZE = (320, 240)
VIDEO_FPS = Fraction(25)
VIDEO_SECONDS = 3.0
PAN_START = (256.0, 200.0, 480.0)
PAN_END = (228.0, 138.0, 320.0)
AUDIO_RATE = 44100
CHORD_HZ = (220.0, 277.18, 329.63)  # A major


def package_file(package: str, inner: str) -> Path:
    """Absolute path of a data file shipped inside an installed package."""
    module = __import__(package)
    return Path(module.__file__).resolve().parent / inner


def make_still(name: str, package: str, inner: str, long_side: int | None, out_dir: Path) -> Path:
    """Copy one image, optionally resized (bicubic) so its long side is ``long_side``, as JPEG."""
    img = read_image(package_file(package, inner))
    if long_side is not None:
        h, w = img.shape[:2]
        scale = long_side / max(h, w)
        img = resize_image(img, (round(w * scale), round(h * scale)), "bicubic")
    out = out_dir / name
    write_image(out, img, overwrite=True, quality=JPEG_QUALITY)
    return out


def ease(t: float) -> float:
    """Smooth start and stop (cosine ease-in-out) on [0, 1]."""
    return 0.5 - 0.5 * math.cos(math.pi * t)


def pan_frames(src: np.ndarray) -> list[np.ndarray]:
    """The Ken Burns frames: sub-pixel 4:3 crops of ``src`` resized to VIDEO_SIZE (bicubic)."""
    pil = Image.fromarray(src)
    n = int(round(VIDEO_SECONDS * VIDEO_FPS))
    aspect = VIDEO_SIZE[1] / VIDEO_SIZE[0]
    frames = []
    for i in range(n):
        e = ease(i / (n - 1))
        cx, cy, cw = (a + (b - a) * e for a, b in zip(PAN_START, PAN_END, strict=True))
        ch = cw * aspect
        box = (cx - cw / 2, cy - ch / 2, cx + cw / 2, cy + ch / 2)
        crop = pil.transform(VIDEO_SIZE, Image.Transform.EXTENT, box, Image.Resampling.BICUBIC)
        frames.append(np.asarray(crop))
    return frames


def chord(seconds: float) -> np.ndarray:
    """A soft A-major chord with a slow fade in and out, stereo float32 (2, N) in [-1, 1]."""
    t = np.arange(int(round(seconds * AUDIO_RATE))) / AUDIO_RATE
    wave = sum(np.sin(2 * np.pi * f * t) for f in CHORD_HZ) / len(CHORD_HZ)
    fade = np.minimum(1.0, np.minimum(t / 0.4, (seconds - t) / 0.6))
    left = 0.2 * fade * wave
    right = 0.2 * fade * (sum(np.sin(2 * np.pi * f * t + 0.3) for f in CHORD_HZ) / len(CHORD_HZ))
    return np.stack([left, right]).astype(np.float32)


def make_video(out_dir: Path) -> Path:
    """astronaut_pan.mp4: H.264 via facelab's VideoWriter, with a synthesised AAC track."""
    src = read_image(package_file("skimage", "data/astronaut.png"))
    out = out_dir / VIDEO_NAME
    with tempfile.TemporaryDirectory() as tmp:
        tone = Path(tmp) / "chord.m4a"
        write_audio(tone, chord(VIDEO_SECONDS), AUDIO_RATE, bit_rate=96_000)
        with VideoWriter(
            out,
            VIDEO_FPS,
            VIDEO_SIZE,
            audio_from=tone,
            crf=23,
            overwrite=True,
            # Reproducible bytes: x264's macroblock-tree / lookahead rate control gives slightly
            # different bitstreams run to run under PyAV; one thread and no lookahead do not.
            encoder_options={
                "preset": "slow",
                "threads": "1",
                "x264-params": "mbtree=0:rc-lookahead=0",
            },
            metadata={
                "comment": "facelab sample: Ken Burns pan over skimage astronaut.png "
                "(NASA, public domain)"
            },
        ) as writer:
            for frame in pan_frames(src):
                writer.write(frame)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "samples", help="output folder")
    args = parser.parse_args()
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)

    made = [make_still(*spec, out_dir) for spec in STILLS]
    made.append(make_video(out_dir))

    total = 0
    for path in made:
        size = path.stat().st_size
        total += size
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        if path.suffix == ".mp4":
            info = probe_video(path)
            desc = (
                f"{info.width}x{info.height} {info.frame_count} frames @ {info.fps} fps, "
                f"audio {info.audio_codec}"
            )
        else:
            w, h = Image.open(path).size
            desc = f"{w}x{h}"
        print(f"{path.name:20s} {size / 1024:7.1f} KiB  sha256 {digest}  {desc}")
    print(f"{'total':20s} {total / 1024:7.1f} KiB")


if __name__ == "__main__":
    main()
