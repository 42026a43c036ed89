"""`facelab weights`: list, locate, download and verify pretrained generators.

Thin wrappers over `facelab.hub`; this module prints and draws the download bar, the hub never does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from tqdm import tqdm

from facelab import hub
from facelab.cli.ui import EXIT_FAILED, EXIT_PARTIAL, Globals, echo
from facelab.errors import FacelabError, WeightsError

_WHERE = {"project": "weights/", "cache": "$FACELAB_HOME"}


def _quiet(ctx: click.Context) -> bool:
    g = ctx.find_object(Globals)
    return g is not None and g.verbosity < 0


def _arch_label(entry: hub.WeightsEntry) -> str:
    a = entry.arch
    if "classifier" in a:
        return str(a["classifier"])
    label = f"{a['netG']}/{a['norm']}"
    return label + "+dropout" if a.get("use_dropout") else label


@contextmanager
def _progress_bar(name: str, disable: bool) -> Iterator[Callable[[int, int | None], None]]:
    """A tqdm bar in bytes, fed by the hub's `(bytes_done, total)` callback.

    The bar is created on the first callback, so nothing is drawn when no download happens.
    """
    bars: list[tqdm] = []

    def update(done: int, total: int | None) -> None:
        if not bars:
            bars.append(tqdm(desc=name, total=total, unit="B", unit_scale=True, unit_divisor=1024,
                             disable=disable, dynamic_ncols=True))
        bar = bars[0]
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()


@click.group("weights", context_settings={"help_option_names": ["-h", "--help"]})
def weights() -> None:
    """Pretrained CycleGAN / pix2pix generators: list, locate, download, verify.

    Files are looked for in this order: --weights FILE, the repository's weights/ folder,
    $FACELAB_HOME/checkpoints/ (default ~/.cache/facelab/checkpoints/), then downloaded there.
    FACELAB_OFFLINE=1 forbids downloads; FACELAB_MIRROR=URL replaces the official server.

    \b
    Examples:
      facelab weights list --family cyclegan
      facelab weights fetch horse2zebra
      facelab weights path horse2zebra
      facelab weights verify
    """


@weights.command("list")
@click.option("--family", type=click.Choice(["cyclegan", "pix2pix", "detector"]), default=None,
              help="Only this model family.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (one JSON array).")
def list_cmd(family: str | None, as_json: bool) -> None:
    """Show every registered model, its generator and whether a local copy exists.

    Checks only that files exist (no hashing, no network).

    \b
    Examples:
      facelab weights list
      facelab weights list --family pix2pix
      facelab weights list --json | python -m json.tool
    """
    rows = hub.list_status(family)
    if as_json:
        click.echo(json.dumps([
            {"name": s.entry.name, "family": s.entry.family, "url": s.entry.url, "source_url": hub.source_url(s.entry),
             "filename": s.entry.filename, "arch": s.entry.arch, "default_size": s.entry.default_size,
             "licence": s.entry.licence, "description": s.entry.description, "sha256": s.entry.sha256,
             "present": s.path is not None, "where": s.where, "path": str(s.path) if s.path else None,
             "hash_recorded": s.hash_recorded}
            for s in rows
        ], indent=2))
        return
    table = [("name", "family", "generator", "size", "local copy", "licence")]
    for s in rows:
        e = s.entry
        local = f"present ({_WHERE[s.where]})" if s.where else "missing"
        table.append((e.name, e.family, _arch_label(e), str(e.default_size or "any"), local, e.licence))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    for r in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    n_present = sum(s.path is not None for s in rows)
    click.echo(f"\n{n_present} of {len(rows)} present; cache: {hub.cache_dir()}")
    click.echo("The official server publishes no hashes: facelab records a sha256 on first download "
               "and verifies it on every later use.")


@weights.command("path")
@click.argument("name")
@click.option("--weights", "weights_file", type=click.Path(dir_okay=False), default=None,
              help="An explicit checkpoint file; checked and printed as is.")
def path_cmd(name: str, weights_file: str | None) -> None:
    """Print the local file NAME resolves to; never downloads.

    Exits 1 with a one-line message saying where to put the file when it is missing.

    \b
    Examples:
      facelab weights path horse2zebra
      facelab weights path pix2pix_edges2shoes --weights ~/Downloads/edges2shoes.pth
      python my_script.py --ckpt "$(facelab weights path style_monet)"
    """
    click.echo(str(hub.local_path(name, weights_file)))


@weights.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--all", "fetch_all", is_flag=True, help="Every registered model (about 23 files, ~2 GB).")
@click.option("--force", is_flag=True, help="Download again even when a local copy exists; records a new sha256.")
@click.pass_context
def fetch_cmd(ctx: click.Context, names: tuple[str, ...], fetch_all: bool, force: bool) -> None:
    """Download NAME... into $FACELAB_HOME/checkpoints/ and record their sha256.

    Models already present are verified and kept. Fails when FACELAB_OFFLINE is set and a file is
    missing. With several models, a failure does not stop the others (exit 3 if some failed).

    \b
    Examples:
      facelab weights fetch horse2zebra
      facelab weights fetch style_monet style_vangogh pix2pix_edges2shoes
      facelab weights fetch --all
      FACELAB_MIRROR=https://mirror.example.org/ facelab weights fetch horse2zebra --force
    """
    if fetch_all and names:
        ctx.fail("give model names or --all, not both")
    if not fetch_all and not names:
        ctx.fail("give at least one model name (see `facelab weights list`), or --all")
    targets = list(hub.REGISTRY) if fetch_all else list(dict.fromkeys(names))
    entries = [hub.get_entry(n) for n in targets]  # unknown names fail before any download
    if len(entries) > 1 and hub.is_offline():
        missing = [e.name for e in entries if force or hub.locate(e.name, check=False) is None]
        if missing:
            raise WeightsError(f"{len(missing)} model(s) missing and FACELAB_OFFLINE is set ({', '.join(missing)}); "
                               f"unset it, or save the files as <name>.pth in {hub.cache_dir()}")
    if len(entries) == 1:
        with _progress_bar(entries[0].name, _quiet(ctx)) as progress:
            path = hub.fetch(entries[0].name, force=force, progress=progress)
        echo(ctx, f"{entries[0].name}: {path}")
        return
    failed: list[str] = []
    for e in entries:
        try:
            with _progress_bar(e.name, _quiet(ctx)) as progress:
                path = hub.fetch(e.name, force=force, progress=progress)
            echo(ctx, f"{e.name}: {path}")
        except FacelabError as exc:
            click.echo(f"error: {exc}", err=True)
            failed.append(e.name)
    if failed:
        click.echo(f"{len(failed)} of {len(entries)} failed: {', '.join(failed)}", err=True)
        ctx.exit(EXIT_FAILED if len(failed) == len(entries) else EXIT_PARTIAL)


@weights.command("verify")
@click.argument("names", nargs=-1)
@click.pass_context
def verify_cmd(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Recompute the sha256 of local weights and compare it with the recorded one.

    Without NAME, checks every model that has a local copy. Prints ok, MISMATCH or
    "no recorded hash" per file; exits 1 on any mismatch, or when a named model is missing.

    \b
    Examples:
      facelab weights verify
      facelab weights verify horse2zebra zebra2horse
    """
    if names:
        targets = [hub.get_entry(n).name for n in dict.fromkeys(names)]
    else:
        targets = [s.entry.name for s in hub.list_status() if s.path is not None]
        if not targets:
            echo(ctx, f"no weights found locally (looked in {hub.cache_dir()} and the repository's weights/)")
            return
    bad = 0
    width = max(len(n) for n in targets)
    for name in targets:
        if hub.locate(name, check=False) is None:
            click.echo(f"{name.ljust(width)}  {'missing'.ljust(16)}  not found locally; run `facelab weights fetch {name}`")
            bad += 1
            continue
        try:
            ok, message = hub.verify(name)
        except WeightsError as exc:
            click.echo(f"{name.ljust(width)}  {'error'.ljust(16)}  {exc}")
            bad += 1
            continue
        label = {True: "ok", False: "MISMATCH", None: "no recorded hash"}[ok]
        click.echo(f"{name.ljust(width)}  {label.ljust(16)}  {message}")
        bad += ok is False
    if bad:
        click.echo(f"{bad} file(s) failed verification", err=True)
        ctx.exit(EXIT_FAILED)
