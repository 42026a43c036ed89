"""facelab: image-to-image translation, face swapping and deepfake detection."""

__version__ = "0.1.0"
