"""Run every facelab benchmark (issue 5) and write JSON plus a Markdown table.

    python bench/run_all.py --out docs/bench_results/                  # the full suite
    python bench/run_all.py --out /tmp/bench --quick --threads 1       # smoke run, under 3 minutes
    python bench/run_all.py --out /tmp/bench --only translate,detect --profile
    python bench/run_all.py --out /tmp/bench --only translate --device cuda   # + AMP, compile, CUDA graphs

Benchmarks (each its own module, runnable alone; every comparison is a ratio of two runs made
in this same process, one after the other):

    translate  bench/translate_speed.py  images/s of resnet_9blocks at 256 and 512, batch 1/4/8,
                                         against the official test.py loop; output differences;
                                         GFLOP/s against a matmul peak measured here
    train      bench/train_speed.py      iterations/s of CycleGAN and pix2pix (256 and a small
                                         CPU config), facelab's trainer against a naive loop
    detect     bench/detect_speed.py     frames/s per stage at 720p and 1080p against MTCNN at
                                         full resolution on every frame + the CNN on every face
    swap       bench/swap_bench.py       one-shot swap frames/s per stage at 720p
    memory     bench/memory.py           peak RSS of detect and swap on a 1080p clip and on one
                                         twice as long, each in a fresh process

Writes `results.json` and `results.md` into `--out` (`results_quick.*` with `--quick`, so a smoke
run never replaces the full results): the machine (CPU, cores, GPU, torch / OpenCV / PyAV /
facelab versions, torch threads, load), the exact command, every measurement, and a summary of
the targets of issue 5. `--quick` uses tiny sizes and few frames: it checks that everything runs,
its numbers mean little. Inputs come from `../shared/data` and `samples/`; derived clips and
images are made in a temporary folder and removed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from benchlib import machine, table

BENCHES = ("translate", "train", "detect", "swap", "memory")
log = logging.getLogger("bench")


def bench_translate(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import translate_speed

    return translate_speed.run(args, work)


def bench_train(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import train_speed

    return train_speed.run(args, work)


def bench_detect(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import detect_speed

    return detect_speed.run(args, work)


def bench_swap(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """bench/swap_bench.py at 1280x720, crowd and one face (its staged loop and `swap_video_file` end to end)."""
    import swap_bench

    argv = ["--only", "1280x720", "--repeat", str(1 if args.quick else args.repeat), "--work", str(work)]
    argv += ["--frames", "6", "--no-per-face"] if args.quick else []
    res = swap_bench.main(argv)
    res.pop("command", None)  # swap_bench's own record of sys.argv: ours is at the top
    res["swap_bench_argv"] = argv
    res["markdown"] = res.pop("table_markdown")
    return res


def bench_memory(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import memory

    return memory.run(args, work)


RUNNERS: dict[str, Callable[[argparse.Namespace, Path], dict[str, Any]]] = {
    "translate": bench_translate, "train": bench_train, "detect": bench_detect, "swap": bench_swap,
    "memory": bench_memory}


# ---------------------------------------------------------------------------------------------
# targets of issue 5


def targets(results: dict[str, Any]) -> list[list[Any]]:
    """[target, measured, met] rows for the benchmarks that ran."""
    rows: list[list[Any]] = []
    tr = results.get("translate", {})
    for size in sorted({r["size"] for r in tr.get("pipelines", [])}):
        rs = [r for r in tr["pipelines"] if r["size"] == size and r["pipeline"] != "naive (official test.py loop)"]
        same = [r for r in rs if "bfloat16" not in r["pipeline"]]
        best = max(same, key=lambda r: r["ratio_vs_naive"])
        rows.append([f"translate {size}px: >= 1.5x the naive loop's images/s, same outputs",
                     f"{best['ratio_vs_naive']:.2f}x (batch {best['batch']}, {best['images_per_s']:.2f} img/s); "
                     f"max abs diff {max(r['max_abs_diff'] for r in same)} grey level(s) "
                     f"({max(r['max_abs_diff_float'] for r in same):.2f} to the unrounded output)",
                     best["ratio_vs_naive"] >= 1.5])
        for r in rs:
            if "bfloat16" in r["pipeline"]:
                rows.append([f"translate {size}px, opt-in --amp (bfloat16): >= 1.5x (outputs differ)",
                             f"{r['ratio_vs_naive']:.2f}x ({r['images_per_s']:.2f} img/s); max abs diff "
                             f"{r['max_abs_diff']} grey levels, {100 * r['share_differing']:.1f} % of values differ",
                             r["ratio_vs_naive"] >= 1.5])
    for r in results.get("detect", {}).get("rows", []):
        if r["size"].startswith("1280x720") and r["pipeline"].startswith("facelab"):
            how = "O-Net between" if "O-Net" in r["pipeline"] else "flow between" if r["detect_every"] > 1 else ""
            rows.append([f"detect {r['size'].replace('1280x720', '720p')}, MTCNN every {r['detect_every']}"
                         f"{' (' + how + ')' if how else ''}, CNN every 5: >= 30 fps and >= 5x naive",
                         f"{r['fps']:.2f} fps, {r['ratio_vs_naive']:.2f}x", r["fps"] >= 30 and r["ratio_vs_naive"] >= 5])
    for r in results.get("swap", {}).get("results", []):
        fps = max(r["staged"]["fps"], r["end_to_end"]["fps"])
        rows.append([f"swap {r['name']} one-shot: >= 10 fps", f"{r['end_to_end']['fps']:.2f} fps end to end "
                     f"({r['staged']['fps']:.2f} staged)", fps >= 10])
    for r in results.get("memory", {}).get("rows", []):
        rows.append([f"memory {r['job']}: peak RSS flat in video length", f"{r['peak_1x_mib']:.0f} -> "
                     f"{r['peak_2x_mib']:.0f} MiB ({r['delta_mib']:+.0f})", r["flat"]])
    return [[t, m, "yes" if ok else "**no**"] for t, m, ok in rows]


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [f"# facelab benchmarks{' (quick smoke run: numbers mean little)' if doc['quick'] else ''}", "",
             f"- date: {doc['date']}", f"- command: `{doc['command']}`",
             f"- machine: {m['cpu']}, {m['usable_cores']} usable cores of {m['cpu_count']}, GPU: {m['gpu'] or 'none'}, "
             f"load average before {m['load_average_1min']}",
             f"- software: torch {m['torch']} ({m['torch_threads']} threads, OMP_WAIT_POLICY={m['omp_wait_policy']}), "
             f"OpenCV {m['opencv']}, PyAV {m['pyav']} (libavcodec {m['libavcodec']}), numpy {m['numpy']}, "
             f"facelab {m['facelab']}, Python {m['python']}", ""]
    for note in doc["notes"]:
        lines.append(f"- note: {note}")
    rows = targets(doc["results"])
    if rows:
        lines += ["", "## Targets", "", table(["target", "measured", "met"], rows, "lll")]
    for name in BENCHES:
        if name in doc["results"]:
            r = doc["results"][name]
            lines += ["", f"## {name} ({r['seconds']:.0f} s)", "", r["markdown"]]
        elif name in doc["errors"]:
            lines += ["", f"## {name}: FAILED", "", "```", doc["errors"][name].rstrip(), "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--out", type=Path, required=True, help="Folder for results.json and results.md.")
    ap.add_argument("--only", default=",".join(BENCHES), help=f"Comma-separated subset of {','.join(BENCHES)}.")
    ap.add_argument("--quick", action="store_true", help="Tiny sizes and frame counts: a smoke run (< 3 min).")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads (default: torch's choice, one per core); memory children too.")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="translate's device; cuda adds AMP, torch.compile and CUDA graphs variants.")
    ap.add_argument("--repeat", type=int, default=2, help="Runs per measurement, fastest kept (quick: 1).")
    ap.add_argument("--frames", type=int, default=None, help="detect: cut the clips to N frames (default all).")
    ap.add_argument("--profile", action="store_true", help="detect: cProfile top 10 of the 720p run.")
    args = ap.parse_args(argv)
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = sorted(set(only) - set(BENCHES))
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    notes = []
    if args.device == "cuda" and not torch.cuda.is_available():
        notes.append("--device cuda asked for but CUDA is absent: translate ran on the CPU and its CUDA-only "
                     "variants (AMP, channels_last on the GPU, torch.compile, CUDA graphs) were skipped")
        args.device = "cpu"
    if args.device == "cuda":
        notes.append("only translate uses the GPU; train, detect, swap and memory measure the CPU pipelines")
    env = "".join(f"{k}={shlex.quote(os.environ[k])} " for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")
                  if k in os.environ)
    raw = sys.argv[1:] if argv is None else argv
    doc: dict[str, Any] = {
        "command": env + "python " + " ".join(shlex.quote(a) for a in ["bench/run_all.py", *raw]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "quick": args.quick,
        "machine": machine(), "notes": notes, "results": {}, "errors": {}}
    for name in BENCHES:
        if name not in only:
            continue
        log.info("--- %s", name)
        t0 = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix=f"facelab-bench-{name}-") as tmp:
                res = RUNNERS[name](args, Path(tmp))
        except Exception:  # one broken benchmark must not lose the others' numbers
            doc["errors"][name] = traceback.format_exc()
            log.error("%s failed:\n%s", name, doc["errors"][name])
            continue
        res["seconds"] = round(time.perf_counter() - t0, 1)
        doc["results"][name] = res
        log.info("%s done in %.0f s", name, res["seconds"])
    doc["targets"] = targets(doc["results"])
    md = markdown(doc)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "results_quick" if args.quick else "results"
    (args.out / f"{stem}.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    (args.out / f"{stem}.md").write_text(md)
    print(md)
    print(f"wrote {args.out / (stem + '.json')} and {args.out / (stem + '.md')}", file=sys.stderr)
    return 1 if doc["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
