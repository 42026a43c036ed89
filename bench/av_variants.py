"""Mismatched-audio variants of real talking clips, for checking the lip-sync check by hand.

    python bench/av_variants.py CLIP OTHER_CLIP --out /tmp/variants

Writes into `--out` (a temporary folder: these are derived from research-only clips and must never
be committed): `<clip>_shift1s.mp4` (the clip with its own audio delayed by 1 s) and
`<clip>_voice_<other>.mp4` (the clip with OTHER_CLIP's audio, looped or cut to length), both
re-encoded with facelab's VideoWriter, which takes the audio from an AAC file made with
`facelab.io.audio.write_audio`; and `<clip>_same.mp4`, the clip through the same writer with its
own audio, so that the three files differ only in their audio.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from facelab.io.audio import read_audio, write_audio
from facelab.io.video import VideoReader, VideoWriter, probe_video


def remux(clip: Path, samples: np.ndarray, rate: int, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "audio.m4a"
        write_audio(audio, samples, rate)
        with VideoWriter(out, probe_video(clip).fps, audio_from=audio, overwrite=True) as w:
            for frame in VideoReader(clip):
                w.write(frame)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", type=Path)
    ap.add_argument("other", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    a, b = read_audio(args.clip), read_audio(args.other)
    if a is None or b is None:
        raise SystemExit("both clips need an audio track")
    x, rate = a.samples, a.sample_rate
    shifted = np.concatenate([np.zeros(rate, np.float32), x])[: len(x)]
    other = np.resize(b.samples, len(x))  # same rate (read_audio resamples both to 16 kHz)
    stem = args.clip.stem
    remux(args.clip, x, rate, args.out / f"{stem}_same.mp4")
    remux(args.clip, shifted, rate, args.out / f"{stem}_shift1s.mp4")
    remux(args.clip, other, rate, args.out / f"{stem}_voice_{args.other.stem}.mp4")
    print(f"wrote {stem}_same.mp4, {stem}_shift1s.mp4, {stem}_voice_{args.other.stem}.mp4 to {args.out}")


if __name__ == "__main__":
    main()
