"""The `facelab` command line: the root group, and the one place that puts the commands together.

Each command maps its options to a config and makes one library call. The command modules of
this package (``translate``, ``swap``, ``faces``, ``fakes``, ``detect``, ``eval``, ``weights``,
``demo``, ``train``, ``fingerprint``) are the only code that prints or draws progress bars; they share
`facelab.cli.ui` and `facelab.cli.options` and never import each other or this module.

Exit codes: 0 success; 1 the job failed (bad input, missing weights, ...); 2 usage error;
3 a batch job finished but some items failed (they are listed in the summary); 130 interrupted.
"""

from __future__ import annotations

import logging

import click

from facelab import __version__
from facelab.cli.demo import demo
from facelab.cli.detect import detect
from facelab.cli.eval import eval_command
from facelab.cli.faces import extract
from facelab.cli.fakes import fakes
from facelab.cli.fingerprint import fingerprint_group
from facelab.cli.provenance import provenance
from facelab.cli.swap import swap
from facelab.cli.train import (
    train_cyclegan,
    train_detector_command,
    train_group,
    train_landmarks,
    train_pix2pix,
    train_swap_command,
)
from facelab.cli.translate import translate
from facelab.cli.ui import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, Globals
from facelab.cli.weights import weights
from facelab.errors import FacelabError

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "FacelabGroup", "cli", "main"]


class FacelabGroup(click.Group):
    """A click group that turns FacelabError into a one-line message (traceback only with -v)."""

    def invoke(self, ctx: click.Context):  # noqa: D102 - click API
        try:
            return super().invoke(ctx)
        except FacelabError as exc:
            g = ctx.find_object(Globals)
            if g is not None and g.verbosity > 0:
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt as exc:  # Ctrl-C, or TrainingInterrupted saying where its checkpoint is
            click.echo(f"interrupted: {exc}" if str(exc) else "interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug or an unforeseen failure: still one line unless -v
            g = ctx.find_object(Globals)
            if g is not None and g.verbosity > 0:
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"error: unexpected {type(exc).__name__}: {first} (run with -v for the traceback)", err=True)
            ctx.exit(EXIT_FAILED)


@click.group(cls=FacelabGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="facelab")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True,
              help="Where to run: CUDA when present (auto), or force one.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="CPU threads for torch (default: one per core). Use 1 when several jobs share the CPU.")
@click.option("-v", "--verbose", count=True, help="More logging; -v also shows tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(ctx: click.Context, device: str, threads: int | None, verbose: int, quiet: bool) -> None:
    """facelab: image-to-image translation, face swapping and deepfake detection.

    \b
    Examples:
      facelab demo                                   # offline tour on the bundled samples
      facelab translate --model horse2zebra horse.jpg -o zebra.jpg
      facelab train cyclegan data/horse2zebra -o runs/h2z
      facelab weights list

    Exit codes: 0 ok, 1 failed, 2 usage error, 3 batch finished with some failed items, 130 interrupted.
    """
    g = Globals(device=device, verbosity=-1 if quiet else verbose)
    ctx.obj = g
    level = logging.WARNING if g.verbosity <= 0 else logging.INFO if g.verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if threads is not None:
        from facelab.device import set_cpu_threads

        set_cpu_threads(threads)


# the command tree (--help lists each group's commands sorted by name)
for command in (translate, swap, extract, fakes, detect, provenance, eval_command, weights, demo, train_group,
                fingerprint_group):
    cli.add_command(command)
for command in (train_pix2pix, train_cyclegan, train_swap_command, train_detector_command, train_landmarks):
    train_group.add_command(command)


def main() -> None:
    """The ``facelab`` console script (and ``python -m facelab``)."""
    cli(prog_name="facelab")
