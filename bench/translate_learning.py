"""Does facelab's training learn? Pix2Pix and CycleGAN on real photos, scored against a known truth.

    python bench/translate_learning.py --out bench/results/translate_learning.json

The task is `sepia` (facelab.data.synthetic): a fixed colour matrix plus a contrast curve,
applied pixel by pixel, so the exact target of every held-out photo is known. We chose it over
`night` because `night` adds a vignette centred on the *image*: a net trained on random crops
sees a vignette centred on each crop, and at test time on a whole photo the target at a pixel
depends on where the photo's borders are, not on the pixel. Sepia is the same function at any
crop, size and position, so a score on held-out photos measures what was learnt, nothing else.

Steps:
1. photos: real photos from `../shared/data` (horse2zebra test horses, Unsplash horses, zebras,
   landscapes and paintings, face photos), sorted per folder; every 5th one is held out.
2. data: crops of the training photos only. Pix2Pix sees aligned (crop, sepia(crop)) pairs;
   CycleGAN gets trainA = crops, trainB = sepia of *other* crops, so it never sees a pair.
3. train: a small Pix2Pix (unet_128) and a small CycleGAN (resnet_6blocks) through
   `facelab.translate.trainer.train`, the same loop as `facelab train`.
4. score each held-out photo (resized to 256x256): PSNR and L1 of the translation against
   sepia(photo), next to the identity baseline (output = input) and the same architecture at
   initialisation (same seed, so the very weights training started from). For CycleGAN also the
   cycle losses of log.jsonl, first vs last 10% of the logged iterations.
5. a Markdown table on stdout and JSON at --out.

Everything runs on the CPU unless --device says otherwise. The data and runs are written under
--work (default: a folder in /tmp), never into the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from facelab import __version__
from facelab.checkpoint import atomic_save
from facelab.config import CycleGANConfig, Pix2PixConfig, TranslatorConfig
from facelab.data.datasets import find_images
from facelab.data.synthetic import get_task, make_pairs, psnr
from facelab.io.image import read_image, resize_image
from facelab.translate.infer import Translator, load_translator
from facelab.translate.trainer import build_model, inference_export, seed_everything, train

_Cfg = TypeVar("_Cfg", Pix2PixConfig, CycleGANConfig)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data"
# (folder under shared/data, glob): photos only, no generated images (the *_fake.png are skipped)
SOURCES = (("horse2zebra/official_pretrained_results", "*_real.png"),
           ("horse2zebra/unsplash", "*/*.jpg"),
           ("faces/face_recognition", "*"))
HOLD_OUT_EVERY = 5
EVAL_SIZE = 256


# ---------------------------------------------------------------------------------------------
# 1. photos

def split_photos(shared: Path) -> tuple[list[Path], list[Path]]:
    """Train and held-out photos: in each source folder (sorted), every 5th photo is held out."""
    train_set, held_out = [], []
    for folder, pattern in SOURCES:
        images = set(find_images(shared / folder))
        photos = sorted(p for p in (shared / folder).glob(pattern) if p in images)
        if not photos:
            raise SystemExit(f"no photos in {shared / folder}; is ../shared/data complete?")
        for i, p in enumerate(photos):
            (held_out if i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1 else train_set).append(p)
    return train_set, held_out


def eval_image(path: Path, size: int = EVAL_SIZE) -> np.ndarray:
    """The photo with its short side resized to `size`, centre-cropped to size x size."""
    img = read_image(path)
    h, w = img.shape[:2]
    s = size / min(h, w)
    img = resize_image(img, (max(size, round(w * s)), max(size, round(h * s))), "area")
    h, w = img.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(img[y:y + size, x:x + size])


# ---------------------------------------------------------------------------------------------
# 3. training configs

def schedule(cfg: _Cfg, steps: int, n_items: int) -> _Cfg:
    """The official linear schedule squeezed into about `steps` iterations: constant lr for the
    first half of the epochs, the official linear decay over the second half; `max_steps` stops
    the run at `steps` exactly (a little before the last epoch ends)."""
    per_epoch = max(1, n_items // cfg.batch_size)
    epochs = max(2, math.ceil(steps / per_epoch))
    return replace(cfg, n_epochs=epochs // 2, n_epochs_decay=epochs - epochs // 2, max_steps=steps)


def pix2pix_config(data: Path, out: Path, args: argparse.Namespace, n_items: int) -> Pix2PixConfig:
    base = Pix2PixConfig(dataroot=str(data), out=str(out))
    cfg = replace(base, netG="unet_128", ngf=args.p2p_ngf, ndf=args.p2p_ngf, load_size=args.p2p_load,
                  crop_size=args.p2p_crop, batch_size=args.p2p_batch, workers=0, seed=args.seed,
                  device=args.device, print_every=10, display_every=max(1, args.p2p_steps // 4),
                  save_latest_every=args.p2p_steps, save_epoch_every=10**6)
    return schedule(cfg, args.p2p_steps, n_items)


def cyclegan_config(data: Path, out: Path, args: argparse.Namespace, n_items: int) -> CycleGANConfig:
    base = CycleGANConfig(dataroot=str(data), out=str(out))
    cfg = replace(base, netG="resnet_6blocks", ngf=args.cg_ngf, ndf=args.cg_ngf, load_size=args.cg_load,
                  crop_size=args.cg_crop, batch_size=args.cg_batch, workers=0, seed=args.seed,
                  device=args.device, print_every=10, display_every=max(1, args.cg_steps // 4),
                  save_latest_every=args.cg_steps, save_epoch_every=10**6)
    return schedule(cfg, args.cg_steps, n_items)


def untrained(cfg: TranslatorConfig, path: Path) -> Path:
    """The generators training started from: same seed, same builder, written like final.pt."""
    seed_everything(cfg.seed, cfg.deterministic)
    model = build_model(cfg, torch.device("cpu"))
    atomic_save(inference_export(model, cfg, 0, 0), path)
    return path


def timed_train(cfg: TranslatorConfig) -> dict[str, Any]:
    t0 = time.perf_counter()
    run = train(cfg)
    wall = time.perf_counter() - t0
    load = os.getloadavg()[1]  # 5-minute load average: other jobs share the CPU and slow this down
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return {"run": str(run), "iterations": rows[-1]["iteration"], "wall_s": round(wall, 1),
            "it_per_s": round(rows[-1]["iteration"] / wall, 2), "load_avg_5min_at_end": round(load, 2), "log": rows}


# ---------------------------------------------------------------------------------------------
# 4. scoring

def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute error in uint8 levels (0..255)."""
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def translate_all(tr: Translator, images: list[np.ndarray], seed: int) -> list[np.ndarray]:
    torch.manual_seed(seed)  # pix2pix's test-time dropout in "official" mode
    out: list[np.ndarray] = []
    for i in range(0, len(images), 4):
        out += tr.translate(images[i:i + 4])
    return out


