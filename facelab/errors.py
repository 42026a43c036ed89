"""Exceptions that carry a message a user can act on.

Library code raises these; only `facelab.cli` turns them into a one-line message and an exit code.
"""

from __future__ import annotations

from pathlib import Path


class FacelabError(Exception):
    """Base class: the message is shown to the user as is, on one line."""

    exit_code = 1


class InputError(FacelabError):
    """An input file or folder cannot be read or is not what it claims to be."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class OutputError(FacelabError):
    """An output cannot be written (exists, would overwrite an input, folder not writable)."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class WeightsError(FacelabError):
    """Weights are missing, unknown, corrupt, unsafe or for another architecture."""


class ConfigError(FacelabError):
    """Options that contradict each other or a model that cannot be built as asked."""
