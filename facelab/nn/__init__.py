"""Networks: generators, discriminators, the face-swap autoencoder, and the registry that builds them by name.

Importing any part of ``facelab.nn`` imports the modules below, and each registers its nets with
:mod:`facelab.nn.factory` as it loads (as timm's models do): ``create_generator(name)`` and
``list_models()`` then know every model, whatever the caller imported first.
"""

from facelab.nn import autoencoder, factory  # noqa: F401  (register their models)
