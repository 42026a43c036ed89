"""Content credentials (C2PA): signing facelab's outputs, reading them back, and `facelab detect` on them.

Real code paths: c2pa-python (c2pa-rs) signs and validates, `cryptography` makes the keys, the
real MTCNN and one-shot swap run through `facelab swap`, a tiny generator through `facelab
translate`. Validation is c2pa-rs's own, never re-implemented here.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import c2pa
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from facelab.cli import cli
from facelab.credentials import (
    TRAINED_ALGORITHMIC_MEDIA,
    Credentials,
    Declaration,
    local_signing_key,
    read_credentials,
    signing_key,
)
from facelab.detector.fuse import fuse_declaration
from facelab.errors import ConfigError, OutputError
from facelab.hub import sha256_file
from facelab.io.image import write_image
from facelab.io.video import VideoWriter
from facelab.nn.factory import create_generator
from facelab.nn.layers import init_weights

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "--threads", "1", *args], catch_exceptions=False)
    return res.exit_code, res.output


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def _c2pa_actions(path: Path) -> list[dict]:
    """The active manifest's actions, read with c2pa-python directly (not through facelab)."""
    with c2pa.Reader(str(path)) as reader:
        manifest = reader.get_active_manifest()
    return [a for s in manifest["assertions"] if s["label"].startswith("c2pa.actions") for a in s["data"]["actions"]]


def test_local_key_is_made_once_with_a_private_key_only_the_user_reads(tmp_path: Path) -> None:
    first = local_signing_key(tmp_path / "c2pa")
    again = local_signing_key(tmp_path / "c2pa")
    assert first.created and not again.created and first.origin == "local" and first.alg == "es256"
    assert again.cert_chain == first.cert_chain and again.private_key == first.private_key
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    assert first.cert_chain.count(b"BEGIN CERTIFICATE") == 2  # signer, then the local CA that issued it
    assert first.signer.startswith("facelab local signer")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c2pa"]  # no temporary folder left


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_signed_image_declares_trained_algorithmic_media(tmp_path: Path, ext: str) -> None:
    key = local_signing_key(tmp_path / "key")
    src = tmp_path / f"in.{ext}"
    write_image(src, _image(1))
    weights = tmp_path / "g.pth"
    weights.write_bytes(b"weights")
    out = tmp_path / f"out.{ext}"
    decl = Declaration("translated", model="h2z", model_sha256=sha256_file(weights), parent=src)
    write_image(out, _image(2), seal=key.sealer(decl))
    creds = read_credentials(out)
    assert creds.c2pa == "valid" and creds.valid and creds.declared_synthetic and creds.untrusted
    assert creds.signer == key.signer.split(" (")[0] and creds.claim_generator.startswith("facelab ")
    edited = [a for a in _c2pa_actions(out) if a["action"] == "c2pa.edited"]
    assert [a["digitalSourceType"] for a in edited] == [TRAINED_ALGORITHMIC_MEDIA]
    assert edited[0]["parameters"]["org.facelab.model"] == {"name": "h2z", "sha256": sha256_file(weights)}
    assert [a["action"] for a in _c2pa_actions(out)][0] == "c2pa.opened"  # the input, as parent ingredient
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary files


def test_an_input_c2pa_cannot_hold_is_left_out_of_the_manifest(tmp_path: Path) -> None:
    key = local_signing_key(tmp_path / "key")
    unsupported = tmp_path / "in.bmp"  # a format C2PA has no ingredient reader for
    unsupported.write_bytes(b"BM" + bytes(100))
    damaged = tmp_path / "in.png"  # not what its extension says
    damaged.write_bytes(b"not a png at all")
    for k, parent in enumerate((unsupported, damaged)):
        out = tmp_path / f"out{k}.jpg"
        write_image(out, _image(k), seal=key.sealer(Declaration("translated", parent=parent)))
        creds = read_credentials(out)
        assert creds.valid and creds.declared_synthetic
        assert [a["action"] for a in creds.actions] == ["c2pa.created"]


