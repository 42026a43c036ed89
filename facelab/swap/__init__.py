"""Face swaps: one-shot and learned face sources, the photo/video pipeline.

The package is also ``facelab.swap(...)``, the Python API call (:func:`facelab.swap.api.swap`):
a package and a function cannot share the name ``facelab.swap``, so the package is callable.
Type-checked code can import the function itself: ``from facelab.swap.api import swap``.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    """A module that runs :func:`facelab.swap.api.swap` when called (imported on the first call)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from facelab.swap.api import swap

        return swap(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
