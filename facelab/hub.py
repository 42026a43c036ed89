"""Pretrained weights: the registry, where files are looked for, downloads and sha256 checks.

The registry lists the official pretrained generators of junyanz/pytorch-CycleGAN-and-pix2pix
(the 18 of `scripts/download_cyclegan_model.sh` and the 5 of `scripts/download_pix2pix_model.sh`).
Names are unique: CycleGAN models keep their plain name (`horse2zebra`, `sat2map`), pix2pix ones
get a `pix2pix_` prefix (`pix2pix_sat2map`). Every file is stored locally as `<name>.pth`.

Resolution order (`resolve`):
  1. an explicit `weights` file, when given;
  2. `<repository>/weights/<name>.pth` (the project folder, when facelab runs from a checkout);
  3. `$FACELAB_HOME/checkpoints/<name>.pth` (default `~/.cache/facelab/checkpoints/`);
  4. a download from the official server (or `$FACELAB_MIRROR`) into folder 3, unless offline.

Integrity: the official server publishes no hashes, so the first download records the file's
sha256 in a sidecar `<name>.pth.sha256` (trust on first use) and every later use recomputes and
compares it. A file placed by hand without a sidecar is used as is. An entry with a known
`sha256` has it enforced on download and on use.

Environment:
  FACELAB_HOME     cache root (default `~/.cache/facelab`).
  FACELAB_OFFLINE  `1` never touches the network; a missing file is an error that says where to put it.
  FACELAB_MIRROR   base URL that replaces `http://efrosgans.eecs.berkeley.edu/` (the rest of the
                   path is kept); http, https or file URLs.

This module never prints; progress is reported through an optional callback
`progress(bytes_done, total_or_None)` so that the CLI can draw a bar.
"""

from __future__ import annotations

import difflib
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from facelab import __version__
from facelab.errors import InputError, WeightsError

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int | None], None]

OFFICIAL_BASE = "http://efrosgans.eecs.berkeley.edu/"
TIMEOUT_S = 30.0  # per socket operation (connect, each read), not for the whole download
_CHUNK = 1 << 20
_SIDECAR_SUFFIX = ".sha256"

# The generators the official scripts build for testing (`--model test`): CycleGAN uses
# resnet_9blocks + instance norm without dropout (`--no_dropout`), pix2pix a U-Net 256 with batch
# norm and dropout.
CYCLEGAN_ARCH: dict = {"netG": "resnet_9blocks", "ngf": 64, "norm": "instance", "use_dropout": False,
                       "input_nc": 3, "output_nc": 3}
PIX2PIX_ARCH: dict = {"netG": "unet_256", "ngf": 64, "norm": "batch", "use_dropout": True,
                      "input_nc": 3, "output_nc": 3}

# The code (and these weights, published by the same project) are under the project's BSD
# 2-clause licence; the images the models were trained on keep their own terms.
_LICENCE = "BSD-2-Clause; training data: {data} (own terms)"


@dataclass(frozen=True)
class WeightsEntry:
    """One pretrained generator.

    Attributes:
        name: registry name, also the local file stem (`<name>.pth`).
        family: "cyclegan" or "pix2pix".
        url: official download URL (before any `FACELAB_MIRROR` rewrite).
        filename: local file name, `<name>.pth`.
        arch: the generator to build, in the official option names (netG, ngf, norm, ...).
        default_size: square input size the model was trained on, or None to run at the
            image's own resolution (fully convolutional CycleGAN generators).
        licence: licence of the weights and the terms of their training data.
        description: direction and data set, one line.
        sha256: known hash, enforced when set; None when the publisher gives none.
        bundled: facelab's own weights, shipped in ``weights/`` (no URL, never downloaded).
    """

    name: str
    family: Literal["cyclegan", "pix2pix", "detector"]
    url: str
    filename: str
    arch: dict = field(hash=False)
    default_size: int | None
    licence: str
    description: str
    sha256: str | None = None
    bundled: bool = False  # shipped in the repository's weights/ folder; nothing to download


