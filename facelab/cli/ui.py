"""What every command shares for talking to the user: the global options, `echo`, progress bars
and the exit codes.

The CLI is the only place that prints or draws progress bars; the library reports progress
through callbacks, which the helpers here turn into tqdm bars on stderr (silent under --quiet).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "Globals", "damage_suffix",
           "download_bar", "echo", "progress_bar", "train_with_bar"]

# 0 success; 1 the job failed (bad input, missing weights, ...); 2 usage error;
# 3 a batch job finished but some items failed (they are listed in the summary); 130 interrupted.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


@dataclass
class Globals:
    """The root group's options, as ``ctx.obj`` of every command."""

    device: str = "auto"
    verbosity: int = 0  # -1 quiet, 0 normal, 1+ verbose


def damage_suffix(warnings: Sequence[str], *, name_one: bool = True) -> str:
    """How a summary line ends for damaged inputs (facelab.io.decode): the warning itself when
    there is one (and ``name_one``), else how many inputs were damaged (each was listed as it
    finished); '' when none was."""
    if not warnings:
        return ""
    if len(warnings) == 1 and name_one:
        return f"; WARNING: {warnings[0]}"
    return f"; WARNING: {len(warnings)} damaged inputs (listed above)"


def echo(ctx: click.Context, message: str, err: bool = False) -> None:
    """Print unless --quiet."""
    g = ctx.find_object(Globals)
    if g is None or g.verbosity >= 0:
        click.echo(message, err=err)


def progress_bar(ctx: click.Context, disable: bool = False, **kw: Any) -> tqdm:
    """A tqdm bar on stderr, silent under --quiet."""
    g = ctx.find_object(Globals)
    return tqdm(disable=disable or (g is not None and g.verbosity < 0), dynamic_ncols=True, **kw)


def download_bar(ctx: click.Context) -> Callable[[int, int | None], None]:
    """A ``(bytes_done, total)`` callback for downloads; the bar appears at the first call."""
    state: dict[str, tqdm] = {}

    def progress(done: int, total: int | None) -> None:
        if "bar" not in state:
            state["bar"] = progress_bar(ctx, total=total, unit="B", unit_scale=True, desc="download", leave=False)
        bar = state["bar"]
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()

    return progress


def train_with_bar(ctx: click.Context, desc: str, run: Callable[[Callable[[dict[str, Any]], None]], Path],
                   postfix_every: int = 1) -> Path:
    """Call `run(on_step)` while a progress bar shows iterations, it/s and the latest losses."""
    bar: dict[str, tqdm] = {}

    def on_step(info: dict[str, Any]) -> None:
        if "bar" not in bar:
            bar["bar"] = progress_bar(ctx, total=info["total"], initial=info["iteration"] - 1, unit="it", desc=desc)
        bar["bar"].update(1)
        if info["iteration"] % postfix_every == 0:
            bar["bar"].set_postfix({k: f"{v:.3f}" for k, v in info["losses"].items()}, refresh=False)

    try:
        return run(on_step)
    finally:
        if "bar" in bar:
            bar["bar"].close()
