"""Settings and outcome of ``facelab fakes`` (:func:`facelab.detector.fakes.build.build_fakes`).

:class:`FakesConfig` is saved in ``dataset.json`` (``settings``); :class:`FakesSummary` is what a
run made. The method is in the package docstring (:mod:`facelab.detector.fakes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from facelab.errors import ConfigError
from facelab.swap.oneshot import SwapSettings

__all__ = ["FORMAT", "METHODS", "SWAP", "FakesConfig", "FakesSummary", "Progress"]

FORMAT = "facelab.fakes/1"
METHODS = ("oneshot", "learned", "translate")
SWAP = SwapSettings()  # one-shot and translate geometry: 256 px, margin 0.2

Progress = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class FakesConfig:
    """Settings of :func:`build_fakes` (saved in ``dataset.json``; the package docstring has the method).

    Attributes:
        every: sample video frames ``0, every, 2 * every, ...`` for crops.
        max_frames: at most this many sampled frames per track (evenly spread).
        methods: manipulations to run; None: ``oneshot``, plus ``learned`` with ``swap_model`` and
            ``translate`` with ``translator``.
        swap_model: run folder or checkpoint of ``facelab train swap`` (method ``learned``).
        translator: translator checkpoint or run folder (method ``translate``).
        val_fraction: share of identities in the validation split.
        identity: ``track`` (one per source and face track) or ``folder`` (the parent folder).
        motion_frames: consecutive frames per video for the motion sequences; 0 skips them.
        seed: seeds the split, donors and quality settings.
        min_size: ignore faces narrower than this many pixels.
        min_track: detections on sampled frames a video track needs to count.
        donors: one-shot source faces kept per identity.
        jpeg_share: probability that a frame (real or fake) is re-encoded as JPEG.
        jpeg_quality: JPEG quality range, inclusive.
        feather: mask feather range, as a fraction of the swap crop.
        device: ``auto``, ``cpu`` or ``cuda`` for the detector and the models.
    """

    every: int = 10
    max_frames: int = 16
    methods: tuple[str, ...] | None = None
    swap_model: str | None = None
    translator: str | None = None
    val_fraction: float = 0.2
    identity: Literal["track", "folder"] = "track"
    motion_frames: int = 90
    seed: int = 0
    min_size: float = 40.0
    min_track: int = 3
    donors: int = 3
    jpeg_share: float = 0.5
    jpeg_quality: tuple[int, int] = (40, 95)
    feather: tuple[float, float] = (0.02, 0.10)
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.every < 1 or self.max_frames < 1 or self.min_track < 1 or self.donors < 1:
            raise ConfigError("--every, --max-frames, min_track and donors must be at least 1")
        if self.seed < 0:
            raise ConfigError(f"--seed must be 0 or more, got {self.seed}")
        if self.motion_frames < 0:
            raise ConfigError(f"--motion-frames must be 0 (off) or more, got {self.motion_frames}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"--val-fraction must be between 0 and 1 (exclusive), got {self.val_fraction}")
        if self.identity not in ("track", "folder"):
            raise ConfigError(f"--identity must be track or folder, got {self.identity!r}")
        unknown = [m for m in (self.methods or ()) if m not in METHODS]
        if unknown or (self.methods is not None and not self.methods):
            raise ConfigError(f"unknown method {', '.join(unknown) or '(none)'}; choose from {', '.join(METHODS)}")
        if self.methods is not None and "learned" in self.methods and not self.swap_model:
            raise ConfigError("method learned needs --swap-model RUN (a `facelab train swap` run)")
        if self.methods is not None and "translate" in self.methods and not self.translator:
            raise ConfigError("method translate needs --translator CKPT")
        lo, hi = self.jpeg_quality
        if not 1 <= lo <= hi <= 100 or not 0.0 <= self.jpeg_share <= 1.0:
            raise ConfigError("jpeg_quality must be 1 <= lo <= hi <= 100 and jpeg_share in [0, 1]")
        if not 0.0 <= self.feather[0] <= self.feather[1] <= 0.3:
            raise ConfigError("feather must be a range inside [0, 0.3]")

    @property
    def active_methods(self) -> tuple[str, ...]:
        """The methods that run: ``methods``, or the default set for the models given."""
        if self.methods is not None:
            return tuple(m for m in METHODS if m in self.methods)
        return ("oneshot",) + (("learned",) if self.swap_model else ()) + (("translate",) if self.translator else ())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["methods"] = list(self.active_methods)
        return d


@dataclass
class FakesSummary:
    """The outcome of :func:`build_fakes`.

    Attributes:
        out: the data set folder.
        counts: crops per ``[split][label][method]`` (label ``real`` has method ``real``).
        motion: motion sequences per ``[split][label][method]``.
        identities: identity -> split.
        failures: sources that could not be read, with the reason.
        faceless: sources read fine but without a usable face (none, too small, or too short a track).
        skipped: items left out, per reason (e.g. a fake MTCNN did not find again).
        warnings: things a user should know (e.g. a split without one-shot fakes).
        seconds: wall time.
    """

    out: Path
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    motion: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    faceless: list[Path] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def total(self, label: str | None = None, split: str | None = None) -> int:
        """Crops, optionally of one label and / or split."""
        return sum(n for s, labels in self.counts.items() if split in (None, s)
                   for lab, methods in labels.items() if label in (None, lab) for n in methods.values())

    @property
    def motion_total(self) -> int:
        return sum(n for labels in self.motion.values() for methods in labels.values() for n in methods.values())
