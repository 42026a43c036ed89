"""How good is a face swap, measured the way the field measures it (FaceShifter, SimSwap)?

    python bench/swap_quality.py --target ../shared/data/face_videos/sadtalker_WDA_KatieHill_000.mp4 \\
        --source ../shared/data/faces/face_recognition/obama.jpg --modes 5pt,dlib68 --out /tmp/q.json
    python bench/swap_quality.py --target T.mp4 --source S.jpg --modes none --swapped learned=out.mp4

For each mode in `--modes` this makes the one-shot swap of `--source` onto `--target` with
facelab's defaults and that `--landmarks` (`5pt`: the similarity warp of before; `dlib68`: the
expression-following warp), timing it, then scores every swapped video (and each `--swapped
NAME=PATH` made elsewhere, e.g. by a learned model) against the target and the source with
models that judge rather than make: dlib's HOG face detector (the box), its 68-point shape
predictor and its 128-d face embedding (ResNet, `dlib_face_recognition_resnet_model_v1`).

Per frame, on the target's largest dlib face (the same box for target and swapped frame):

* **identity**: cosine similarity of the swapped face's embedding to the source photo's and to
  the target frame's; "closer to source" when the source is nearer (Euclidean, dlib's metric);
  **retrieval**: the swapped face's nearest identity among a gallery (the source, the target
  video's mean embedding, and every one-person photo of `--gallery`) is the source.
* **expression**: mean distance of the swapped face's 68 points from the target's after the
  best similarity between them (pose and size removed), in inter-ocular distances; **mouth
  opening** (mean inner-lip gap, inter-ocular units): Pearson correlation with the target's
  over time and the mean absolute difference.
* **pose**: angle (degrees) between the head rotations `cv2.solvePnP` gives for the swapped
  and the target points (a generic 3-D face, facelab.detector.landmark_motion.POSE_MODEL).
* **jitter**: mean frame-to-frame motion of the swapped points minus the target's, in
  inter-ocular distances (0 when the swapped face moves exactly as the target does).
* **detector**: `facelab detect` on the swapped video (the shipped detector): its verdict and
  fake probability.

Caveat: the expression-following mode itself bends the face onto dlib's 68 points (on MTCNN's
boxes), so for that mode the expression figures judge it with the predictor it was made with;
the predictor still has to find the bent lips in the new pixels, from its own HOG box.

Inputs are read from `../shared/data` (research-only media): the swapped videos go to a
temporary folder (or `--keep DIR`), and `--frames-png FILE` (a few frames, target | each swap)
must be written outside the repository too.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facelab.detector.landmark_motion import POSE_INDICES, POSE_MODEL
from facelab.faces.align import estimate_similarity, transform_points
from facelab.faces.detect import FaceDetector
from facelab.io.image import read_image
from facelab.io.video import VideoReader
from facelab.swap.oneshot import OneShotSource, SwapSettings
from facelab.swap.pipeline import frames_per_second, swap_video_file

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data"
GALLERY = SHARED / "faces" / "face_recognition"


class Judge:
    """dlib's detector, 68-point predictor and 128-d embedding."""

    def __init__(self) -> None:
        import dlib

        spec = importlib.util.find_spec("face_recognition_models")  # not imported: it needs pkg_resources
        if spec is None or spec.origin is None:
            sys.exit("swap_quality needs the dlib extra: pip install 'facelab[dlib]'")
        models = Path(spec.origin).parent / "models"
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def box(self, image: np.ndarray) -> Any | None:
        rects = self.detector(image, 1)
        return max(rects, key=lambda r: r.area()) if rects else None

    def points(self, image: np.ndarray, rect: Any) -> tuple[np.ndarray, Any]:
        shape = self.predictor(image, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], np.float64), shape

    def embed(self, image: np.ndarray, shape: Any) -> np.ndarray:
        return np.array(self.encoder.compute_face_descriptor(image, shape), np.float64)

    def photo(self, path: Path) -> np.ndarray | None:
        img = np.ascontiguousarray(read_image(path))
        rects = self.detector(img, 1)
        if len(rects) != 1:
            return None
        return self.embed(img, self.points(img, rects[0])[1])


def iod(p: np.ndarray) -> float:
    return float(np.linalg.norm(p[42:48].mean(0) - p[36:42].mean(0)))


def opening(p: np.ndarray) -> float:
    return float(np.linalg.norm(p[[61, 62, 63]] - p[[67, 66, 65]], axis=1).mean() / iod(p))


