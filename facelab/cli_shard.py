"""The ``--shard I/N`` option of the batch commands (the library side is :mod:`facelab.shard`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from facelab.shard import Shard

__all__ = ["SHARD_HELP", "ShardType", "shard_option"]

SHARD_HELP = ("Process only shard I of N (1-based, e.g. 2/4) of the inputs, picked by a hash of each "
              "input's path, so N machines split one batch; docs/cluster.md has the recipe.")


class ShardType(click.ParamType):
    """``--shard I/N`` as a :class:`Shard`; a bad value is a one-line usage error (exit 2)."""

    name = "I/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Shard:
        if isinstance(value, Shard):
            return value
        try:
            return Shard.parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def shard_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--shard I/N`` click option (parameter ``shard``: a :class:`Shard` or None)."""
    return click.option("--shard", type=ShardType(), default=None, metavar="I/N", help=SHARD_HELP)(fn)

