"""The `facelab` command line (docs/cli.md).

``facelab.cli.cli`` is the root click group with every command added (tests run it with
``click.testing.CliRunner``); ``facelab.cli.main`` is the console script. `app` builds the command
tree; the command modules share `ui` and `options` and never import each other.
"""

from facelab.cli.app import cli, main

__all__ = ["cli", "main"]
