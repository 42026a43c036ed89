"""Make the before/after pictures of docs/swap.md from the project's own samples.

    python bench/make_swap_figures.py            # rewrites docs/images/swap_*.jpg

Only `samples/` is used (public-domain photos and the video made from one of them, see
samples/README.md); nothing from ../shared. Every swap goes through the library exactly as
`facelab swap` does (`OneShotSource.from_photo`, `swap_image_file`, `swap_video_file`, default
`SwapSettings`), into a temporary folder; the swapped photos are written as PNG there so that
the "changed pixels" panel sees the pipeline's output, not JPEG noise. The figures are JPEG
(quality 85) and carry facelab's synthetic-media comment in their EXIF. The photo figures come
out byte for byte the same on every run; the video figure varies by a few levels, because
x264's threaded encoding of the swapped video is not bit-reproducible.

Figures:
    swap_hopper_onto_astronaut.jpg  astronaut.jpg | the same with grace_hopper.jpg's face
    swap_astronaut_onto_hopper.jpg  grace_hopper.jpg | the same with astronaut.jpg's face
    swap_video_frames.jpg           astronaut_pan.mp4, first and last frame, before | after
    swap_alpha_vs_poisson.jpg       face region: before | alpha | Poisson | pixels changed by alpha,
                                    with the edge of the mask (the script checks none lies outside)
    swap_expression_modes.jpg       astronaut.jpg's face region: before | grace_hopper.jpg's face with
                                    --landmarks 5pt | with --landmarks dlib68 (needs the dlib extra)

Figures 1-3 use `SwapSettings()`, the library's default `landmarks="5pt"` (the CLI's
`--landmarks 5pt`); `--only expression` makes figure 4 alone.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from facelab import __version__
from facelab.faces.detect import FaceDetector
from facelab.io.image import read_image, write_image
from facelab.io.video import VideoReader
from facelab.swap.oneshot import OneShotSource, SwapSettings, swap_face
from facelab.swap.pipeline import swap_image_file, swap_video_file

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
LABEL_H = 24
MAX_BYTES = 150_000


def labelled(img: np.ndarray, text: str, height: int | None = None, nearest: bool = False) -> np.ndarray:
    """Scale `img` to `height` and put a white label bar with `text` above it."""
    if height is not None and img.shape[0] != height:
        w = round(img.shape[1] * height / img.shape[0])
        img = cv2.resize(img, (w, height), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)
    bar = Image.new("RGB", (img.shape[1], LABEL_H), "white")
    try:
        font = ImageFont.load_default(size=15)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    ImageDraw.Draw(bar).text((6, 4), text, fill="black", font=font)
    return np.vstack([np.asarray(bar), img])


def row(panels: list[np.ndarray], gap: int = 6) -> np.ndarray:
    h = max(p.shape[0] for p in panels)
    out = []
    for i, p in enumerate(panels):
        if p.shape[0] < h:
            p = np.vstack([p, np.full((h - p.shape[0], p.shape[1], 3), 255, np.uint8)])
        out.append(p)
        if i < len(panels) - 1:
            out.append(np.full((h, gap, 3), 255, np.uint8))
    return np.hstack(out)


def column(rows: list[np.ndarray], gap: int = 6) -> np.ndarray:
    w = max(r.shape[1] for r in rows)
    out = []
    for i, r in enumerate(rows):
        if r.shape[1] < w:
            r = np.hstack([r, np.full((r.shape[0], w - r.shape[1], 3), 255, np.uint8)])
        out.append(r)
        if i < len(rows) - 1:
            out.append(np.full((gap, w, 3), 255, np.uint8))
    return np.vstack(out)


def save(path: Path, img: np.ndarray, what: str) -> None:
    meta = {"comment": f"synthetic media: figure for docs/swap.md, faces swapped by facelab {__version__} "
                       f"({what}); made by bench/make_swap_figures.py from samples/",
            "software": f"facelab {__version__}"}
    for quality in (85, 80, 75, 70):
        write_image(path, img, overwrite=True, quality=quality, metadata=meta)
        if path.stat().st_size < MAX_BYTES:
            break
    print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {img.shape[1]}x{img.shape[0]}, "
          f"{path.stat().st_size // 1000} KB, quality {quality}", file=sys.stderr)


def frames_of(path: Path, indices: list[int]) -> dict[int, np.ndarray]:
    want, out = set(indices), {}
    with VideoReader(path) as reader:
        for i, frame in reader.frames_with_index():
            if i in want:
                out[i] = frame
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", type=Path, default=REPO / "docs" / "images")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", choices=["all", "expression"], default="all")
    args = ap.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    astronaut, hopper, pan = SAMPLES / "astronaut.jpg", SAMPLES / "grace_hopper.jpg", SAMPLES / "astronaut_pan.mp4"
    detector = FaceDetector(device=args.device)
    settings = SwapSettings()
    sources = {p: OneShotSource.from_photo(p, detector, settings) for p in (astronaut, hopper)}

    if args.only == "expression":
        expression_figure(args.out_dir, detector)
        return
    with tempfile.TemporaryDirectory(prefix="facelab_swap_figures_") as tmp:
        work = Path(tmp)
        # 1. the two photos, each onto the other
        for src, tgt, name in ((hopper, astronaut, "swap_hopper_onto_astronaut.jpg"),
                               (astronaut, hopper, "swap_astronaut_onto_hopper.jpg")):
            out = work / f"{tgt.stem}_swapped.png"
            swap_image_file(sources[src], tgt, out, detector, settings, overwrite=True)
            fig = row([labelled(read_image(tgt), f"before: samples/{tgt.name}", 360),
                       labelled(read_image(out), f"after: face from {src.name}", 360)])
            save(args.out_dir / name, fig, f"one-shot, {src.name} onto {tgt.name}")

        # 2. the video: first and last frame, before | after
        out = work / "pan_swapped.mp4"
        rec = swap_video_file(sources[hopper], pan, out, detector, settings, overwrite=True)
        last = rec.frames_total - 1
        widths = {f["frame"]: f["faces"][0]["box"][2] - f["faces"][0]["box"][0] for f in rec.frames if f["faces"]}
        print(f"video: {rec.frames_total} frames, {len(widths)} with a face; face box {widths.get(0, 0):.0f} px wide "
              f"in frame 0, {widths.get(last, 0):.0f} px in frame {last}", file=sys.stderr)
        before, after = frames_of(pan, [0, last]), frames_of(out, [0, last])
        fig = column([row([labelled(before[i], f"frame {i}, before"), labelled(after[i], f"frame {i}, after")])
                      for i in (0, last)])
        save(args.out_dir / "swap_video_frames.jpg", fig, f"one-shot, {hopper.name} onto {pan.name}")

        # 3. alpha vs Poisson on the face region (pixels doubled, nearest neighbour)
        target = read_image(astronaut)
        results = {}
        for blend in ("alpha", "poisson"):
            s = SwapSettings(blend=blend)
            face_source = OneShotSource.from_photo(hopper, detector, s)
            out = work / f"astronaut_{blend}.png"
            rec = swap_image_file(face_source, astronaut, out, detector, s, overwrite=True)
            results[blend] = read_image(out)
        x1, y1, x2, y2 = rec.frames[0]["faces"][0]["box"]
        cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, 0.75 * max(x2 - x1, y2 - y1)
        xa, ya = max(0, int(cx - half)), max(0, int(cy - half))
        xb, yb = min(target.shape[1], int(cx + half)), min(target.shape[0], int(cy + half))
        # the frame mask the swap used (same face, same call as the pipeline): changed pixels lie inside it
        s = SwapSettings(blend="alpha")
        again, frame_mask = swap_face(target, detector.detect(target)[0].landmarks,
                                      OneShotSource.from_photo(hopper, detector, s), s)
        changed = (results["alpha"] != target).any(-1)
        if not np.array_equal(again, results["alpha"]) or changed[frame_mask == 0].any():
            raise SystemExit("the alpha swap changed pixels outside its mask, or is not reproducible")
        changed_img = np.where(changed[..., None], np.uint8(255), (target // 3).astype(np.uint8))
        contours, _ = cv2.findContours((frame_mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(changed_img, contours, -1, (255, 40, 40), 1)
        diff = np.abs(results["alpha"].astype(np.int16) - results["poisson"]).max(-1)[frame_mask > 0]
        print(f"alpha swap: {int(changed.sum())} pixels changed, {int((frame_mask > 0).sum())} under the mask, "
              f"none outside it; Poisson differs from alpha under the mask by {diff.mean():.1f} on average "
              f"(largest channel), at most {diff.max()}", file=sys.stderr)

        def crop(a: np.ndarray) -> np.ndarray:
            return a[ya:yb, xa:xb]

        side = 2 * (yb - ya)
        fig = row([labelled(crop(target), "before", side, nearest=True),
                   labelled(crop(results["alpha"]), "--blend alpha", side, nearest=True),
                   labelled(crop(results["poisson"]), "--blend poisson", side, nearest=True),
                   labelled(crop(changed_img), "changed (white), mask edge (red)", side, nearest=True)])
        save(args.out_dir / "swap_alpha_vs_poisson.jpg", fig, "alpha vs Poisson blending")
    expression_figure(args.out_dir, detector)


def expression_figure(out_dir: Path, detector: FaceDetector) -> None:
    """4. Hopper's closed mouth onto the smiling astronaut: 5 points against 68 (face region, 2x)."""
    from facelab.faces.landmarks import get_landmark_backend

    astronaut, hopper = SAMPLES / "astronaut.jpg", SAMPLES / "grace_hopper.jpg"
    target = read_image(astronaut)
    (face,) = detector.detect(target)
    (dense,) = get_landmark_backend("dlib68")(target, [face])
    outs = {}
    for mode in ("5pt", "dlib68"):
        s = SwapSettings(landmarks=mode)
        out, mask = swap_face(target, face.landmarks, OneShotSource.from_photo(hopper, detector, s), s,
                              dense=dense if mode == "dlib68" else None)
        if not np.array_equal(out[mask == 0], target[mask == 0]):
            raise SystemExit(f"the {mode} swap changed pixels outside its mask")
        outs[mode] = out
    x1, y1, x2, y2 = face.box
    cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, 0.7 * max(x2 - x1, y2 - y1)
    xa, ya = max(0, int(cx - half)), max(0, int(cy - half))
    xb, yb = min(target.shape[1], int(cx + half)), min(target.shape[0], int(cy + half))
    side = 2 * (yb - ya)
    fig = row([labelled(target[ya:yb, xa:xb], "before", side),
               labelled(outs["5pt"][ya:yb, xa:xb], "--landmarks 5pt", side),
               labelled(outs["dlib68"][ya:yb, xa:xb], "--landmarks dlib68", side)])
    save(out_dir / "swap_expression_modes.jpg", fig, f"one-shot, {hopper.name} onto {astronaut.name}, 5pt vs dlib68")


if __name__ == "__main__":
    main()
