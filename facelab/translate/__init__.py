"""Pix2Pix, CycleGAN and the autoencoder's training, the one training loop, inference.

The package is also ``facelab.translate(...)``, the Python API call
(:func:`facelab.translate.api.translate`): a package and a function cannot share the name
``facelab.translate``, so the package is callable. Type-checked code can import the function
itself: ``from facelab.translate.api import translate``.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    """A module that runs :func:`facelab.translate.api.translate` when called (imported on the first call)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from facelab.translate.api import translate

        return translate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
