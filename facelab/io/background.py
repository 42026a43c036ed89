"""Decode ahead and encode behind: video I/O in a background thread with a bounded queue.

    for index, frame in prefetch(reader.frames_with_index(), depth=4):
        ...                                   # decoding of the next frames overlaps this work

    with BackgroundWriter(VideoWriter("out.mp4", fps, size)) as writer:
        writer.write(frame)                   # returns at once; encoding overlaps the next frame

Why threads: FFmpeg's decoder and encoder, the RGB<->YUV conversion and PyTorch's kernels all
release the GIL, so a second thread keeps an otherwise idle core busy (or FFmpeg's own threads
fed) while the main thread runs detection, blending or a network. The queues hold at most
``depth`` frames, so memory stays bounded (a 1080p frame is 6 MiB) whatever the speed of either
side.

Errors travel to the caller: an exception in the producer is raised by the consumer's next
``next()``; an exception in the writer's thread is raised by the next :meth:`BackgroundWriter.write`
or by :meth:`BackgroundWriter.close`. Stopping early (``break``, an exception, ``close()`` on the
generator) stops the producer and closes its iterator in its own thread, so files are closed.

Frames handed to :meth:`BackgroundWriter.write` must not be changed afterwards: the thread
encodes them later.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

import numpy as np

__all__ = ["BackgroundWriter", "prefetch"]

T = TypeVar("T")

_END = object()


class _Raised:
    """An exception from the other thread, to be raised in the consumer's."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put unless told to stop; False when stopped (the consumer is gone)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def prefetch(items: Iterable[T], depth: int = 4, *, name: str = "facelab-prefetch") -> Iterator[T]:
    """Iterate ``items`` in a background thread, up to ``depth`` items ahead of the caller.

    Args:
        items: any iterable; it is iterated (and, if it is a generator, closed) in the thread.
        depth: the most items produced but not yet consumed (at least 1).

    Yields:
        The items, in order.

    Raises:
        Whatever iterating ``items`` raised, at the point the caller reaches it.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        it = iter(items)
        try:
            for item in it:
                if not _put(q, item, stop):
                    return
            _put(q, _END, stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            _put(q, _Raised(exc), stop)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # a generator's finally blocks (closing the file) run here, in its thread

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


class BackgroundWriter(Generic[T]):
    """Wrap a writer (``write(frame[, time])``, ``close()``, ``abort()``) so frames are written in a thread.

    Args:
        writer: e.g. a :class:`~facelab.io.video.VideoWriter`.
        depth: the most frames waiting to be written; :meth:`write` blocks while the queue is full.

    As a context manager it closes the writer when the block ends normally and aborts it (no
    output file) on an exception, like :class:`~facelab.io.video.VideoWriter` itself.
    """

    def __init__(self, writer: T, depth: int = 4, *, name: str = "facelab-writer") -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.writer = writer
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._finished = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _END:
                return
            if self._error is not None or self._stop.is_set():
                continue  # drain: after an error (raised by the caller's next call) or an abort
            frame, time = item
            try:
                if time is None:
                    self.writer.write(frame)  # type: ignore[attr-defined]
                else:
                    self.writer.write(frame, time)  # type: ignore[attr-defined]
            except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            exc, self._error = self._error, None
            self._shutdown()
            self.writer.abort()  # type: ignore[attr-defined]
            raise exc

    def _shutdown(self) -> None:
        if not self._finished:
            self._finished = True
            self._q.put(_END)
            self._thread.join()

    def write(self, frame: np.ndarray, time: float | None = None) -> None:
        """Queue one frame, with its time when given (blocks while ``depth`` frames are waiting)."""
        if self._finished:
            raise RuntimeError("the writer is closed")
        self._raise()
        self._q.put((frame, time))

    def close(self) -> None:
        """Write what is queued, then close the writer; raises the thread's error if there was one."""
        if self._finished:
            return
        self._shutdown()
        self._raise()
        self.writer.close()  # type: ignore[attr-defined]

    def abort(self) -> None:
        """Drop what is queued and abort the writer (no output)."""
        self._stop.set()
        self._shutdown()
        self._error = None
        self.writer.abort()  # type: ignore[attr-defined]

    def __enter__(self) -> BackgroundWriter[T]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
