"""The typed values passed between the stages of ``facelab fakes``, and saved by its work folder.

    Source (plan) -> Scan of Sightings per track (scan) -> identities, split -> Method per fake
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from facelab.faces.align import AlignedFace
from facelab.faces.detect import Face
from facelab.swap.oneshot import FaceSource, SwapSettings

__all__ = ["Method", "Scan", "Sighting", "Source", "crop_sightings"]


@dataclass(frozen=True)
class Source:
    path: Path
    kind: Literal["video", "image"]
    key: str


@dataclass(frozen=True)
class Sighting:
    """One face of a track in one sampled frame, as detected (or carried by flow when ``detected`` is False)."""

    frame: int
    face: Face
    detected: bool


@dataclass
class Scan:
    """What pass 1 learnt about one source."""

    source: Source
    fps: float | None = None
    frames: int = 1  # frames in the file
    tracks: dict[int, list[Sighting]] = field(default_factory=dict)
    # (quality, frame, aligned face); the face is None once saved to the work folder (loaded when drawn)
    donors: dict[int, list[tuple[float, int, AlignedFace | None]]] = field(default_factory=dict)
    identity: dict[int, str] = field(default_factory=dict)  # kept tracks only
    window: tuple[int, int] | None = None  # [start, end) frames of the motion clip


def crop_sightings(scan: Scan, tid: int) -> list[Sighting]:
    """The sightings of track ``tid`` where the detector found the face (a crop is cut only there)."""
    return [s for s in scan.tracks.get(tid, []) if s.detected]


@dataclass(frozen=True)
class Method:
    name: str
    source: FaceSource | None  # None: one-shot, the source is drawn per item
    settings: SwapSettings
    donor: str = ""
