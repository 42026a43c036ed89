"""`facelab demo`: run the main job on the bundled samples, offline."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from facelab.cli.ui import Globals, echo


@click.command("demo", epilog="""
\b
Examples:
  facelab demo                      # writes ./facelab-demo/
  facelab demo -o /tmp/demo --steps 600
""")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("facelab-demo"), show_default=True,
              help="Folder to write the demo's outputs into.")
@click.option("--samples", type=click.Path(path_type=Path), default=None,
              help="Folder with the bundled samples (default: the checkout's samples/).")
@click.option("--steps", type=click.IntRange(10), default=300, show_default=True,
              help="Training iterations of the demo's Pix2Pix.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing folder (an earlier demo's own folder is always replaced).")
@click.pass_context
def demo(ctx: click.Context, out: Path, samples: Path | None, steps: int, overwrite: bool) -> None:
    """Train a small Pix2Pix on the sample photos (photo -> sepia) and translate a held-out photo
    and the sample video with it; then swap one sample face into the other photo and the video,
    and run the deepfake detector on the originals and the fakes (detect_report.html).
    Offline; a few minutes on 2 CPU cores."""
    from facelab.demo import run_demo

    g: Globals = ctx.obj
    quiet = g.verbosity < 0
    bars: dict[str, tqdm] = {}

    def on_step(info: dict[str, Any]) -> None:
        if "train" not in bars:
            bars["train"] = tqdm(total=info["total"], unit="it", desc="1/4 train pix2pix", disable=quiet)
        bars["train"].update(1)
        bars["train"].set_postfix({k: f"{v:.3f}" for k, v in info["losses"].items()}, refresh=False)

    def on_frames(done: int, total: int | None) -> None:
        if "video" not in bars:
            bars["video"] = tqdm(total=total, unit="frame", desc="2/4 translate video", disable=quiet)
        bars["video"].update(done - bars["video"].n)

    def on_swap_frames(done: int, total: int | None) -> None:
        if "swap" not in bars:
            bars["swap"] = tqdm(total=total, unit="frame", desc="3/4 swap face in video", disable=quiet)
        bars["swap"].update(done - bars["swap"].n)

    def on_detect_frames(done: int, total: int) -> None:
        if "detect" not in bars:
            bars["detect"] = tqdm(unit="frame", desc="4/4 detect", disable=quiet)
        bars["detect"].update(1)

    t0 = time.perf_counter()
    try:
        summary = run_demo(out, samples=samples, steps=steps, device=g.device, on_step=on_step,
                           on_frames=on_frames, on_swap_frames=on_swap_frames,
                           on_detect_frames=on_detect_frames, overwrite=overwrite)
    finally:
        for b in bars.values():
            b.close()
    echo(ctx, f"demo finished in {time.perf_counter() - t0:.0f}s; outputs in {out}/:")
    for name in summary["outputs"]:
        echo(ctx, f"  {name}")
    echo(ctx, "PSNR against the sepia ground truth of the held-out photo: "
              + json.dumps(summary["psnr_db"]))
    echo(ctx, f"training run (checkpoints, loss log, sample grids in index.html): {summary['run']}")
    sw = summary["swap"]
    echo(ctx, f"face swap: {sw['photo_faces']} face(s) in astronaut_swapped.jpg, {sw['video_frames_changed']} of "
              f"{sw['video_frames']} video frames in astronaut_pan_swapped.mp4 (JSON sidecars beside them)")
    for d in summary["detect"]:
        p = "n/a" if d["fake_probability"] is None else f"{d['fake_probability']:.2f}"
        echo(ctx, f"detect {d['file']}: {d['verdict']} (fake probability {p})" + (f" error: {d['error']}" if d["error"] else ""))
    cnn = next((d["cnn_weights"] for d in summary["detect"] if d.get("cnn_weights")), None)
    if cnn is not None:
        echo(ctx, f"detect: the shipped CNN ({cnn}, model card in docs/detect.md) and the "
                  "landmark-motion check; report in detect_report.html")
    else:
        echo(ctx, "detect: landmark-motion check only (the shipped CNN is in the repository's weights/ folder, "
                  "not in this install); report in detect_report.html")
