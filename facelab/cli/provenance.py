"""CLI command `provenance`: what files declare about themselves (C2PA manifest, facelab's metadata label)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from facelab.cli.ui import EXIT_FAILED, EXIT_PARTIAL, echo

EXAMPLES = """
\b
Examples:
  facelab provenance swapped.jpg
  facelab provenance out/*.mp4 --json > provenance.json

\b
For each file: whether it carries a C2PA manifest (Content Credentials), its validation state
(valid: signature and content hashes check out; trusted: valid and the signer is on a trust
list; invalid: changed after signing or forged), the signer, the manifest's actions with their
digital source type, and facelab's unsigned "synthetic media" label. A file without any of
them proves nothing: metadata is easily stripped (docs/security.md). Exit code 0 when every
file was read, 3 when some could not be, 1 when none could.
"""


@click.command("provenance", epilog=EXAMPLES)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="FILE...")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one record per file) instead of text.")
@click.pass_context
def provenance(ctx: click.Context, files: tuple[Path, ...], as_json: bool) -> None:
    """Show what photos and videos declare about their origin (C2PA manifest, signer, actions, validation)."""
    from facelab.credentials import read_credentials

    records, failed = [], 0
    for path in files:
        if not path.is_file():
            click.echo(f"error: {path}: no such file", err=True)
            failed += 1
            continue
        creds = read_credentials(path)
        if as_json:
            records.append({"path": str(path), **creds.to_json(), "manifest": creds.manifest})
            continue
        click.echo(f"{path}: {creds.summary()}")
        if creds.manifest is not None:
            click.echo(f"  manifest: {creds.manifest.get('label')} by {creds.claim_generator or 'unknown software'}")
            click.echo(f"  signer: {creds.signer or 'unnamed'}" + (f", issued by {creds.issuer}" if creds.issuer else "")
                       + f"; validation: {creds.c2pa}"
                       + (f" ({', '.join(creds.failures)})" if creds.failures else ""))
            for a in creds.actions:
                model = ((a.get("parameters") or {}).get("org.facelab.model") or {})
                extra = [str(a.get("description") or ""), str(a.get("digitalSourceType") or "").rsplit("/", 1)[-1],
                         f"model {model.get('name')}" if model.get("name") else "",
                         f"sha256 {model.get('sha256')}" if model.get("sha256") else ""]
                click.echo(f"  action: {a.get('action')}" + "".join(f"; {x}" for x in extra if x))
        for earlier in creds.history:
            kinds = [a.get("action", "?") + (f" ({str(a['digitalSourceType']).rsplit('/', 1)[-1]})"
                                             if a.get("digitalSourceType") else "") for a in earlier["actions"]]
            click.echo(f"  earlier manifest: {earlier.get('title')} signed by {earlier.get('signer') or 'unnamed'}: "
                       + (", ".join(kinds) or "no actions"))
        if creds.label is not None:
            click.echo(f"  label (unsigned metadata): {creds.label}")
    if as_json:
        click.echo(json.dumps(records, indent=1, ensure_ascii=False))
    if failed:
        echo(ctx, f"{failed} of {len(files)} files could not be read", err=True)
        raise click.exceptions.Exit(EXIT_FAILED if failed == len(files) else EXIT_PARTIAL)