def _cyclegan(name: str, description: str, data: str) -> WeightsEntry:
    return WeightsEntry(
        name=name, family="cyclegan",
        url=f"{OFFICIAL_BASE}cyclegan/pretrained_models/{name}.pth",
        filename=f"{name}.pth", arch=dict(CYCLEGAN_ARCH), default_size=None,
        licence=_LICENCE.format(data=data), description=description,
    )


def _pix2pix(official: str, description: str, data: str) -> WeightsEntry:
    name = f"pix2pix_{official}"
    return WeightsEntry(
        name=name, family="pix2pix",
        url=f"{OFFICIAL_BASE}pix2pix/models-pytorch/{official}.pth",
        filename=f"{name}.pth", arch=dict(PIX2PIX_ARCH), default_size=256,
        licence=_LICENCE.format(data=data), description=description,
    )


_ENTRIES: tuple[WeightsEntry, ...] = (
    # CycleGAN: one generator per direction (the official `latest_net_G.pth`).
    _cyclegan("apple2orange", "apple -> orange photos (ImageNet apple/orange classes)", "ImageNet"),
    _cyclegan("orange2apple", "orange -> apple photos (ImageNet apple/orange classes)", "ImageNet"),
    _cyclegan("summer2winter_yosemite", "Yosemite landscapes, summer -> winter (Flickr photos)", "Flickr"),
    _cyclegan("winter2summer_yosemite", "Yosemite landscapes, winter -> summer (Flickr photos)", "Flickr"),
    _cyclegan("horse2zebra", "horse -> zebra (ImageNet wild horse/zebra classes)", "ImageNet"),
    _cyclegan("zebra2horse", "zebra -> horse (ImageNet wild horse/zebra classes)", "ImageNet"),
    _cyclegan("monet2photo", "Monet painting -> photo-like image (WikiArt paintings, Flickr photos)",
              "WikiArt, Flickr"),
    _cyclegan("style_monet", "photo -> Monet painting style (WikiArt paintings, Flickr photos)",
              "WikiArt, Flickr"),
    _cyclegan("style_cezanne", "photo -> Cezanne painting style (WikiArt paintings, Flickr photos)",
              "WikiArt, Flickr"),
    _cyclegan("style_ukiyoe", "photo -> Ukiyo-e print style (WikiArt prints, Flickr photos)",
              "WikiArt, Flickr"),
    _cyclegan("style_vangogh", "photo -> Van Gogh painting style (WikiArt paintings, Flickr photos)",
              "WikiArt, Flickr"),
    _cyclegan("sat2map", "aerial photo -> map rendering (Google Maps, New York area)", "Google Maps"),
    _cyclegan("map2sat", "map rendering -> aerial photo (Google Maps, New York area)", "Google Maps"),
    _cyclegan("cityscapes_photo2label", "street photo -> semantic label colours (Cityscapes)", "Cityscapes"),
    _cyclegan("cityscapes_label2photo", "semantic label colours -> street photo (Cityscapes)", "Cityscapes"),
    _cyclegan("facades_photo2label", "building facade photo -> label map (CMP Facades)", "CMP Facades"),
    _cyclegan("facades_label2photo", "label map -> building facade photo (CMP Facades)", "CMP Facades"),
    _cyclegan("iphone2dslr_flower", "flower photos, smartphone look -> DSLR shallow depth of field (Flickr)",
              "Flickr"),
    # pix2pix: paired training, 256x256 inputs.
    _pix2pix("edges2shoes", "edge map -> shoe photo (UT Zappos50K, HED edges)", "UT Zappos50K"),
    _pix2pix("sat2map", "aerial photo -> map rendering (Google Maps, paired tiles)", "Google Maps"),
    _pix2pix("map2sat", "map rendering -> aerial photo (Google Maps, paired tiles)", "Google Maps"),
    _pix2pix("facades_label2photo", "label map -> building facade photo (CMP Facades)", "CMP Facades"),
    _pix2pix("day2night", "outdoor webcam scene, day -> night (Transient Attributes)", "Transient Attributes"),
)