def test_changed_content_fails_validation_and_does_not_decide(tmp_path: Path) -> None:
    key = local_signing_key(tmp_path / "key")
    out = tmp_path / "out.png"
    write_image(out, _image(3), seal=key.sealer(Declaration("translated")))
    assert read_credentials(out).valid
    data = bytearray(out.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 20] ^= 0xFF  # one byte of the compressed pixels
    bad = tmp_path / "bad.png"
    bad.write_bytes(bytes(data))
    creds = read_credentials(bad)
    assert creds.c2pa == "invalid" and not creds.valid
    assert any("mismatch" in f for f in creds.failures)
    assert "FAIL validation" in creds.summary()
    verdict, reasons = fuse_declaration("REAL", ["CNN: fake probability 0.10"], creds)
    assert verdict == "REAL" and reasons[0] == creds.summary()


def test_a_declaration_survives_re_signing_by_another_tool(tmp_path: Path) -> None:
    facelab_key, other_key = local_signing_key(tmp_path / "facelab"), local_signing_key(tmp_path / "other")
    made = tmp_path / "made.jpg"
    write_image(made, _image(4), seal=facelab_key.sealer(Declaration("translated", model="h2z")))
    # another tool opens the output, adjusts colours and signs its own manifest over it
    manifest = {"claim_generator_info": [{"name": "other-tool", "version": "1"}], "title": "re.jpg",
                "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [{"action": "c2pa.color_adjustments"}]}}]}
    info = c2pa.C2paSignerInfo(other_key.alg, other_key.cert_chain, other_key.private_key, None)
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(json.dumps(manifest)) as builder:
        builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
        with open(made, "rb") as src:
            builder.add_ingredient(json.dumps({"title": "made.jpg", "relationship": "parentOf"}), "image/jpeg", src)
        with open(made, "rb") as src, open(tmp_path / "re.jpg", "w+b") as dst:
            builder.sign(signer, "image/jpeg", src, dst)
    creds = read_credentials(tmp_path / "re.jpg")
    assert creds.valid and creds.declared_synthetic
    assert not any(a.get("digitalSourceType") for a in creds.actions)  # the active manifest says nothing of it
    assert creds.signer == other_key.signer.split(" (")[0]
    assert creds.declared_by == f"{facelab_key.signer.split(' (')[0]} (earlier manifest of made.jpg)"
    assert creds.summary().startswith(f"declared synthetic by {creds.declared_by}, re-signed by {creds.signer}")
    assert fuse_declaration("REAL", [], creds)[0] == "FAKE"
    res = CliRunner().invoke(cli, ["provenance", str(tmp_path / "re.jpg")])
    assert "earlier manifest: made.jpg signed by facelab local signer" in res.output
    assert "c2pa.created (trainedAlgorithmicMedia)" in res.output  # no parent: facelab declared it created


def test_fuse_declaration_valid_synthetic_decides_label_does_not() -> None:
    decl = Credentials(path="x.jpg", c2pa="valid", signer="someone",
                       actions=[{"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}])
    verdict, reasons = fuse_declaration("REAL", ["CNN: low"], decl)
    assert verdict == "FAKE" and reasons[0].startswith("declared synthetic by someone") and reasons[1] == "analysis: CNN: low"
    camera = Credentials(path="x.jpg", c2pa="valid", actions=[{"action": "c2pa.created"}])
    assert fuse_declaration("FAKE", ["CNN: high"], camera) == ("FAKE", ["CNN: high"])  # a non-synthetic claim proves nothing
    label = Credentials(path="x.jpg", label="synthetic media: translated by facelab")
    verdict, reasons = fuse_declaration("REAL", [], label)
    assert verdict == "REAL" and "unsigned" in reasons[0]


def test_signed_video_and_atomic_failure(tmp_path: Path, tiny_video: Path, make_frame) -> None:
    key = local_signing_key(tmp_path / "key")
    out = tmp_path / "out.mp4"
    with VideoWriter(out, 25, (96, 64), audio_from=tiny_video,
                     seal=key.sealer(Declaration("face swapped (oneshot)", parent=tiny_video))) as w:
        for i in range(5):
            w.write(make_frame(i))
    creds = read_credentials(out)
    assert creds.valid and creds.declared_synthetic
    # c2pa-rs refuses a self-signed end certificate: the write fails and leaves nothing behind
    selfsigned = _self_signed(tmp_path)
    refused = signing_key(*selfsigned)
    with pytest.raises(OutputError, match="cannot sign"):
        write_image(tmp_path / "refused.jpg", _image(), seal=refused.sealer(Declaration("translated")))
    with pytest.raises(OutputError, match="cannot sign"):
        with VideoWriter(tmp_path / "refused.mp4", 25, (96, 64), seal=refused.sealer(Declaration("x"))) as w:
            w.write(make_frame(0))
    assert not any(p.name.startswith(("refused", ".refused")) for p in tmp_path.iterdir())


def _self_signed(folder: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    c, k = folder / "self.pem", folder / "self.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


def test_signing_key_checks_what_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = local_signing_key(tmp_path / "mine")
    other = local_signing_key(tmp_path / "other")
    assert signing_key(mine.cert_path, mine.key_path).origin == "option"
    with pytest.raises(ConfigError, match="not the private key"):
        signing_key(mine.cert_path, other.key_path)
    with pytest.raises(ConfigError, match="both"):
        signing_key(mine.cert_path, None)
    with pytest.raises(ConfigError, match="not a PEM certificate"):
        signing_key(mine.key_path, mine.key_path)
    monkeypatch.setenv("FACELAB_SIGN_CERT", str(other.cert_path))
    monkeypatch.setenv("FACELAB_SIGN_KEY", str(other.key_path))
    env = signing_key()
    assert env.origin == "environment" and env.cert_chain == other.cert_chain


def test_swap_output_carries_a_manifest_and_detect_says_fake_because_of_it(tmp_path: Path) -> None:
    out = tmp_path / "swapped.jpg"
    code, msg = run("swap", "--source", str(SAMPLES / "grace_hopper.jpg"), "--target", str(SAMPLES / "astronaut.jpg"),
                    "-o", str(out))
    assert code == 0, msg
    edited = [a for a in _c2pa_actions(out) if a["action"] == "c2pa.edited"]
    assert edited and edited[0]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert edited[0]["parameters"]["org.facelab.model"]["sha256"] == sha256_file(SAMPLES / "grace_hopper.jpg")

    code, msg = run("detect", str(out), "--weights", "none", "--json", str(tmp_path / "d.json"),
                    "--report", str(tmp_path / "r.html"))
    assert code == 0, msg
    rec = json.loads((tmp_path / "d.json").read_text())[0]
    assert rec["verdict"] == "FAKE" and rec["reasons"][0].startswith("declared synthetic by facelab local signer")
    assert rec["provenance"]["c2pa"] == "valid" and rec["provenance"]["declared_synthetic"]
    assert "declared synthetic by" in (tmp_path / "r.html").read_text()

    code, msg = run("detect", str(out), "--weights", "none", "--no-provenance", "--json", str(tmp_path / "p.json"))
    rec = json.loads((tmp_path / "p.json").read_text())[0]
    assert code == 0 and rec["provenance"] is None and not any("declared" in r for r in rec["reasons"])

    res = CliRunner().invoke(cli, ["provenance", str(out), str(SAMPLES / "astronaut.jpg")])
    assert res.exit_code == 0, res.output
    assert "declared synthetic by facelab local signer" in res.output and "validation: valid" in res.output
    assert "action: c2pa.edited; face swapped (oneshot); trainedAlgorithmicMedia; model grace_hopper.jpg" in res.output
    assert "astronaut.jpg: no content credentials" in res.output
    res = CliRunner().invoke(cli, ["provenance", "--json", str(out), str(tmp_path / "missing.jpg")])
    assert res.exit_code == 3 and json.loads(res.stdout)[0]["declared_synthetic"] is True


def test_translate_video_is_signed_unless_no_c2pa(tmp_path: Path, tiny_video: Path) -> None:
    torch.manual_seed(1)
    weights = tmp_path / "tiny.pth"
    torch.save(init_weights(create_generator("resnet_9blocks", ngf=8, norm="instance")).state_dict(), weights)
    code, msg = run("translate", "--weights", str(weights), str(tiny_video), "-o", str(tmp_path / "signed"))
    assert code == 0, msg
    (out,) = (tmp_path / "signed").glob("*.mp4")
    creds = read_credentials(out)
    assert creds.valid and creds.declared_synthetic
    edited = [a for a in creds.actions if a["action"] == "c2pa.edited"]
    assert edited[0]["parameters"]["org.facelab.model"]["sha256"] == sha256_file(weights)
    code, msg = run("translate", "--weights", str(weights), str(tiny_video), "-o", str(tmp_path / "plain"), "--no-c2pa")
    assert code == 0, msg
    (plain,) = (tmp_path / "plain").glob("*.mp4")
    assert read_credentials(plain).c2pa == "none" and read_credentials(plain).label is not None
