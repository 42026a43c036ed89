"""What content credentials cost: signing a finished output and reading (validating) it back.

    python bench/c2pa_cost.py        # prints a Markdown table (docs/security.md quotes it)

Files: the sample photo and video, a talking-head clip of ../shared/data (skipped when absent)
and a 10-second 720p clip made here by facelab's own writer, each signed as a face swap of
itself with a throwaway local key in a temporary folder. Times are the median of 3 runs; on a
shared machine compare them with the encode time of the same file (the last column), not
across machines.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facelab.credentials import Declaration, local_signing_key, read_credentials
from facelab.io.video import VideoWriter

REPO = Path(__file__).resolve().parents[1]
TALKING = REPO / ".." / "shared" / "data" / "face_videos" / "sadtalker_WDA_KatieHill_000.mp4"


def _median(fn: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        key = local_signing_key(tmp / "key")
        made = tmp / "made_720p.mp4"
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        with VideoWriter(made, 30, (1280, 720)) as w:
            for _ in range(300):
                w.write(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8))
        encode = time.perf_counter() - t0
        files = [REPO / "samples" / "astronaut.jpg", REPO / "samples" / "astronaut_pan.mp4", made]
        if TALKING.is_file():
            files.insert(2, TALKING.resolve())
        print("| file | size | sign | read + validate |")
        print("|---|---|---|---|")
        for src in files:
            work = tmp / f"work{src.suffix}"

            def sign(src: Path = src, work: Path = work) -> None:
                shutil.copyfile(src, work)
                key.sign(work, work, Declaration("face swapped (oneshot)", parent=src))

            copy = _median(lambda src=src, work=work: shutil.copyfile(src, work))
            signing = _median(sign) - copy
            assert read_credentials(work).valid
            reading = _median(lambda work=work: read_credentials(work))
            print(f"| {src.name} | {src.stat().st_size / 1e6:.1f} MB | {signing:.3f} s | {reading:.3f} s |")
        print(f"\n(encoding {made.name}, 300 frames of noise, took {encode:.1f} s on this machine)")


if __name__ == "__main__":
    main()
