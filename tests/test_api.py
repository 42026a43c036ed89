"""The Python API (`import facelab`): cheap to import, the same results as the CLI, and every
example of docs/api.md runs as written (real models, real files, on the CPU)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import facelab
from facelab.cli import cli
from facelab.detector.results import VERDICTS
from facelab.errors import ConfigError, InputError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def test_import_is_cheap_and_names_resolve_lazily() -> None:
    code = ("import sys, facelab; heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'cv2', 'c2pa')"
            " or m.startswith('facelab.')]; print(heavy); print(sorted(set(facelab.__all__) - set(dir(facelab))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "[]"]
    assert callable(facelab.detect) and callable(facelab.swap) and callable(facelab.translate)
    assert facelab.MediaResult.__name__ == "MediaResult" and facelab.load_translator.__module__ == "facelab.translate.infer"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        facelab.nope  # noqa: B018


def test_done_when_one_liner() -> None:
    code = "import facelab; print(facelab.detect(['samples/astronaut_pan.mp4'])[0].verdict)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in VERDICTS


def test_api_and_cli_give_the_same_result(tmp_path: Path) -> None:
    photo = ROOT / "samples" / "grace_hopper.jpg"
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "detect", str(photo), "--json", str(tmp_path / "d.json")])
    assert res.exit_code == 0, res.output
    cli_record = json.loads((tmp_path / "d.json").read_text())[0]
    api_record = facelab.detect([photo], device="cpu")[0].to_json()
    for key in ("verdict", "fake_probability", "reasons", "signals", "provenance", "settings"):
        assert api_record[key] == cli_record[key], key


def test_api_errors_are_facelab_errors(tmp_path: Path) -> None:
    photo = ROOT / "samples" / "astronaut.jpg"
    with pytest.raises(ConfigError, match="exactly one"):
        facelab.swap(photo, photo, tmp_path / "o.jpg", model="runs/x")
    with pytest.raises(ConfigError, match="image output extension"):
        facelab.swap(photo, photo, tmp_path / "o.mp4")
    with pytest.raises(InputError, match="holds no images or videos"):
        facelab.detect([tmp_path])
    missing = facelab.detect([tmp_path / "missing.jpg"], weights="none", landmarks=False)[0]
    assert missing.error is not None and "missing.jpg" in missing.error


def test_docs_api_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), flags=re.S)
    assert len(blocks) >= 5
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), namespace)  # noqa: S102 - the page's own examples
    assert (tmp_path / "out" / "astronaut_swapped.jpg").is_file()
    assert sorted(p.name for p in (tmp_path / "out" / "translated").iterdir()) == ["coffee.jpg", "rocket.jpg"]