def score(outputs: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, float]:
    p = [psnr(o, t) for o, t in zip(outputs, truths, strict=True)]
    d = [l1(o, t) for o, t in zip(outputs, truths, strict=True)]
    return {"psnr_db": round(float(np.mean(p)), 2), "psnr_db_min": round(float(np.min(p)), 2),
            "l1": round(float(np.mean(d)), 2)}


def cycle_drop(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean cycle losses over the first and the last 10% of the logged iterations."""
    k = max(1, len(rows) // 10)
    out: dict[str, Any] = {"logged_rows": len(rows), "rows_per_tenth": k}
    for key in ("cycle_A", "cycle_B"):
        first = float(np.mean([r[key] for r in rows[:k]]))
        last = float(np.mean([r[key] for r in rows[-k:]]))
        out[key] = {"first_10pct": round(first, 4), "last_10pct": round(last, 4),
                    "drop_pct": round(100 * (1 - last / first), 1)}
    return out


# ---------------------------------------------------------------------------------------------

def table(results: dict[str, Any]) -> str:
    ident = results["identity_baseline"]
    lines = ["| model | weights | test mode | iterations | PSNR dB (mean / min) | L1 (0-255) |",
             "|---|---|---|---|---|---|",
             f"| identity (output = input) | - | - | - | {ident['psnr_db']:.2f} / {ident['psnr_db_min']:.2f} "
             f"| {ident['l1']:.2f} |"]
    for name in ("pix2pix", "cyclegan"):
        r = results.get(name)
        if r is None:
            continue
        for key, label in (("untrained", "at initialisation"), ("trained", "trained")):
            for mode, s in r[key].items():
                its = 0 if key == "untrained" else r["train"]["iterations"]
                lines.append(f"| {name} {r['arch']} | {label} | {mode} | {its} | "
                             f"{s['psnr_db']:.2f} / {s['psnr_db_min']:.2f} | {s['l1']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="JSON results file to write.")
    ap.add_argument("--work", type=Path, default=Path("/tmp/facelab_translate_learning"),
                    help="Scratch folder for the data sets and runs (replaced if an earlier run made it).")
    ap.add_argument("--shared", type=Path, default=SHARED, help="The shared data folder.")
    ap.add_argument("--models", default="pix2pix,cyclegan", help="Comma-separated: pix2pix, cyclegan.")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's choice). On a CPU shared with other jobs, 1 can be "
                         "much faster than 2: competing OpenMP threads stall each other.")
    ap.add_argument("--crops-per-image", type=int, default=12, help="Crops cut from each training photo.")
    # unet_128 pads inputs smaller than 128 up to 128, so Pix2Pix trains on 128 crops (not 64:
    # three quarters of each input would be padding, and BatchNorm would learn its statistics)
    ap.add_argument("--p2p-steps", type=int, default=800)
    ap.add_argument("--p2p-source", type=int, default=128, help="Side of the crops cut from the photos.")
    ap.add_argument("--p2p-ngf", type=int, default=16)
    ap.add_argument("--p2p-load", type=int, default=143)
    ap.add_argument("--p2p-crop", type=int, default=128)
    ap.add_argument("--p2p-batch", type=int, default=4)
    ap.add_argument("--cg-steps", type=int, default=1500)
    ap.add_argument("--cg-source", type=int, default=96, help="Side of the crops cut from the photos.")
    ap.add_argument("--cg-ngf", type=int, default=16)
    ap.add_argument("--cg-load", type=int, default=72)
    ap.add_argument("--cg-crop", type=int, default=64)
    ap.add_argument("--cg-batch", type=int, default=1)
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.threads:
        torch.set_num_threads(args.threads)
    task = get_task("sepia")

    # 1. photos, and the held-out images with their ground truth
    train_photos, held_out = split_photos(args.shared.resolve())
    inputs = [eval_image(p) for p in held_out]
    truths = [task(x) for x in inputs]
    work = args.work
    marker = work / ".translate_learning"
    if work.exists() and any(work.iterdir()) and not marker.is_file():
        raise SystemExit(f"{work} is not empty and was not made by this script; choose another --work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    marker.write_text("scratch folder of bench/translate_learning.py; replaced by its next run\n")
    results: dict[str, Any] = {
        "command": "python " + " ".join(shlex.quote(a) for a in [str(Path(sys.argv[0]))] + sys.argv[1:]),
        "task": "sepia (facelab.data.synthetic.sepia), ground truth known for every photo",
        "machine": {"cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": args.device,
                    "torch": torch.__version__, "python": platform.python_version(), "facelab": __version__,
                    "cuda": torch.cuda.is_available()},
        "photos": {"train": len(train_photos), "held_out": len(held_out),
                   "held_out_files": [str(p.relative_to(args.shared.resolve())) for p in held_out],
                   "eval_size": f"{EVAL_SIZE}x{EVAL_SIZE}"},
        "identity_baseline": score(inputs, truths),
        "seed": args.seed,
    }

    # 2-4. one model at a time
    for name in models:
        data = work / f"data_{name}"
        layout = "aligned" if name == "pix2pix" else "unaligned"
        source = args.p2p_source if name == "pix2pix" else args.cg_source
        make_pairs(train_photos, data, "sepia", crops_per_image=args.crops_per_image, size=source,
                   layout=layout, seed=args.seed)
        if name == "pix2pix":
            n_items = len(find_images(data / "train"))
            cfg = pix2pix_config(data, work / f"run_{name}", args, n_items)
            sizes = {"pairs": n_items}
        else:
            n_a, n_b = len(find_images(data / "trainA")), len(find_images(data / "trainB"))
            n_items = max(n_a, n_b)
            cfg = cyclegan_config(data, work / f"run_{name}", args, n_items)
            sizes = {"trainA": n_a, "trainB": n_b}
        init = untrained(cfg, work / f"init_{name}.pt")
        print(f"training {name}: {cfg.max_steps} iterations ...", file=sys.stderr, flush=True)
        trained = timed_train(cfg)
        modes = ["eval", "official"] if cfg.norm == "batch" or cfg.use_dropout else ["eval"]
        r: dict[str, Any] = {
            "arch": f"{cfg.netG} ngf{cfg.ngf}",
            "config": {k: getattr(cfg, k) for k in ("netG", "netD", "ngf", "ndf", "norm", "use_dropout", "gan_mode",
                                                    "batch_size", "load_size", "crop_size", "lr", "n_epochs",
                                                    "n_epochs_decay", "max_steps", "seed")},
            "data": {**sizes, "crop_source": source,
                     "train_image": f"{source} crop -> resize {cfg.load_size} -> random crop {cfg.crop_size}"},
            "train": {k: v for k, v in trained.items() if k != "log"},
            "untrained": {}, "trained": {},
        }
        for mode in modes:
            r["untrained"][mode] = score(translate_all(load_translator(weights=init, inference=mode), inputs,
                                                       args.seed), truths)
            r["trained"][mode] = score(translate_all(load_translator(weights=trained["run"], inference=mode),
                                                     inputs, args.seed), truths)
        if name == "cyclegan":
            r["cycle_losses"] = cycle_drop(trained["log"])
            fwd = translate_all(load_translator(weights=trained["run"], inference="eval"), inputs, args.seed)
            back = load_translator(weights=trained["run"], direction="BtoA", inference="eval")
            r["held_out_cycle_reconstruction"] = score(translate_all(back, fwd, args.seed), inputs)
        results[name] = r
        print(f"{name}: {r['train']}", file=sys.stderr, flush=True)

    # 5. report
    md = table(results)
    print(md)
    if "cyclegan" in results:
        c = results["cyclegan"]["cycle_losses"]
        print(f"\ncycle losses, mean of the first vs the last 10% of {c['logged_rows']} logged rows: "
              + "; ".join(f"{k} {c[k]['first_10pct']:.3f} -> {c[k]['last_10pct']:.3f} ({-c[k]['drop_pct']:+.1f}%)"
                          for k in ("cycle_A", "cycle_B")))
    results["table_markdown"] = md
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
