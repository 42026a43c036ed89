"""The CLI as a user meets it: version, help with examples everywhere, one-line errors, docs in sync."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

from facelab import __version__
from facelab.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def all_commands() -> list[tuple[list[str], click.Command]]:
    sys.path.insert(0, str(ROOT / "tools"))
    from gen_cli_docs import walk

    return walk(cli, [])


def test_version() -> None:
    res = CliRunner().invoke(cli, ["--version"])
    assert res.exit_code == 0 and __version__ in res.output


@pytest.mark.parametrize("path", [p for p, _ in all_commands()], ids=lambda p: " ".join(p) or "facelab")
def test_every_command_has_help_with_examples(path: list[str]) -> None:
    res = CliRunner().invoke(cli, [*path, "--help"])
    assert res.exit_code == 0
    cmd = dict((tuple(p), c) for p, c in all_commands())[tuple(path)]
    if not isinstance(cmd, click.Group) or not path:
        assert "Example" in res.output, f"`facelab {' '.join(path)} --help` shows no examples"


def test_docs_cli_md_is_up_to_date() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    from gen_cli_docs import render

    assert (ROOT / "docs" / "cli.md").read_text() == render(), "run: python tools/gen_cli_docs.py"


def test_errors_are_one_line_and_v_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "w.pth"
    bad.write_bytes(b"\x00garbage")
    args = ["translate", "--weights", str(bad), str(tmp_path / "x.jpg"), "-o", str(tmp_path / "y.jpg")]
    (tmp_path / "x.jpg").write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "facelab", *args], capture_output=True, text=True)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "w.pth" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "facelab", "-v", *args], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert not (tmp_path / "y.jpg").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_device_cuda_without_gpu_is_a_clear_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["--device", "cuda", "translate", "--model", "horse2zebra",
                                   str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png")],
                             env={"FACELAB_OFFLINE": "1", "FACELAB_HOME": str(tmp_path)})
    assert res.exit_code == 1


def test_usage_errors_exit_2() -> None:
    assert CliRunner().invoke(cli, ["translate", "x.jpg", "-o", "y.jpg"]).exit_code == 2  # no --model/--weights
    assert CliRunner().invoke(cli, ["no-such-command"]).exit_code == 2


def test_top_level_layout_and_readme_quickstart() -> None:
    for name in ("pyproject.toml", "README.md", "facelab", "weights", "tests", "samples", "docs", "bench", ".ci/run"):
        assert (ROOT / name).exists(), name
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.+?)\n```", quick)
    assert commands == ['python -m pip install -e . && facelab demo',
                        'python -m pip install -e ".[test]" && python -m pytest']
    ci = subprocess.run(["awk", '/ci:test-command/{f=1; next} f && /^python/{print; exit}', "README.md"],
                        cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert ci == commands[1]


def test_checkpoints_are_always_loaded_weights_only() -> None:
    for path in (ROOT / "facelab").rglob("*.py"):
        for call in re.findall(r"torch\.load\([^)]*\)", path.read_text()):
            assert "weights_only=True" in call, f"{path}: {call}"
