"""Regenerate docs/cli.md from the CLI's own --help texts: `python tools/gen_cli_docs.py`.

tests/test_cli.py checks that docs/cli.md is up to date, so the reference never drifts from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

HEADER = """# facelab command reference

Generated from `--help` by `python tools/gen_cli_docs.py`; do not edit by hand.
Global options (`--device`, `-v`, `-q`) go before the command name.

Exit codes: 0 success; 1 the job failed (bad input, missing weights, ...); 2 usage error;
3 a batch job finished but some items failed (listed in the summary); 130 interrupted.
A damaged video that is decoded through (`--on-damage skip`, the default) is a success with a
warning (exit 0; the summary line, sidecar or JSON say what was lost); with `--on-damage fail` it
is a failed item.
"""


def walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            out += walk(cmd.commands[name], path + [name])
    return out


def render() -> str:
    from facelab.cli import cli

    parts = [HEADER]
    for path, cmd in walk(cli, ["facelab"]):
        with click.Context(cmd, info_name=" ".join(path), terminal_width=100, max_content_width=100,
                           help_option_names=["-h", "--help"]) as ctx:
            text = cmd.get_help(ctx)
        level = "#" * min(len(path) + 1, 4)
        parts.append(f"{level} `{' '.join(path)}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def main() -> None:
    target = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    target.write_text(render())
    print(f"wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
