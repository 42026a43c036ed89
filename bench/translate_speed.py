"""Translate benchmark: images/s of `resnet_9blocks` against the official test script's loop.

    python bench/translate_speed.py --quick          # alone; bench/run_all.py runs it with the rest

For each size (256, 512; `--quick`: 128) a folder of JPEG photos (centre crops of `samples/`,
made in a temporary folder) is translated by a randomly initialised CycleGAN `resnet_9blocks`
(ngf 64, InstanceNorm; trained weights cost the same) saved as a facelab checkpoint:

1. **naive**: the official `test.py` loop, one image at a time: `PIL.Image.open().convert("RGB")`,
   `transforms.Resize([s, s], BICUBIC)`, `ToTensor`, `Normalize(0.5, 0.5)`, forward under
   `torch.no_grad()`, `util.tensor2im` (truncating to uint8), `PIL.Image.save` as PNG.
2. **facelab batch N** (N = 1, 4, 8): `facelab.io.image.read_image`, `Translator.translate` on N
   images (`load_translator(weights=...)`, inference "official"), `write_image` PNG with the
   synthetic-media label; stage times (read, translate, write) are kept apart.
3. **facelab run_job**: `facelab.translate.pipeline.run_job` per image, what `facelab translate
   DIR -o OUT` does for photos (one image per forward pass).

Outputs are compared with the naive loop's PNGs: max abs difference in grey levels and the share
of pixels that differ (facelab rounds to the nearest level where `tensor2im` truncates: up to 1).
Then the net alone (no I/O) on random batches: images/s and GFLOP/s (convolution FLOPs counted by
`torch.utils.flop_counter` for one image) against a float32 `torch.mm` peak measured in the same
run, for contiguous (NCHW) and channels_last tensors. With `--device cuda` also AMP (float16),
torch.compile and CUDA graphs (`mode="reduce-overhead"`), all channels_last; on the CPU those
rows are skipped with a note.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from benchlib import best_of, matmul_roof, photos, run_alone, table
from PIL import Image
from torchvision import transforms

from facelab.checkpoint import FORMAT, atomic_save, net_record
from facelab.io.image import read_image, write_image
from facelab.nn.factory import create_generator
from facelab.nn.layers import init_weights
from facelab.translate.infer import Translator, batched, load_translator
from facelab.translate.pipeline import Job, run_job, synthetic_tag

log = logging.getLogger(__name__)
ARCH, ARCH_KW = "resnet_9blocks", {"input_nc": 3, "output_nc": 3, "ngf": 64, "norm": "instance",
                                   "use_dropout": False}


def write_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    net = init_weights(create_generator(ARCH, **ARCH_KW), "normal", 0.02)
    atomic_save({"format": FORMAT, "version": 1, "kind": "cyclegan", "nets": {"G_A": net_record(net, ARCH, ARCH_KW)},
                 "meta": {"note": "random initialisation, for benchmarks"}}, path)
    return path


# ---------------------------------------------------------------------------------------------
# 1. the official test.py loop


def tensor2im(t: torch.Tensor) -> np.ndarray:
    """pytorch-CycleGAN-and-pix2pix `util.tensor2im`: [-1, 1] -> uint8, truncating."""
    a = t[0].cpu().float().numpy()
    return ((np.transpose(a, (1, 2, 0)) + 1) / 2.0 * 255.0).astype(np.uint8)


def naive(net: torch.nn.Module, paths: list[Path], out: Path, size: int, device: torch.device,
          keep: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """The loop; `keep` receives each output before tensor2im, in grey levels (0..255 float)."""
    tf = transforms.Compose([transforms.Resize([size, size], transforms.InterpolationMode.BICUBIC),
                             transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])
    st = dict.fromkeys(("read", "forward", "write"), 0.0)
    pc = time.perf_counter
    for p in paths:
        t = pc()
        x = tf(Image.open(p).convert("RGB")).unsqueeze(0).to(device)
        t1 = pc()
        with torch.no_grad():
            y = net(x)
        im = tensor2im(y)
        t2 = pc()
        if keep is not None:
            keep[p.stem] = ((y[0].cpu().float().numpy().transpose(1, 2, 0) + 1) / 2.0 * 255.0).clip(0, 255)
        Image.fromarray(im).save(out / f"{p.stem}.png")
        t3 = pc()
        st["read"] += t1 - t
        st["forward"] += t2 - t1
        st["write"] += t3 - t2
    return st


# ---------------------------------------------------------------------------------------------
# 2. facelab, N images per forward pass; 3. run_job


def facelab_batched(tr: Translator, paths: list[Path], out: Path, batch: int) -> dict[str, float]:
    st = dict.fromkeys(("read", "forward", "write"), 0.0)
    pc = time.perf_counter
    tag = synthetic_tag(tr)
    for chunk in batched(paths, batch):
        t = pc()
        images = [read_image(p) for p in chunk]
        t1 = pc()
        outs = tr.translate(images)
        t2 = pc()
        for p, o in zip(chunk, outs):
            write_image(out / f"{p.stem}.png", o, overwrite=True, metadata=tag)
        st["read"] += t1 - t
        st["forward"] += t2 - t1
        st["write"] += pc() - t2
    return st


def facelab_run_job(tr: Translator, paths: list[Path], out: Path) -> dict[str, float]:
    for p in paths:
        run_job(tr, Job(p, out / f"{p.stem}.png", "image"), overwrite=True)
    return {}


def compare(a: Path, b: Path, paths: list[Path], exact: dict[str, np.ndarray]) -> dict[str, float]:
    """How far folder `b`'s PNGs are from folder `a`'s (the naive loop's) and from its unrounded outputs.

    max_abs_diff, share_differing: uint8 against uint8 (tensor2im truncates, facelab rounds: up to 1).
    max_abs_diff_float: against the naive net's output before quantisation, in grey levels (0.5
    plus float noise when the two computed the same function).
    """
    worst, worst_f, differ, total = 0, 0.0, 0, 0
    for p in paths:
        x = np.asarray(Image.open(a / f"{p.stem}.png").convert("RGB"), dtype=np.int16)
        y = np.asarray(Image.open(b / f"{p.stem}.png").convert("RGB"), dtype=np.int16)
        d = np.abs(x - y)
        worst, differ, total = max(worst, int(d.max())), differ + int((d > 0).sum()), total + d.size
        worst_f = max(worst_f, float(np.abs(y - exact[p.stem]).max()))
    return {"max_abs_diff": worst, "share_differing": round(differ / max(total, 1), 5),
            "max_abs_diff_float": round(worst_f, 4)}


# ---------------------------------------------------------------------------------------------
# the net alone


def conv_flops(net: torch.nn.Module, size: int, device: torch.device) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, size, size, device=device))
    return int(counter.get_total_flops())


def model_only(net: torch.nn.Module, size: int, batch: int, device: torch.device, variant: str,
               repeat: int) -> float:
    """Seconds per image of the forward pass alone, best of `repeat` passes after a warm-up (3 when compiled)."""
    x = torch.randn(batch, 3, size, size, device=device)
    run = net
    amp = variant == "amp"
    if variant != "contiguous" and (variant == "channels_last" or device.type == "cuda"):  # CUDA: all but NCHW
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if variant.startswith("compile"):
        run = torch.compile(net, mode="reduce-overhead" if variant == "compile+cudagraphs" else None)

    def once() -> None:
        with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16 if device.type == "cpu" else torch.float16,
                                                    enabled=amp):
            run(x)
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(3 if variant.startswith("compile") else 1):
        once()
    dt, _ = best_of(once, repeat)
    net.to(memory_format=torch.contiguous_format)
    return dt / batch


# ---------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    quick = args.quick
    sizes = [128] if quick else [256, 512]
    counts = {128: 4, 256: 16, 512: 8}
    batches = [1, 4] if quick else [1, 4, 8]
    repeat = 1 if quick else args.repeat
    device = torch.device(args.device)
    ckpt = write_checkpoint(work / "resnet9.pt")
    tr = load_translator(weights=ckpt, device=args.device, inference="official")
    # the opt-in `facelab translate --amp` on the CPU: bfloat16 autocast (on CUDA the model-only rows cover AMP)
    tr_bf16 = load_translator(weights=ckpt, device=args.device, inference="official", amp=True) \
        if device.type == "cpu" else None
    naive_net = create_generator(ARCH, **ARCH_KW)
    naive_net.load_state_dict(tr.net.state_dict())
    naive_net = naive_net.to(device)  # train mode, as test.py without --eval (InstanceNorm: the same function)
    peak = matmul_roof([1024, 2048] if device.type == "cpu" else [4096, 8192], 3 if quick else 5, device)
    res: dict[str, Any] = {"arch": ARCH, "arch_kwargs": ARCH_KW, "device": str(device), "matmul_peak": peak,
                           "pipelines": [], "model_only": []}
    for size in sizes:
        paths = photos(size, counts[size], work / f"in{size}")
        n = len(paths)
        flops = conv_flops(tr.net, size, device)
        ref = _fresh(work / f"naive{size}")
        exact: dict[str, np.ndarray] = {}
        naive(naive_net, paths, ref, size, device, keep=exact)  # reference outputs; warm-up (untimed)
        dt, st = best_of(lambda: naive(naive_net, paths, ref, size, device), repeat)
        rows = [{"pipeline": "naive (official test.py loop)", "batch": 1, "seconds": dt, "stages_s": st}]
        for b in batches:
            out = _fresh(work / f"facelab{size}_b{b}")
            dt, st = best_of(lambda: facelab_batched(tr, paths, out, b), repeat)
            rows.append({"pipeline": "facelab Translator.translate", "batch": b, "seconds": dt, "stages_s": st,
                         **compare(ref, out, paths, exact)})
        if tr_bf16 is not None:
            out = _fresh(work / f"facelab{size}_bf16")
            dt, st = best_of(lambda: facelab_batched(tr_bf16, paths, out, 1), repeat)
            rows.append({"pipeline": "facelab Translator.translate --amp (bfloat16)", "batch": 1, "seconds": dt,
                         "stages_s": st, **compare(ref, out, paths, exact)})
        out = _fresh(work / f"facelab{size}_job")
        dt, _ = best_of(lambda: facelab_run_job(tr, paths, out), repeat)
        rows.append({"pipeline": "facelab run_job (CLI path)", "batch": 1, "seconds": dt, "stages_s": {},
                     **compare(ref, out, paths, exact)})
        base = n / rows[0]["seconds"]
        for r in rows:
            r.update(size=size, images=n, images_per_s=n / r["seconds"], ratio_vs_naive=n / r["seconds"] / base,
                     gflops_per_s=flops * n / r["seconds"] / 1e9)
            r["stages_s"] = {k: round(v, 3) for k, v in r["stages_s"].items()}
            r["seconds"] = round(r["seconds"], 3)
            log.info("translate %d %s b%d: %.2f img/s", size, r["pipeline"], r["batch"], r["images_per_s"])
        res["pipelines"] += rows
        variants = ["contiguous", "channels_last", "amp"] + (["compile", "compile+cudagraphs"] if device.type == "cuda"
                                                             else [])
        for b in batches[:1] if quick else batches:
            for v in variants:
                s = model_only(tr.net, size, b, device, v, 1)  # after a warm-up pass; the net alone varies little
                res["model_only"].append({"size": size, "batch": b, "variant": v, "images_per_s": 1 / s,
                                          "gflop_per_image": round(flops / 1e9, 2), "gflops_per_s": flops / s / 1e9,
                                          "share_of_matmul_peak": flops / s / 1e9 / peak["gflops"]})
    if device.type != "cuda":
        res["skipped"] = "torch.compile and CUDA graphs: CUDA-only variants, run with --device cuda (amp is bfloat16 here)"
    res["markdown"] = markdown(res)
    return res


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for f in path.iterdir():
        f.unlink()
    return path


def markdown(res: dict[str, Any]) -> str:
    rows = [[r["size"], r["pipeline"], r["batch"], r["images"], r["images_per_s"], r["ratio_vs_naive"],
             r["gflops_per_s"], r["stages_s"].get("read"), r["stages_s"].get("forward"), r["stages_s"].get("write"),
             r.get("max_abs_diff", "ref"), r.get("share_differing", "ref"), r.get("max_abs_diff_float", "ref")]
            for r in res["pipelines"]]
    out = table(["size", "pipeline", "batch", "images", "images/s", "x naive", "GFLOP/s", "read s", "forward s",
                 "write s", "max abs diff", "share differing", "max abs diff to float"], rows, "rllrrrrrrrrrr")
    mo = [[r["size"], r["batch"], r["variant"], r["images_per_s"], r["gflop_per_image"], r["gflops_per_s"],
           f"{100 * r['share_of_matmul_peak']:.0f} %"] for r in res["model_only"]]
    out += (f"\n\nNet alone (no I/O); matmul peak {res['matmul_peak']['gflops']} GFLOP/s "
            f"(float32 mm, best of n = {', '.join(str(r['n']) for r in res['matmul_peak']['runs'])}, "
            f"{res['matmul_peak']['device']}):\n\n")
    out += table(["size", "batch", "variant", "images/s", "GFLOP/image", "GFLOP/s", "of peak"], mo, "rrlrrrr")
    if res.get("skipped"):
        out += f"\n\nSkipped: {res['skipped']}."
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None)
    run_alone(run, ap.parse_args(), "translate")


if __name__ == "__main__":
    main()
