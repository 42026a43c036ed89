"""Split a batch command's inputs across machines: ``--shard i/n`` (docs/cluster.md).

    shard = Shard.parse("2/4")                     # the 2nd of 4 shards (1-based, like a job array's ids)
    mine = shard.select(files, key=lambda f: input_key(f, inputs))   # [(position in files, file)]

Every shard lists **all** inputs the same way an unsharded run does, then keeps the items whose
key hashes to it: ``sha256(key) mod n == i - 1``. So the shards together take every item exactly
once, without talking to each other.

Why a hash of the key and not every n-th item: the tasks of a job array start at different
times, and each lists the inputs itself. With every n-th item, one file added to (or removed
from) a folder in between moves every later file to another shard: some files would be done
twice and others never. A file's hash depends on its own key only, so nothing else moves. The
price is balance: shards get ``len / n`` items give or take about ``sqrt(len / n)`` (10,000
files on 10 shards: 1000 +- 30 each), not exactly equal counts.

Why the key is a path relative to the input argument (:func:`input_key`) and not the resolved
path: the nodes of a cluster may mount the same data at different places (``/scratch/$JOB/``);
``videos/a/b.mp4`` is the same everywhere.

The ``--shard I/N`` option of the commands is the CLI's (:mod:`facelab.cli.options`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import TypeVar

__all__ = ["Shard", "input_key"]

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based: ``1/4`` ... ``4/4``)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ValueError(f"{self.index}/{self.count}: shards are numbered 1 to N (1/{max(self.count, 1)} ... "
                             f"{max(self.count, 1)}/{max(self.count, 1)})")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"`` with ``1 <= I <= N``; raises ValueError with a one-line message otherwise."""
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if m is None:
            raise ValueError(f"{text!r} is not I/N (e.g. 2/4: the 2nd of 4 shards, numbered from 1)")
        index, count = int(m.group(1)), int(m.group(2))
        if count < 1:
            raise ValueError(f"{text!r}: the number of shards must be at least 1")
        if not 1 <= index <= count:
            raise ValueError(f"{text!r}: shards are numbered 1 to {count} (1/{count} ... {count}/{count}); "
                             "with a 0-based job array pass $((ID + 1))/N")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, key: str) -> bool:
        """Whether the item with this key falls in this shard."""
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def select(self, items: Sequence[T], key: Callable[[T], str]) -> list[tuple[int, T]]:
        """This shard's items as ``(position in items, item)``, in their order."""
        return [(i, item) for i, item in enumerate(items) if self.owns(key(item))]


def input_key(path: str | PurePath, inputs: Sequence[str | PurePath]) -> str:
    """A file's shard key: its path from the folder argument that holds it, that folder's name
    first (``videos/a/b.mp4`` for ``/data/videos`` given); its name for a file named directly.

    ``/``-separated, so the same on every machine and every OS."""
    p = PurePath(path)
    for raw in inputs:
        root = PurePath(raw)
        if p != root and p.is_relative_to(root):
            return PurePath(root.name or str(root)).joinpath(p.relative_to(root)).as_posix()
    return p.name or p.as_posix()