def rotation(p: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    w, h = size
    f = float(max(w, h))
    cam = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]], np.float64)
    ok, rvec, _ = cv2.solvePnP(POSE_MODEL.reshape(-1, 1, 3), p[list(POSE_INDICES)].reshape(-1, 1, 2), cam, None,
                               flags=cv2.SOLVEPNP_ITERATIVE)
    return cv2.Rodrigues(rvec)[0] if ok else None


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def score(judge: Judge, target: Path, swapped: Path, source_emb: np.ndarray,
          gallery: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per-frame dlib measurements of `swapped` against `target`, summarised."""
    rows: list[dict[str, Any]] = []
    tgt_embs: list[np.ndarray] = []
    sw_embs: list[np.ndarray] = []
    with VideoReader(target) as rt, VideoReader(swapped) as rs:
        for i, (ft, fs) in enumerate(zip(rt, rs, strict=False)):
            ft, fs = np.ascontiguousarray(ft), np.ascontiguousarray(fs)
            rect = judge.box(ft)
            if rect is None:
                continue
            pt, sht = judge.points(ft, rect)
            ps, shs = judge.points(fs, rect)
            et, es = judge.embed(ft, sht), judge.embed(fs, shs)
            tgt_embs.append(et)
            sw_embs.append(es)
            d = iod(pt)
            sim = estimate_similarity(ps, pt)
            expr = float(np.linalg.norm(transform_points(ps, sim) - pt, axis=1).mean() / d)
            r_t, r_s = rotation(pt, ft.shape[1::-1]), rotation(ps, fs.shape[1::-1])
            pose = math.degrees(np.arccos(np.clip((np.trace(r_s @ r_t.T) - 1) / 2, -1, 1))) \
                if r_t is not None and r_s is not None else math.nan
            rows.append({"frame": i, "iod": d, "open_t": opening(pt), "open_s": opening(ps), "expr": expr,
                         "pose": pose, "pt": pt, "ps": ps, "cos_src": cos(es, source_emb), "cos_tgt": cos(es, et),
                         "closer_src": bool(np.linalg.norm(es - source_emb) < np.linalg.norm(es - et))})
    if not rows:
        return {"frames_judged": 0}
    ident = {**gallery, "target": np.mean(tgt_embs, 0)}
    names = list(ident)
    bank = np.stack([ident[n] for n in names])
    top1 = [names[int(np.argmin(np.linalg.norm(bank - e, axis=1)))] for e in sw_embs]
    ot = np.array([r["open_t"] for r in rows])
    os_ = np.array([r["open_s"] for r in rows])
    jit = []
    for a, b in zip(rows, rows[1:], strict=False):
        if b["frame"] == a["frame"] + 1:
            jit.append(float(np.linalg.norm((b["ps"] - a["ps"]) - (b["pt"] - a["pt"]), axis=1).mean() / b["iod"]))
    return {
        "frames_judged": len(rows),
        "cos_to_source": round(float(np.mean([r["cos_src"] for r in rows])), 3),
        "cos_to_target": round(float(np.mean([r["cos_tgt"] for r in rows])), 3),
        "closer_to_source": round(float(np.mean([r["closer_src"] for r in rows])), 3),
        "retrieval_top1_source": round(float(np.mean([n == "source" for n in top1])), 3),
        "gallery_size": len(names),
        "expression_error_iod": round(float(np.mean([r["expr"] for r in rows])), 4),
        "mouth_corr": round(float(np.corrcoef(ot, os_)[0, 1]), 3) if ot.std() > 0 and os_.std() > 0 else math.nan,
        "mouth_mad_iod": round(float(np.abs(ot - os_).mean()), 4),
        "mouth_target_range": [round(float(ot.min()), 3), round(float(ot.max()), 3)],
        "mouth_swapped_range": [round(float(os_.min()), 3), round(float(os_.max()), 3)],
        "pose_error_deg": round(float(np.nanmean([r["pose"] for r in rows])), 2),
        "jitter_iod": round(float(np.mean(jit)), 4) if jit else math.nan,
    }


def detector_verdict(video: Path, work: Path) -> dict[str, Any]:
    """`facelab detect` (the shipped detector) on the video: verdict and fake probability."""
    out = work / f"{video.stem}.detect.json"
    cmd = [sys.executable, "-m", "facelab", "-q", "--threads", "1", "detect", str(video), "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if not out.is_file():
        return {"verdict": None, "error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
    rec = json.loads(out.read_text())[0]
    return {"verdict": rec.get("verdict"), "fake_probability": rec.get("fake_probability")}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", type=Path, default=SHARED / "face_videos" / "sadtalker_WDA_KatieHill_000.mp4")
    ap.add_argument("--source", type=Path, default=GALLERY / "obama.jpg")
    ap.add_argument("--modes", default="5pt,dlib68", help="one-shot --landmarks values to make and score; 'none'")
    ap.add_argument("--swapped", action="append", default=[], help="NAME=PATH: a swap made elsewhere, scored too")
    ap.add_argument("--gallery", type=Path, default=GALLERY, help="folder of photos of other people (one face each)")
    ap.add_argument("--no-detect", action="store_true", help="skip facelab detect")
    ap.add_argument("--keep", type=Path, default=None, help="keep the swapped videos in this folder")
    ap.add_argument("--out", type=Path, default=None, help="JSON with every figure")
    ap.add_argument("--frames-png", type=Path, default=None,
                    help="also write a PNG of a few frames: target | each swap (research-only media: keep it "
                         "out of the repository)")
    args = ap.parse_args(argv)

    judge = Judge()
    source_emb = judge.photo(args.source)
    if source_emb is None:
        sys.exit(f"{args.source}: dlib does not find exactly one face")
    gallery = {"source": source_emb}
    for p in sorted(args.gallery.glob("*")):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.resolve() != args.source.resolve():
            e = judge.photo(p)
            if e is not None and np.linalg.norm(e - source_emb) > 0.4:  # other people only
                gallery[p.stem] = e
    work = Path(tempfile.mkdtemp(prefix="swap_quality_")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    videos: dict[str, tuple[Path, float | None]] = {}
    detector = FaceDetector(device="cpu")
    for mode in [m for m in args.modes.split(",") if m and m != "none"]:
        settings = SwapSettings(landmarks=mode)
        source = OneShotSource.from_photo(args.source, detector, settings)
        dst = work / f"oneshot_{mode}.mp4"
        rec = swap_video_file(source, args.target, dst, detector, settings, overwrite=True)
        videos[f"oneshot {mode}"] = (dst, round(frames_per_second(rec), 2))
    for item in args.swapped:
        name, _, path = item.partition("=")
        videos[name] = (Path(path), None)
    results: dict[str, Any] = {}
    for name, (path, fps) in videos.items():
        t0 = time.perf_counter()
        res = score(judge, args.target, path, source_emb, gallery)
        res["swap_fps"] = fps
        res["score_seconds"] = round(time.perf_counter() - t0, 1)
        if not args.no_detect:
            res["detector"] = detector_verdict(path, work)
        results[name] = res
        print(name, json.dumps(res), flush=True)
    doc = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "target": str(args.target),
           "source": str(args.source), "gallery": sorted(gallery), "load_average_1min": os.getloadavg()[0],
           "results": results}
    keys = ["frames_judged", "closer_to_source", "retrieval_top1_source", "cos_to_source", "cos_to_target",
            "expression_error_iod", "mouth_corr", "mouth_mad_iod", "pose_error_deg", "jitter_iod", "swap_fps"]
    print("| swap | " + " | ".join(keys) + " | detector |")
    print("|---" * (len(keys) + 2) + "|")
    for name, res in results.items():
        det = res.get("detector", {})
        print(f"| {name} | " + " | ".join(str(res.get(k)) for k in keys) +
              f" | {det.get('verdict')} {det.get('fake_probability')} |")
    if args.out is not None:
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
    if args.frames_png is not None:
        frames_png(args.target, [p for p, _ in videos.values()], args.frames_png)
    return doc


def frames_png(target: Path, swapped: list[Path], dst: Path, count: int = 4) -> None:
    """Rows of evenly spaced frames: the target, then each swapped video, side by side."""
    from facelab.io.image import write_image

    n = VideoReader(target).info.frame_count or 100
    want = {round(i * (n - 1) / max(count - 1, 1)) for i in range(count)}
    columns = []
    for path in [target, *swapped]:
        with VideoReader(path) as reader:
            columns.append([f for i, f in reader.frames_with_index() if i in want])
    rows = [np.hstack([col[r] for col in columns]) for r in range(min(len(c) for c in columns))]
    write_image(dst, np.vstack(rows), overwrite=True)
    print(f"{dst}: {len(rows)} frames; columns: target, " + ", ".join(p.name for p in swapped))


if __name__ == "__main__":
    main()