# facelab's own deepfake detector, trained by tools/train_default_detector.py (model card:
# docs/detect.md, "The shipped detector"). Research and evaluation use only: see its licence.
DEFAULT_DETECTOR = "deepfake_sbi_lite0"
_DETECTORS: tuple[WeightsEntry, ...] = (
    WeightsEntry(
        name=DEFAULT_DETECTOR, family="detector", url="", filename=f"{DEFAULT_DETECTOR}.pth",
        arch={"classifier": "efficientnet_lite0"}, default_size=192,
        licence="research and evaluation only (trained on research-only face media; docs/detect.md)",
        description="real/fake face classifier trained on fakes made from real faces: self-blended, blended and "
                    "dense swaps, re-rendered faces and facelab one-shot swaps",
        sha256="95ac4e2134cce0196794f16aab8a81aac4054bc6dada0dee8cabe3833ada3f52", bundled=True,
    ),
)

REGISTRY: dict[str, WeightsEntry] = {e.name: e for e in _ENTRIES + _DETECTORS}


@dataclass(frozen=True)
class WeightsStatus:
    """Where a registry entry's file was found, for `facelab weights list`.

    Attributes:
        entry: the registry entry.
        path: the file resolution would use, or None when it is missing.
        where: "project" (the repository's weights/ folder), "cache" ($FACELAB_HOME) or None.
        hash_recorded: whether a `.sha256` sidecar (or a registry hash) exists for that file.
    """

    entry: WeightsEntry
    path: Path | None
    where: Literal["project", "cache"] | None
    hash_recorded: bool


# ----------------------------------------------------------------------------------- locations

