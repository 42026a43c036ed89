"""Stop training cleanly on SIGINT / SIGTERM: a flag the loop checks between steps.

A signal never interrupts a training step half-way: the handler only records the request, and the
loop saves a checkpoint after the step it is in and stops (then raises
:class:`~facelab.errors.TrainingInterrupted`). Both trainers (``facelab.translate.trainer`` and
``facelab.detector.train``) use it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["StopOnSignal"]


class StopOnSignal:
    """Turn SIGINT and SIGTERM into ``requested = True`` until :meth:`restore`.

    Handlers can only be set from the main thread; elsewhere nothing is installed (and
    ``requested`` stays False). A forked DataLoader worker inherits the handler but ignores the
    signal: the process that installed it decides (Ctrl-C in a terminal reaches the workers too).
    """

    def __init__(self, what: str) -> None:
        self.what = what  # logged: what happens next, e.g. "saving last.pt and stopping after this step"
        self.requested = False
        self._pid = os.getpid()
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if os.getpid() != self._pid:
            return
        self.requested = True
        log.warning("signal %d: %s", signum, self.what)

    def install(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old = {}
