"""A corpus of bad and awkward input files, made with real writers, for the hardening tests.

    corpus = make_corpus(tmp_path / "corpus")
    corpus["truncated_jpg"].path          # a real JPEG cut in half
    [c for c in corpus.values() if c.kind == "image" and not c.ok]

Every entry says what the shared readers must do with it: ``ok`` files load (``read_image`` or
``probe_video`` + ``VideoReader``), the others raise an ``InputError`` whose one-line message
names the file and contains ``problem`` (a lower-case fragment of the message).

Images: truncated JPEG and PNG, a zero-byte file, a text file named .jpg, a PNG declaring
20000x20000 pixels (a decompression bomb), and the awkward but valid 1x1, 16-bit, palette, CMYK
and 3840x2160 images. Media: a truncated MP4 (the bundled sample cut in half), an MP4 holding
only audio, audio-only .m4a and .wav files, an MP4 with a video stream and no frames, a video
with a display rotation, a variable-frame-rate video. Names with spaces and non-ASCII letters
are used throughout ("ü bad ñame.jpg"). ``unreadable_copy`` and ``unwritable_dirs`` make the
permission cases (a mode 000 file and a read-only folder mean nothing to root: callers skip).
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.audio.stream import AudioStream
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
IS_ROOT = os.name == "posix" and os.geteuid() == 0

_FAST = {"preset": "ultrafast"}


@dataclass(frozen=True)
class Item:
    """One corpus file.

    Attributes:
        path: the file.
        kind: "image" or "video" (what its extension claims).
        ok: whether the shared reader must load it.
        problem: for bad files, a lower-case fragment of the InputError message.
    """

    path: Path
    kind: str
    ok: bool
    problem: str = ""


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _cut(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and an IHDR declaring ``width`` x ``height`` RGB, with no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _write_frames(path: Path, frames: list[np.ndarray], pts: list[int] | None = None,
                  rate: int = 25, rotation: int = 0, time_base: Fraction | None = None) -> Path:
    """H.264 MP4 written directly with PyAV (explicit timestamps, optional display rotation)."""
    h, w = frames[0].shape[:2] if frames else (64, 96)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options=_FAST)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if time_base is not None:
            stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        for i, arr in enumerate(frames):
            f = av.VideoFrame.from_ndarray(arr, format="rgb24")
            f.pts = pts[i] if pts is not None else i
            if time_base is not None:
                f.time_base = time_base
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return path


def _zero_frame_mp4(path: Path) -> Path:
    """An MP4 with an H.264 video stream (header, codec parameters) and not one packet.

    A plain MP4 drops a track without samples; a fragmented one writes its (empty) index first.
    """
    with av.open(str(path), "w", options={"movflags": "frag_keyframe+empty_moov"}) as out:
        stream = out.add_stream("libx264", rate=25, options=_FAST)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        out.start_encoding()
    return path


def _audio_file(path: Path, seconds: float = 0.5, rate: int = 44100) -> Path:
    """Audio only, written with PyAV: AAC in .mp4/.m4a, PCM in .wav."""
    codec = "pcm_s16le" if path.suffix == ".wav" else "aac"
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = cast(AudioStream, out.add_stream(codec, rate=rate, layout="mono"))
        fmt = "s16" if codec == "pcm_s16le" else "fltp"
        step = 1024
        for start in range(0, len(wave), step):
            chunk = wave[start:start + step]
            data = (chunk * 32767).astype(np.int16)[None] if fmt == "s16" else chunk[None]
            frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def make_corpus(folder: Path, *, large: bool = True) -> dict[str, Item]:
    """Write the corpus into ``folder`` (created) and describe each file.

    Args:
        folder: where the files go.
        large: include the 3840x2160 image (about 0.2 s to write, more to read).
    """
    folder.mkdir(parents=True, exist_ok=True)
    items: dict[str, Item] = {}

    def add(key: str, path: Path, kind: str, ok: bool, problem: str = "") -> None:
        items[key] = Item(path, kind, ok, problem)

    # ---- images: broken ----------------------------------------------------------------------
    whole = folder / ".whole.jpg"
    Image.fromarray(_noise(64, 64, 1)).save(whole, quality=90)
    add("truncated_jpg", _cut(whole, folder / "truncated.jpg"), "image", False, "truncated")
    whole.unlink()
    whole = folder / ".whole.png"
    Image.fromarray(_noise(64, 64, 2)).save(whole)
    add("truncated_png", _cut(whole, folder / "truncated.png"), "image", False, "truncated")
    whole.unlink()
    (folder / "empty.jpg").touch()
    add("empty_jpg", folder / "empty.jpg", "image", False, "empty")
    (folder / "notes.jpg").write_text("this is a text file\nnot a picture\n", encoding="utf-8")
    add("text_jpg", folder / "notes.jpg", "image", False, "not an image")
    (folder / "bomb.png").write_bytes(png_header_only(20_000, 20_000))
    add("bomb_png", folder / "bomb.png", "image", False, "too large")
    bad_name = folder / "ü bad ñame.jpg"
    bad_name.write_bytes(items["truncated_jpg"].path.read_bytes())
    add("nonascii_bad", bad_name, "image", False, "truncated")

    # ---- images: awkward but valid -----------------------------------------------------------
    Image.new("RGB", (1, 1), (200, 100, 50)).save(folder / "one_pixel.png")
    add("one_pixel", folder / "one_pixel.png", "image", True)
    ramp = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    Image.fromarray(ramp).save(folder / "gray16.png")  # mode I;16
    add("gray16", folder / "gray16.png", "image", True)
    Image.fromarray(_noise(48, 64, 3)).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    add("palette", folder / "palette.png", "image", True)
    Image.fromarray(_noise(48, 64, 4)).convert("CMYK").save(folder / "cmyk.jpg")
    add("cmyk", folder / "cmyk.jpg", "image", True)
    good_name = folder / "good ñame ü.jpg"
    shutil.copyfile(SAMPLES / "grace_hopper.jpg", good_name)
    add("nonascii_good", good_name, "image", True)
    if large:
        Image.fromarray(np.full((2160, 3840, 3), 128, np.uint8)).save(folder / "frame_4k.jpg", quality=80)
        add("frame_4k", folder / "frame_4k.jpg", "image", True)

    # ---- videos: broken ----------------------------------------------------------------------
    add("truncated_mp4", _cut(SAMPLES / "astronaut_pan.mp4", folder / "truncated clip.mp4"), "video", False,
        "truncated")
    add("audio_mp4", _audio_file(folder / "audio only.mp4"), "video", False, "no video stream")
    add("audio_m4a", _audio_file(folder / "tone.m4a"), "audio", False, "no video stream")
    add("audio_wav", _audio_file(folder / "tone.wav"), "audio", False, "no video stream")
    add("zero_frames", _zero_frame_mp4(folder / "zero frames.mp4"), "video", False, "no decodable frames")
    (folder / "notes.mp4").write_text("not a video\n" * 20, encoding="utf-8")
    add("text_mp4", folder / "notes.mp4", "video", False, "not a video")
    (folder / "empty.mp4").touch()
    add("empty_mp4", folder / "empty.mp4", "video", False, "empty")
    add("nonascii_bad_mp4", _cut(SAMPLES / "astronaut_pan.mp4", folder / "ü clip ñ.mp4"), "video", False,
        "truncated")

    # ---- videos: awkward but valid -----------------------------------------------------------
    frames = [_noise(64, 96, 10 + i) for i in range(6)]
    add("rotated", _write_frames(folder / "rotated.mp4", frames, rotation=90), "video", True)
    # timestamps in 1/1000 s with irregular gaps: 0, 40, 60, 140, 150, 300 ms
    add("vfr", _write_frames(folder / "vfr.mp4", frames, pts=[0, 40, 60, 140, 150, 300],
                             time_base=Fraction(1, 1000)), "video", True)
    return items


def unreadable_copy(src: Path, dst: Path) -> Path:
    """A copy of ``src`` with mode 000 (only meaningful when not root; see ``IS_ROOT``)."""
    shutil.copyfile(src, dst)
    dst.chmod(0)
    return dst


def blocked_output(folder: Path, name: str) -> Path:
    """An output path whose parent is a regular file: no user, root included, can create it."""
    folder.mkdir(parents=True, exist_ok=True)
    blocker = folder / "blocker"
    blocker.write_text("a file where a folder should be\n", encoding="utf-8")
    return blocker / name


def listing(folder: Path) -> list[str]:
    """Every file and folder below ``folder``, hidden ones (temporary files) included, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
