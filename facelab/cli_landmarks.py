"""CLI commands of the detector (landmarks); see docs/cli.md."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    """Add this module's commands to the CLI (filled in as the commands land)."""
