"""A person's motion fingerprint (facelab.detector.fingerprint) on real clips.

Needs the ``dlib`` extra (68-point landmarks, face embeddings) and ``../shared/data``; skips
cleanly without either. Real tracking, real dlib models, real files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from facelab.cli import cli
from facelab.detector.facetrace import FaceTrace, trace_video
from facelab.detector.fingerprint import FORMAT, SIGNALS, Fingerprint, behaviour_signals, build_fingerprint
from facelab.errors import InputError
from facelab.faces.detect import FaceDetector

pytest.importorskip("dlib")

PERSON = ("real_faces", "pcavs_voxceleb2", "audio_00104.mp4")  # 12 s, one person
OTHER = ("real_faces", "grid_lipnet", "lbax4n.mpg")  # 3 s, another person


@pytest.fixture(scope="module")
def traces(shared_data: Path) -> tuple[FaceTrace, FaceTrace]:
    det = FaceDetector(device="cpu", min_face_size=40)
    out = []
    for parts in (PERSON, OTHER):
        found = trace_video(shared_data.joinpath(*parts), det, dense=True, embed=True)
        out.append(max(found.values(), key=len))
    return out[0], out[1]


def test_behaviour_signals_follow_the_face(traces: tuple[FaceTrace, FaceTrace]) -> None:
    person, _ = traces
    assert person.points68 is not None
    sig = behaviour_signals(person.points68, person.image_size)
    assert sig.shape == (len(person), len(SIGNALS)) and np.isfinite(sig).mean() > 0.95
    col = dict(zip(SIGNALS, sig.T))
    assert np.nanmedian(np.abs(col["yaw"])) < 45 and np.nanstd(col["mouth_open"]) > 0.005  # a talking, roughly frontal face
    assert 0.1 < np.nanmedian(col["eye_left"]) < 0.5  # the usual eye aspect ratio of open eyes


def test_fingerprint_round_trip_and_identity(traces: tuple[FaceTrace, FaceTrace], tmp_path: Path) -> None:
    person, other = traces
    f0 = int(person.frames[0])
    split = f0 + round(8 * (person.fps or 25))
    fp = build_fingerprint("vox", [person.between(f0, split)])
    path = tmp_path / "vox.fp"
    fp.save(path)
    raw = torch.load(path, weights_only=True)  # plain tensors and builtins, no pickled code
    assert raw["format"] == FORMAT and raw["signals"] == list(SIGNALS)
    back = Fingerprint.load(path)
    assert np.allclose(back.precision, fp.precision) and back.windows == fp.windows
    rest = back.score(person.between(split, int(person.frames[-1]) + 1))
    assert rest.same_person is True and rest.probability is not None and rest.windows
    stranger = back.score(other)
    assert stranger.same_person is False and stranger.probability is None and "not this person" in (stranger.reason or "")
    with pytest.raises(InputError, match="windows"):
        build_fingerprint("short", [person.between(f0, f0 + 50)])


def test_cli_build_and_detect_reference(shared_data: Path, tmp_path: Path) -> None:
    fp, out = tmp_path / "p.fp", tmp_path / "d.json"
    res = CliRunner().invoke(cli, ["fingerprint", "build", "vox", str(shared_data.joinpath(*PERSON)), "-o", str(fp)])
    assert res.exit_code == 0, res.output
    assert "windows" in res.output and fp.is_file()
    res = CliRunner().invoke(cli, ["fingerprint", "build", "vox", str(shared_data.joinpath(*PERSON)), "-o", str(fp)])
    assert res.exit_code != 0 and "exists" in res.output
    res = CliRunner().invoke(cli, ["detect", str(shared_data.joinpath(*OTHER)), "--reference", str(fp), "--weights",
                                   "none", "--no-landmarks", "--no-lip-sync", "--json", str(out)])
    assert res.exit_code == 0, res.output
    rec = json.loads(out.read_text())[0]
    sig = rec["tracks"][0]["signals"]["fingerprint"]
    assert sig["ran"] is False and sig["same_person"] is False and "not this person" in sig["skipped_reason"]
    assert rec["signals"]["lip_sync"]["skipped_reason"] == "lip-sync check switched off"
    assert rec["settings"]["reference"] == str(fp)
    bad = tmp_path / "bad.fp"
    bad.write_bytes(b"not a fingerprint")
    res = CliRunner().invoke(cli, ["detect", str(shared_data.joinpath(*OTHER)), "--reference", str(bad)])
    assert res.exit_code == 1 and "bad.fp" in res.output
