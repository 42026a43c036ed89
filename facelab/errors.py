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


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT / SIGTERM after saving a checkpoint it can resume from.

    A KeyboardInterrupt, so that code which does not know it still treats it as Ctrl-C (and the
    CLI exits with 130); the message says where the checkpoint is and how to continue.
    """

    def __init__(self, checkpoint: str | Path, iteration: int) -> None:
        self.checkpoint = Path(checkpoint)
        self.iteration = iteration
        super().__init__(f"stopped at iteration {iteration}; checkpoint saved to {checkpoint}; "
                         "continue with the same command and --resume")


def as_item_error(path: str | Path, exc: Exception) -> FacelabError:
    """The error of one item of a batch job, as a one-line FacelabError naming the item.

    A FacelabError passes through. Anything else is a bug, but one bad item must not stop a
    batch of thousands: it becomes an InputError for that item, and the traceback goes to the
    log (shown with `-v`).
    """
    if isinstance(exc, FacelabError):
        return exc
    import logging

    logging.getLogger("facelab").info("unexpected error on %s", path, exc_info=exc)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return InputError(path, f"unexpected {type(exc).__name__}{': ' + first if first else ''} "
                            "(a facelab bug; -v shows the traceback)")