def facelab_home() -> Path:
    """Cache root: `$FACELAB_HOME`, else `~/.cache/facelab`. Downloads go to `<home>/checkpoints/`."""
    env = os.environ.get("FACELAB_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "facelab"


def cache_dir() -> Path:
    """The folder downloads are written to: `facelab_home()/checkpoints`."""
    return facelab_home() / "checkpoints"


def project_weights_dir() -> Path | None:
    """The repository's top-level `weights/` folder when facelab runs from a checkout, else None."""
    d = Path(__file__).resolve().parents[1] / "weights"
    return d if d.is_dir() else None


def is_offline() -> bool:
    """True when `FACELAB_OFFLINE` is set to 1/true/yes."""
    return os.environ.get("FACELAB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def source_url(entry: WeightsEntry) -> str:
    """The URL a download of `entry` uses: the official one, or rebased on `$FACELAB_MIRROR`."""
    mirror = os.environ.get("FACELAB_MIRROR", "").strip()
    if not mirror:
        return entry.url
    if not mirror.startswith(("http://", "https://", "file://")):
        raise WeightsError(f"FACELAB_MIRROR={mirror!r} is not an http(s):// or file:// URL; fix or unset it")
    return mirror.rstrip("/") + "/" + entry.url[len(OFFICIAL_BASE):]


def _candidates(entry: WeightsEntry) -> list[tuple[Literal["project", "cache"], Path]]:
    out: list[tuple[Literal["project", "cache"], Path]] = []
    proj = project_weights_dir()
    if proj is not None:
        out.append(("project", proj / entry.filename))
    out.append(("cache", cache_dir() / entry.filename))
    return out


def _folders_hint(entry: WeightsEntry) -> str:
    return " or ".join(str(p.parent) + os.sep for _, p in _candidates(entry))


def _missing_error(entry: WeightsEntry, why: str, first: str | None = None) -> WeightsError:
    """One line: what is missing and why, then `first` (if any), else where to put the file by hand."""
    if entry.bundled:
        return WeightsError(f"{entry.name}: {why}; it ships in the repository's weights/ folder: install facelab "
                            "from its repository (`pip install -e .` in a clone), or pass --weights FILE")
    then = f"{first}, or " if first else ""
    return WeightsError(
        f"{entry.name}: {why}; {then}download {source_url(entry)} and save it as {entry.filename} in "
        f"{_folders_hint(entry)} (or pass --weights FILE)"
    )


# ------------------------------------------------------------------------------------ registry

def get_entry(name: str) -> WeightsEntry:
    """Return the registry entry called `name`.

    Raises:
        WeightsError: unknown name; the message lists close matches.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(REGISTRY), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise WeightsError(f"unknown model {name!r}; {hint}see `facelab weights list`") from None


def list_entries(family: str | None = None) -> list[WeightsEntry]:
    """Registry entries in registry order, optionally only one family ("cyclegan" | "pix2pix")."""
    return [e for e in REGISTRY.values() if family is None or e.family == family]


def bundled_path(name: str) -> Path | None:
    """The verified file of a bundled entry (``weights/<name>.pth``), or None when it is not there.

    Raises:
        WeightsError: the file is there but its sha256 differs from the registry's.
    """
    entry = get_entry(name)
    proj = project_weights_dir()
    p = proj / entry.filename if proj is not None else None
    return _check_file(p, entry) if p is not None and p.is_file() else None


# ------------------------------------------------------------------------------------- hashing

def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sidecar_path(path: str | Path) -> Path:
    """The `.sha256` file that records `path`'s hash: `<file>.sha256`."""
    p = Path(path)
    return p.with_name(p.name + _SIDECAR_SUFFIX)


def read_sidecar(path: str | Path) -> str | None:
    """The recorded hash of `path` (first token of its sidecar, `sha256sum` format), or None."""
    sc = sidecar_path(path)
    try:
        text = sc.read_text(encoding="ascii").split()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{sc}: cannot read the recorded hash ({exc}); delete it and run "
                           f"`facelab weights verify`") from None
    digest = text[0].lower() if text else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise WeightsError(f"{sc}: not a sha256 record; delete it (the next download records a new one)")
    return digest


def write_sidecar(path: str | Path, digest: str) -> Path:
    """Record `digest` for `path` in `<file>.sha256` (`sha256sum -c` compatible), atomically."""
    p = Path(path)
    sc = sidecar_path(p)
    tmp = sc.with_name(f".{sc.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{digest}  {p.name}\n", encoding="ascii")
    os.replace(tmp, sc)
    return sc


def _expected_hash(path: Path, entry: WeightsEntry | None) -> str | None:
    if entry is not None and entry.sha256:
        return entry.sha256.lower()
    return read_sidecar(path)


def _check_file(path: Path, entry: WeightsEntry | None) -> Path:
    """Verify `path` against its recorded (or registry) hash; no record: use as is."""
    expected = _expected_hash(path, entry)
    if expected is None:
        log.info("%s: no sha256 recorded (placed by hand?); using it as is", path)
        return path
    actual = sha256_file(path)
    if actual != expected:
        what = ("restore it with `git checkout weights/`" if entry is not None and entry.bundled
                else f"`facelab weights fetch {entry.name}`" if entry else "re-download it")
        raise WeightsError(
            f"{path}: sha256 mismatch (recorded {expected[:12]}..., file {actual[:12]}...): the file is "
            f"corrupt or was changed; delete it and run {what}"
        )
    log.debug("%s: sha256 ok (%s)", path, actual)
    return path


# ------------------------------------------------------------------------------------ download

def download(url: str, dest: str | Path, expected_sha256: str | None = None,
             progress: ProgressFn | None = None, timeout: float = TIMEOUT_S) -> str:
    """Download `url` to `dest` atomically and return the file's hex sha256.

    The body is streamed into a temporary file in `dest`'s folder and moved into place with
    `os.replace` only when complete (all of Content-Length, when sent) and, if given, matching
    `expected_sha256`. On any failure nothing is left behind: neither the temporary file nor `dest`
    (an existing `dest` is left untouched).

    Args:
        url: http(s):// or file:// URL.
        dest: final path; its folder is created.
        expected_sha256: hex digest the body must have, or None.
        progress: optional callback `(bytes_done, total_or_None)`, called after each chunk.
        timeout: seconds per socket operation.

    Raises:
        WeightsError: HTTP error, unreachable host, timeout, truncated body or hash mismatch.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise WeightsError(f"cannot write to {dest.parent} ({exc.strerror or exc}); point FACELAB_HOME "
                           f"at a writable folder") from None
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    done = 0
    total: int | None = None
    try:
        with os.fdopen(fd, "wb") as out:
            req = urllib.request.Request(url, headers={"User-Agent": f"facelab/{__version__}"})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if progress is not None:
                    progress(0, total)
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
        if total is not None and done != total:
            raise WeightsError(f"download of {url} was cut off ({done} of {total} bytes); nothing was "
                               f"saved, try again")
        digest = h.hexdigest()
        if expected_sha256 is not None and digest != expected_sha256.lower():
            raise WeightsError(f"download of {url} has sha256 {digest[:12]}..., expected "
                               f"{expected_sha256[:12]}...; nothing was saved, try again or use another mirror")
        os.replace(tmp, dest)
        log.info("downloaded %s -> %s (%d bytes, sha256 %s)", url, dest, done, digest)
        return digest
    except urllib.error.HTTPError as exc:
        raise WeightsError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; check the name, "
                           f"or FACELAB_MIRROR if set") from None
    except urllib.error.URLError as exc:
        raise WeightsError(f"cannot reach {url} ({exc.reason}); check the network, set FACELAB_MIRROR, "
                           f"or place the file by hand and set FACELAB_OFFLINE=1") from None
    except TimeoutError:  # socket.timeout is an alias of it
        raise WeightsError(f"download of {url} timed out after {done} bytes; try again, or place the file "
                           f"by hand and set FACELAB_OFFLINE=1") from None
    except (http.client.HTTPException, ConnectionError) as exc:
        raise WeightsError(f"download of {url} was cut off after {done} bytes ({type(exc).__name__}); "
                           f"nothing was saved, try again") from None
    except OSError as exc:
        raise WeightsError(f"cannot save {url} to {dest} ({exc.strerror or exc}); free some space or "
                           f"point FACELAB_HOME at a writable folder") from None
    finally:
        tmp.unlink(missing_ok=True)


def _download_entry(entry: WeightsEntry, progress: ProgressFn | None) -> Path:
    """Download `entry` into the cache and record its sha256 beside it."""
    if entry.bundled:
        raise _missing_error(entry, f"{entry.filename} is not in weights/")
    dest = cache_dir() / entry.filename
    url = source_url(entry)
    try:
        previous = read_sidecar(dest)
    except WeightsError:
        previous = None  # an unreadable record is replaced below
    log.info("downloading %s from %s", entry.name, url)
    digest = download(url, dest, expected_sha256=entry.sha256, progress=progress)
    if previous is not None and previous != digest:
        log.warning("%s: the new download's sha256 %s differs from the one recorded before (%s)",
                    entry.name, digest[:12], previous[:12])
    write_sidecar(dest, digest)
    return dest


# ------------------------------------------------------------------------------------- resolve

def locate(name: str, weights: str | Path | None = None, check: bool = True) -> Path | None:
    """Find `name`'s file locally without any network access.

    Args:
        name: registry name.
        weights: explicit file; it must exist.
        check: verify the sha256 of the file found (when one is recorded).

    Returns:
        The path, or None when no local copy exists (only without `weights`).

    Raises:
        InputError: `weights` is given but is not a file.
        WeightsError: unknown name or hash mismatch.
    """
    entry = get_entry(name)
    if weights is not None:
        p = Path(weights).expanduser()
        if not p.exists():
            raise InputError(p, f"weights file not found; check the path, or leave out --weights to use "
                                f"the registry copy of {name}")
        if not p.is_file():
            raise InputError(p, "is not a file; pass the .pth checkpoint itself")
        # The registry hash describes the official file only; a user's own file is checked
        # against its sidecar, if it has one.
        return _check_file(p, None) if check else p
    for where, p in _candidates(entry):
        if p.is_file():
            log.info("%s: using %s copy %s", name, where, p)
            return _check_file(p, entry) if check else p
    return None


def local_path(name: str, weights: str | Path | None = None) -> Path:
    """Like `resolve` but never downloads: the verified local file, or a WeightsError saying where to put it."""
    found = locate(name, weights)
    if found is None:
        entry = get_entry(name)
        raise _missing_error(entry, f"{entry.filename} not found locally", f"run `facelab weights fetch {name}`")
    return found


def resolve(name: str, weights: str | Path | None = None, offline: bool | None = None,
            progress: ProgressFn | None = None) -> Path:
    """Return a local, verified checkpoint path for registry model `name`, downloading if needed.

    Order: explicit `weights` -> `<repo>/weights/<name>.pth` -> `$FACELAB_HOME/checkpoints/<name>.pth`
    -> download into the latter (never when offline).

    Args:
        name: registry name (see `facelab weights list`).
        weights: explicit checkpoint file; must exist.
        offline: never use the network; default from `FACELAB_OFFLINE`.
        progress: download progress callback `(bytes_done, total_or_None)`.

    Raises:
        InputError: `weights` given but missing.
        WeightsError: unknown name, missing while offline, download failure or hash mismatch.
    """
    found = locate(name, weights)
    if found is not None:
        return found
    entry = get_entry(name)
    if is_offline() if offline is None else offline:
        raise _missing_error(entry, f"{entry.filename} not found and offline mode is on (FACELAB_OFFLINE)")
    return _download_entry(entry, progress)


def fetch(name: str, force: bool = False, progress: ProgressFn | None = None) -> Path:
    """Make sure `name` is available locally; download it into the cache when missing (or `force`).

    Without `force` an existing local copy (project or cache) is verified and returned. With
    `force` the cache copy is downloaded again and its recorded sha256 replaced.

    Raises:
        WeightsError: offline (`FACELAB_OFFLINE`), download failure or hash mismatch.
    """
    entry = get_entry(name)
    if not force:
        found = locate(name)
        if found is not None:
            return found
    if is_offline():
        raise _missing_error(entry, f"{entry.filename} cannot be fetched while FACELAB_OFFLINE is set", "unset it")
    proj = project_weights_dir()
    if force and proj is not None and (proj / entry.filename).is_file():
        log.warning("%s: %s takes precedence over the downloaded copy", name, proj / entry.filename)
    return _download_entry(entry, progress)


def verify(name: str) -> tuple[bool | None, str]:
    """Recompute the sha256 of the local copy that `resolve` would use.

    Returns:
        `(True, message)` when it matches the record, `(False, message)` on a mismatch,
        `(None, message)` when no hash is recorded; the message names the file and the hashes.

    Raises:
        WeightsError: unknown name, or no local copy.
    """
    entry = get_entry(name)
    path = locate(name, check=False)
    if path is None:
        raise _missing_error(entry, f"{entry.filename} not found locally, nothing to verify")
    expected = _expected_hash(path, entry)
    actual = sha256_file(path)
    if expected is None:
        return None, f"{path} (sha256 {actual}, no recorded hash)"
    if actual == expected:
        return True, f"{path} (sha256 {actual})"
    return False, (f"{path} (recorded {expected}, file {actual}); delete it and run "
                   f"`facelab weights fetch {name}`")


def list_status(family: str | None = None) -> list[WeightsStatus]:
    """Where each registry model is found locally, if anywhere (no hashing, no network)."""
    out = []
    for entry in list_entries(family):
        status = WeightsStatus(entry, None, None, bool(entry.sha256))
        for where, p in _candidates(entry):
            if p.is_file():
                status = WeightsStatus(entry, p, where, bool(entry.sha256) or sidecar_path(p).is_file())
                break
        out.append(status)
    return out
