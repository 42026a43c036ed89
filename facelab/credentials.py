"""Content credentials (C2PA): signed "this is synthetic" manifests in facelab's outputs, and reading them back.

    key = signing_key()                                   # --sign-cert/--sign-key, env, or the local key
    seal = key.sealer(Declaration("face swapped (oneshot)", model="alice.jpg", model_sha256=..., parent=src))
    write_image("out.jpg", frame, seal=seal)              # signed before the file is renamed into place
    creds = read_credentials("out.jpg")                   # what a file declares, and whether it holds
    creds.declared_synthetic, creds.valid, creds.signer   # True, True, "facelab local signer ..."

C2PA (the Coalition for Content Provenance and Authenticity, "Content Credentials") is the
industry's machine-readable marking of synthetic media: a manifest, embedded in the file (a JPEG
APP11 segment, a PNG ``caBX`` chunk, an MP4 ``uuid`` box), that lists what was done to the
content (``c2pa.actions``), hashes the content bytes, and is signed with an X.509 certificate.
facelab's manifest has a ``c2pa.opened`` action for the input and a ``c2pa.edited`` action with
``digitalSourceType`` ``trainedAlgorithmicMedia`` (IPTC's term for output of a trained model),
facelab's version and the model's name and sha256. The official ``c2pa-python`` library
(c2pa-rs underneath) builds, signs and validates it.

Signing needs a certificate and its private key: the user's (``--sign-cert``/``--sign-key`` or
``FACELAB_SIGN_CERT``/``FACELAB_SIGN_KEY``), or a local one facelab makes on first use in
``<config dir>/c2pa/``. c2pa-rs refuses to sign with a self-signed end certificate, so the local
one is a two-link chain: a throwaway local CA (its private key is discarded once it has signed)
and the signer certificate it issued. No verifier trusts that CA, so tools show the manifest's
signature as valid but its signer as untrusted: which is the truth (``docs/security.md``).

What a manifest proves and what it does not: a valid one proves that whoever held the key
declared the content synthetic and that the content has not changed since. Its absence proves
nothing: metadata is stripped by most re-encoders and upload pipelines.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from facelab import __version__
from facelab.errors import ConfigError, OutputError
from facelab.hub import sha256_file

__all__ = ["IPTC_SOURCE_TYPES", "SIGNABLE", "SYNTHETIC_SOURCE_TYPES", "TRAINED_ALGORITHMIC_MEDIA", "Credentials",
           "Declaration", "SigningKey", "config_dir", "file_sha256", "local_signing_key", "read_credentials", "read_label",
           "signing_key"]

log = logging.getLogger(__name__)

IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
#: IPTC digital source type of content made by a trained model: what facelab declares.
TRAINED_ALGORITHMIC_MEDIA = IPTC_SOURCE_TYPES + "trainedAlgorithmicMedia"
#: Source types that declare content synthetic (wholly or in part) when ``facelab detect`` reads them.
SYNTHETIC_SOURCE_TYPES = frozenset(IPTC_SOURCE_TYPES + t for t in (
    "trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia", "compositeSynthetic"))
#: Output extensions facelab signs -> MIME type (the ones c2pa-rs embeds into and facelab tests).
SIGNABLE = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "mp4": "video/mp4", "m4v": "video/mp4",
            "mov": "video/quicktime"}
#: Where c2pa-rs reads a manifest from; other formats are not looked at.
_READABLE = {**SIGNABLE, "webp": "image/webp", "tif": "image/tiff", "tiff": "image/tiff", "avi": "video/avi"}
_LOCAL_ORG = "facelab (self-signed, unverified)"
#: c2pa-rs settings for reading: a file must not make facelab fetch anything (a remote manifest's
#: URL, the signer's OCSP responder), so reading works offline and tells no one what was read.
_READ_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


def config_dir() -> Path:
    """facelab's per-user settings folder: ``$FACELAB_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/facelab``,
    else ``~/.config/facelab`` (the local signing key lives in its ``c2pa/``)."""
    if os.environ.get("FACELAB_CONFIG_DIR"):
        return Path(os.environ["FACELAB_CONFIG_DIR"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "facelab"


@lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def file_sha256(path: str | Path | None) -> str | None:
    """The sha256 of a model's weights (or a one-shot source photo), cached per path, size and
    mtime so a batch hashes it once; None when ``path`` is not a readable file."""
    if path is None:
        return None
    try:
        p = Path(path).resolve()
        st = p.stat()
        return _sha256(str(p), st.st_size, st.st_mtime_ns) if p.is_file() else None
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# signing


@dataclass(frozen=True)
class Declaration:
    """What a manifest says about one output.

    Attributes:
        description: what facelab did, e.g. ``"face swapped (oneshot)"`` or ``"translated"``.
        model: the model's name (registry name, run, or the one-shot source photo's file name).
        model_sha256: the full sha256 of the weights file (or source photo), when there is one.
        parent: the input file the output was made from; it becomes the manifest's parent
            ingredient (with its own manifest, if it had one, so the history carries on).
    """

    description: str
    model: str | None = None
    model_sha256: str | None = None
    parent: Path | None = None

    def manifest(self, title: str) -> dict[str, Any]:
        """The manifest definition c2pa-python's ``Builder`` takes."""
        edited: dict[str, Any] = {
            "action": "c2pa.edited" if self.parent is not None else "c2pa.created",
            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
            "description": self.description,
            "softwareAgent": {"name": "facelab", "version": __version__},
            "parameters": {"org.facelab.model": {"name": self.model, "sha256": self.model_sha256}},
        }
        return {"claim_generator_info": [{"name": "facelab", "version": __version__}], "title": title,
                "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [edited]}}]}


@dataclass(frozen=True)
class SigningKey:
    """A certificate chain (PEM, signer first) and its private key (PEM) that sign manifests.

    ``origin`` says where it came from: ``"option"`` (--sign-cert/--sign-key), ``"environment"``
    or ``"local"`` (facelab's self-signed key); ``created`` is True when this call made the local key.
    """

    cert_chain: bytes
    private_key: bytes
    alg: str
    origin: str
    cert_path: Path
    key_path: Path
    signer: str
    created: bool = False

    def sign(self, tmp: Path, final: Path, declaration: Declaration) -> bool:
        """Embed a signed manifest into ``tmp``, the finished temporary file of output ``final``
        (its extension picks the format). False when that format cannot carry one (logged).

        Raises:
            OutputError: c2pa-rs refused to sign (a certificate it does not accept, a damaged file).
        """
        import c2pa

        mime = SIGNABLE.get(final.suffix.lower().lstrip("."))
        if mime is None:
            log.warning("%s: no content credentials (C2PA) for %s files; the metadata label is still there",
                        final, final.suffix)
            return False
        parent = declaration.parent
        if parent is not None and parent.suffix.lower().lstrip(".") not in _READABLE:
            log.debug("%s: the input %s is not a format C2PA can hold as an ingredient", final, parent)
            declaration = dataclasses.replace(declaration, parent=None)
        try:
            self._sign(tmp, final, mime, declaration)
        except c2pa.C2paError as exc:
            if declaration.parent is None:
                raise OutputError(final, f"cannot sign its content credentials ({_one_line(exc)})") from None
            # an input c2pa-rs cannot parse as an ingredient (damaged, or not what its extension
            # says): the manifest then says "created" without it, rather than the job failing
            log.info("%s: the input %s could not be added to the manifest (%s); signing without it",
                     final, declaration.parent, _one_line(exc))
            try:
                self._sign(tmp, final, mime, dataclasses.replace(declaration, parent=None))
            except c2pa.C2paError as again:
                raise OutputError(final, f"cannot sign its content credentials ({_one_line(again)})") from None
        log.debug("signed %s (C2PA, %s, signer %s)", final, self.alg, self.signer)
        return True

    def _sign(self, tmp: Path, final: Path, mime: str, declaration: Declaration) -> None:
        import c2pa

        signed = tmp.with_name(f".{tmp.name}.{uuid.uuid4().hex[:8]}.c2pa")
        try:
            info = c2pa.C2paSignerInfo(self.alg, self.cert_chain, self.private_key, None)
            with c2pa.Signer.from_info(info) as signer, \
                    c2pa.Builder(json.dumps(declaration.manifest(final.name))) as builder:
                if declaration.parent is not None:
                    # EDIT intent: c2pa-rs adds the c2pa.opened action that points at the parent
                    builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
                    with open(declaration.parent, "rb") as src:
                        builder.add_ingredient(json.dumps({"title": declaration.parent.name,
                                                           "relationship": "parentOf"}),
                                               _READABLE[declaration.parent.suffix.lower().lstrip(".")], src)
                with open(tmp, "rb") as src, open(signed, "w+b") as dst:
                    builder.sign(signer, mime, src, dst)
            os.replace(signed, tmp)  # still the temporary file: the caller renames it into place
        except OSError as exc:
            raise OutputError(final, f"cannot sign its content credentials ({_one_line(exc)})") from None
        finally:
            signed.unlink(missing_ok=True)

    def sealer(self, declaration: Declaration) -> Callable[[Path, Path], None]:
        """``seal(tmp, final)`` for :func:`facelab.io.image.write_image` and
        :class:`facelab.io.video.VideoWriter`: signs the finished temporary file before the rename."""

        def seal(tmp: Path, final: Path) -> None:
            self.sign(tmp, final, declaration)

        return seal


def signing_key(cert: str | Path | None = None, key: str | Path | None = None) -> SigningKey:
    """The key that signs: ``cert`` and ``key`` (PEM files), else ``FACELAB_SIGN_CERT`` and
    ``FACELAB_SIGN_KEY``, else the local self-signed key (made on first use, :func:`local_signing_key`).

    Raises:
        ConfigError: only one of the pair given, unreadable files, a key that does not match the
            certificate, or a key type C2PA cannot sign with.
    """
    origin = "option"
    if cert is None and key is None:
        cert, key = os.environ.get("FACELAB_SIGN_CERT") or None, os.environ.get("FACELAB_SIGN_KEY") or None
        origin = "environment"
    if (cert is None) != (key is None):
        raise ConfigError("give both a signing certificate and its key (--sign-cert and --sign-key, or "
                          "FACELAB_SIGN_CERT and FACELAB_SIGN_KEY), or neither for facelab's local key")
    if cert is None or key is None:
        return local_signing_key()
    return _load_key(Path(cert), Path(key), origin)


def _load_key(cert_path: Path, key_path: Path, origin: str, created: bool = False) -> SigningKey:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        chain_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the signing certificate or key ({exc.filename}: {exc.strerror})") from None
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise ConfigError(f"{cert_path}: not a PEM certificate chain (signer certificate first)") from None
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{key_path}: not an unencrypted PEM private key ({_one_line(exc)})") from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if certs[0].public_key().public_bytes(enc, pub) != private.public_key().public_bytes(enc, pub):
        raise ConfigError(f"{key_path} is not the private key of {cert_path}'s first (signer) certificate")
    if isinstance(private, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(private.curve.name)
    elif isinstance(private, rsa.RSAPrivateKey):
        alg = "ps256"
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        alg = "ed25519"
    else:
        alg = None
    if alg is None:
        raise ConfigError(f"{key_path}: C2PA signs with EC P-256/384/521, RSA (PSS) or Ed25519 keys, not this one")
    return SigningKey(chain_pem, key_pem, alg, origin, cert_path, key_path, _name(certs[0].subject), created)


def _name(subject: Any) -> str:
    from cryptography.x509.oid import NameOID

    cn = [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    org = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return str(cn[0] if cn else subject.rfc4514_string()) + (f" ({org[0]})" if org else "")


def local_signing_key(folder: Path | None = None) -> SigningKey:
    """facelab's own signing key in ``folder`` (default ``config_dir() / "c2pa"``), made on first use.

    A local CA (EC P-256, self-signed, ten years; its private key is thrown away after it signs)
    issues the signer certificate (EC P-256, ``digitalSignature``, extended key usage
    ``emailProtection``, as C2PA's certificate profile asks); ``signer.pem`` holds both,
    signer first, ``signer.key`` the signer's key (mode 0600). Two processes that start at once
    both make one, and the first rename wins: every output of a machine carries the same signer.
    """
    folder = folder or config_dir() / "c2pa"
    cert_path, key_path = folder / "signer.pem", folder / "signer.key"
    if cert_path.is_file() and key_path.is_file():
        return _load_key(cert_path, key_path, "local")
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.mkdir(parents=True, mode=0o700)
        chain, key = _make_local_chain()
        fd = os.open(tmp / "signer.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        (tmp / "signer.pem").write_bytes(chain)
        try:
            os.rename(tmp, folder)  # atomic; fails when another process was first
            created = True
        except OSError:
            if not (cert_path.is_file() and key_path.is_file()):
                raise
            created = False
    except OSError as exc:
        raise ConfigError(f"cannot create facelab's local signing key in {folder} ({exc.strerror or exc}); "
                          "set FACELAB_CONFIG_DIR to a writable folder or pass --sign-cert/--sign-key") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if created:
        log.info("created a local self-signed C2PA signing key in %s (verifiers show it as untrusted)", folder)
    return _load_key(cert_path, key_path, "local", created=created)


def _make_local_chain() -> tuple[bytes, bytes]:
    """``(chain PEM: signer then CA, signer key PEM)``, freshly generated."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=3650)
    tag = uuid.uuid4().hex[:8]  # tells apart the keys of different machines in a verifier's listing

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, _LOCAL_ORG)])

    def usage(sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                             encipher_only=False, decipher_only=False)

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = name(f"facelab local CA {tag}")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(False, True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name(f"facelab local signer {tag}")).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(True, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (leaf.public_bytes(pem) + ca.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


# ---------------------------------------------------------------------------------------------
# reading


@dataclass
class Credentials:
    """What one file declares about itself.

    Attributes:
        path: the file.
        c2pa: ``"none"`` (no manifest), ``"valid"`` (signature and content hashes check out),
            ``"trusted"`` (valid, and the signer chains to a trust list c2pa-rs was given),
            ``"invalid"`` (a manifest that fails validation: tampered content, a broken
            signature) or ``"unreadable"`` (c2pa-rs could not parse the file or its manifest:
            damaged, or not the format its extension says; see ``error``).
        signer: the signing certificate's common name, when there is a manifest.
        issuer: the organisation that issued the signing certificate.
        claim_generator: the software that wrote the manifest.
        actions: the active manifest's actions (``action``, ``digitalSourceType``,
            ``description``, ``softwareAgent``, ``parameters``).
        failures: validation failure codes (``signingCredential.untrusted`` is one for an
            untrusted signer, ``assertion.dataHash.mismatch`` for changed content).
        history: the file's earlier manifests (those of its ingredients): ``manifest`` label,
            ``title``, ``signer``, ``actions``.
        label: facelab's metadata label (``synthetic media: ...``), unsigned, or None.
        manifest: the active manifest as c2pa-rs reports it.
        error: why the manifest could not be read.
    """

    path: str
    c2pa: str = "none"
    signer: str | None = None
    issuer: str | None = None
    claim_generator: str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    label: str | None = None
    manifest: dict[str, Any] | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        """The manifest's signature and hashes check out (trusted signer or not)."""
        return self.c2pa in ("valid", "trusted")

    @property
    def declared_synthetic(self) -> bool:
        """An action of the manifest, or of an earlier manifest of its history, says the content was
        made by an algorithm (valid or not: see :attr:`valid`)."""
        return self.declared_by is not None

    @property
    def declared_by(self) -> str | None:
        """Who declared the content synthetic: the signer, or ``"<signer> (earlier manifest of
        <title>)"`` for a declaration in the file's history; None when none did."""
        if _declares_synthetic(self.actions):
            return self.signer or "an unnamed signer"
        for earlier in self.history:
            if _declares_synthetic(earlier["actions"]):
                return f"{earlier.get('signer') or 'an unnamed signer'} (earlier manifest of {earlier.get('title')})"
        return None

    @property
    def untrusted(self) -> bool:
        return "signingCredential.untrusted" in self.failures

    def summary(self) -> str:
        """One line: what the file declares and whether the declaration holds."""
        if self.c2pa == "none":
            return ("no content credentials; labelled by its metadata (unsigned): " + self.label if self.label
                    else "no content credentials or synthetic label (which proves nothing: they are easily stripped)")
        if self.c2pa == "unreadable":
            return f"content credentials could not be read, damaged or not media c2pa-rs can parse ({self.error})"
        who = (self.signer or "an unnamed signer") + (f", issued by {self.issuer}" if self.issuer else "")
        trust = "trusted signer" if self.c2pa == "trusted" else "signer not on a trust list" if self.untrusted \
            else "signature valid"
        if self.c2pa == "invalid":
            problems = [f for f in self.failures if f != "signingCredential.untrusted"]
            return (f"content credentials by {who} FAIL validation ({', '.join(problems) or 'invalid'}): "
                    "the file was changed after signing, or the manifest was forged")
        if _declares_synthetic(self.actions):
            return f"declared synthetic by {who} (C2PA; {trust})"
        if self.declared_by:
            return f"declared synthetic by {self.declared_by}, re-signed by {who} (C2PA; {trust})"
        return f"content credentials by {who} (C2PA; {trust}); no synthetic declaration"

    def to_json(self) -> dict[str, Any]:
        return {"c2pa": self.c2pa, "declared_synthetic": self.declared_synthetic, "valid": self.valid,
                "signer": self.signer, "issuer": self.issuer, "claim_generator": self.claim_generator,
                "actions": self.actions, "failures": list(self.failures), "history": self.history,
                "label": self.label,
                "summary": self.summary(), "error": self.error}


def read_credentials(path: str | Path) -> Credentials:
    """The C2PA manifest (validated) and facelab's metadata label of ``path``; never raises for a
    file without them or with a damaged one (that is reported in the result)."""
    import c2pa

    path = Path(path)
    creds = Credentials(path=str(path), label=read_label(path))
    if path.suffix.lower().lstrip(".") not in _READABLE:
        return creds
    try:
        # offline, and no requests on behalf of an untrusted file: no remote manifests, no OCSP
        with c2pa.Context.from_dict(_READ_SETTINGS) as context:
            reader = c2pa.Reader.try_create(str(path), None, None, context)
            if reader is None:
                return creds
            with reader:
                state = (reader.get_validation_state() or "").lower()
                store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        creds.c2pa, creds.error = "unreadable", _one_line(exc)
        return creds
    manifests = store.get("manifests") or {}
    manifest = manifests.get(store.get("active_manifest")) or {}
    creds.c2pa = state if state in ("valid", "trusted", "invalid") else "invalid"
    creds.manifest = manifest
    failures = ((store.get("validation_results") or {}).get("activeManifest") or {}).get("failure") or []
    creds.failures = [str(f.get("code")) for f in failures]
    sig = manifest.get("signature_info") or {}
    creds.signer = sig.get("common_name") or None
    creds.issuer = sig.get("issuer") or None
    gen = manifest.get("claim_generator_info") or []
    creds.claim_generator = " ".join(str(gen[0].get(k)) for k in ("name", "version") if gen[0].get(k)) if gen else \
        manifest.get("claim_generator")
    creds.actions = _actions(manifest)
    # the earlier manifests of the file's history (its ingredients'), validated with it: a
    # facelab output that another tool re-signed still carries facelab's declaration there
    for label, earlier in manifests.items():
        if label != store.get("active_manifest"):
            creds.history.append({"manifest": label, "title": earlier.get("title"),
                                  "signer": (earlier.get("signature_info") or {}).get("common_name"),
                                  "actions": _actions(earlier)})
    return creds


def _declares_synthetic(actions: list[dict[str, Any]]) -> bool:
    return any(a.get("digitalSourceType") in SYNTHETIC_SOURCE_TYPES for a in actions)


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for assertion in manifest.get("assertions") or []
            if str(assertion.get("label", "")).startswith("c2pa.actions")
            for a in (assertion.get("data") or {}).get("actions") or []]


def read_label(path: str | Path) -> str | None:
    """facelab's ``synthetic media: ...`` metadata label of an image or video, or None.

    Where :func:`facelab.io.image.write_image` and :class:`facelab.io.video.VideoWriter` put it:
    a PNG text chunk ``comment``, the EXIF ``ImageDescription`` of JPEG, WebP and TIFF, the
    container's ``comment`` tag of a video.
    """
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    text: Any = None
    try:
        if ext in ("jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp"):
            from PIL import Image

            with Image.open(path) as img:
                text = img.info.get("comment") or img.getexif().get(0x010E)
        elif ext in ("mp4", "m4v", "mov", "mkv", "avi", "webm"):
            import av

            with av.open(str(path)) as container:
                text = container.metadata.get("comment")
    except Exception as exc:  # noqa: BLE001 - a file we cannot open has no label we can read
        log.debug("%s: no metadata label read (%s)", path, exc)
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text) if text and "synthetic media" in str(text) else None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
