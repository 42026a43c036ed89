"""Weights registry, resolution, downloads and hashes, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

from facelab import hub
from facelab.errors import InputError, WeightsError


def _fake_checkpoint() -> bytes:
    buf = io.BytesIO()
    torch.save({"conv.weight": torch.arange(12, dtype=torch.float32).reshape(1, 3, 2, 2)}, buf)
    return buf.getvalue()


BODY = _fake_checkpoint()
GOOD = "/cyclegan/pretrained_models/horse2zebra.pth"
TRUNCATED = "/cyclegan/pretrained_models/zebra2horse.pth"
P2P = "/pix2pix/models-pytorch/edges2shoes.pth"


class _Server:
    def __init__(self) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                server.requests.append(self.path)
                if self.path in (GOOD, P2P):
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(BODY)))
                    self.end_headers()
                    self.wfile.write(BODY)
                elif self.path == TRUNCATED:
                    # Promise more than we send, then drop the connection.
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(BODY) + 4096))
                    self.end_headers()
                    self.wfile.write(BODY[: len(BODY) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                else:
                    self.send_error(404, "not here")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.closed = False
        self.thread.start()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    s = _Server()
    monkeypatch.setenv("FACELAB_MIRROR", s.url)
    monkeypatch.setenv("FACELAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACELAB_OFFLINE", raising=False)
    # Keep the repository's weights/ folder (and any real .pth a developer put there) out of it.
    monkeypatch.setattr(hub, "project_weights_dir", lambda: None)
    yield s
    s.close()


def _cache() -> Path:
    return hub.facelab_home() / "checkpoints"


# ------------------------------------------------------------------------------------ registry

def test_registry_names_families_and_urls() -> None:
    entries = [e for e in hub.REGISTRY.values() if not e.bundled]  # the 23 official generators
    assert len({e.name for e in entries}) == len(entries) == 23
    assert sum(e.family == "cyclegan" for e in entries) == 18
    assert sum(e.family == "pix2pix" for e in entries) == 5
    assert len({e.filename for e in entries}) == 23
    for e in entries:
        assert e.url.startswith("http://efrosgans.eecs.berkeley.edu/")
        assert e.filename == f"{e.name}.pth"
        assert e.licence and e.description
        if e.family == "cyclegan":
            assert e.url.startswith("http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/")
            assert e.arch["netG"] == "resnet_9blocks" and e.arch["norm"] == "instance"
            assert e.arch["use_dropout"] is False and e.default_size is None
        else:
            assert e.name.startswith("pix2pix_")
            assert e.url == f"http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{e.name[8:]}.pth"
            assert e.arch["netG"] == "unet_256" and e.arch["norm"] == "batch"
            assert e.arch["use_dropout"] is True and e.default_size == 256
    assert {"horse2zebra", "sat2map", "pix2pix_sat2map", "pix2pix_day2night"} <= set(hub.REGISTRY)


def test_the_shipped_detector_is_a_bundled_entry_with_a_hash() -> None:
    e = hub.get_entry(hub.DEFAULT_DETECTOR)
    assert e.family == "detector" and e.bundled and e.url == "" and e.filename == f"{e.name}.pth"
    assert e.sha256 is not None and len(e.sha256) == 64
    assert "research" in e.licence
    assert [x.name for x in hub.list_entries("detector")] == [hub.DEFAULT_DETECTOR]


def test_a_bundled_entry_is_never_downloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "project_weights_dir", lambda: tmp_path)  # a weights/ folder without the file
    monkeypatch.setenv("FACELAB_HOME", str(tmp_path / "home"))
    assert hub.bundled_path(hub.DEFAULT_DETECTOR) is None
    with pytest.raises(WeightsError, match="ships in the repository's weights/ folder"):
        hub.resolve(hub.DEFAULT_DETECTOR, offline=False)
    (tmp_path / f"{hub.DEFAULT_DETECTOR}.pth").write_bytes(b"not the shipped file")
    with pytest.raises(WeightsError, match="sha256 mismatch.*git checkout weights/"):
        hub.bundled_path(hub.DEFAULT_DETECTOR)


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(WeightsError, match="horse2zebra.*facelab weights list"):
        hub.get_entry("hors2zebra")


def test_facelab_home_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACELAB_HOME", str(tmp_path))
    assert hub.facelab_home() == tmp_path
    monkeypatch.delenv("FACELAB_HOME")
    assert hub.facelab_home() == Path.home() / ".cache" / "facelab"


# ---------------------------------------------------------------------------- fetch / resolve

def test_fetch_writes_file_and_sidecar_then_resolve_verifies(server: _Server) -> None:
    progress: list[tuple[int, int | None]] = []
    path = hub.resolve("horse2zebra", progress=lambda d, t: progress.append((d, t)))
    assert path == _cache() / "horse2zebra.pth"
    assert path.read_bytes() == BODY
    digest = hashlib.sha256(BODY).hexdigest()
    assert hub.sidecar_path(path).read_text().split()[0] == digest
    assert progress[-1] == (len(BODY), len(BODY))
    assert server.requests == [GOOD]
    assert torch.load(path, weights_only=True)["conv.weight"].shape == (1, 3, 2, 2)

    # Second use: no network, hash checked (a wrong record is caught).
    assert hub.resolve("horse2zebra") == path
    assert server.requests == [GOOD]
    assert hub.verify("horse2zebra")[0] is True
    hub.write_sidecar(path, "0" * 64)
    with pytest.raises(WeightsError, match="mismatch"):
        hub.resolve("horse2zebra")


def test_pix2pix_uses_its_own_url_and_filename(server: _Server) -> None:
    path = hub.fetch("pix2pix_edges2shoes")
    assert path.name == "pix2pix_edges2shoes.pth"
    assert server.requests == [P2P]


def test_tampered_file_is_rejected(server: _Server) -> None:
    path = hub.fetch("horse2zebra")
    path.write_bytes(BODY[:-1] + b"X")
    with pytest.raises(WeightsError) as exc:
        hub.resolve("horse2zebra")
    msg = str(exc.value)
    assert "mismatch" in msg and "corrupt or was changed" in msg
    assert str(path) in msg and "facelab weights fetch horse2zebra" in msg
    assert "\n" not in msg
    ok, detail = hub.verify("horse2zebra")
    assert ok is False and str(path) in detail


def test_truncated_download_leaves_nothing(server: _Server) -> None:
    with pytest.raises(WeightsError, match="cut off"):
        hub.resolve("zebra2horse")
    assert server.requests == [TRUNCATED]
    assert list(_cache().iterdir()) == []


def test_http_404_leaves_nothing(server: _Server) -> None:
    with pytest.raises(WeightsError, match="HTTP 404"):
        hub.fetch("apple2orange")
    assert list(_cache().iterdir()) == []


def test_unreachable_server_is_a_weights_error(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.close()  # nothing listens on that port any more
    with pytest.raises(WeightsError, match="cannot reach.*FACELAB_OFFLINE"):
        hub.fetch("horse2zebra")
    assert list(_cache().iterdir()) == []


def test_offline_missing_names_file_folder_and_url(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACELAB_OFFLINE", "1")
    with pytest.raises(WeightsError) as exc:
        hub.resolve("horse2zebra")
    msg = str(exc.value)
    assert "horse2zebra.pth" in msg
    assert str(_cache()) in msg
    assert server.url + GOOD.lstrip("/") in msg
    assert "\n" not in msg
    assert server.requests == []
    with pytest.raises(WeightsError, match="FACELAB_OFFLINE"):
        hub.fetch("horse2zebra")
    assert server.requests == []


def test_offline_argument_overrides_env(server: _Server) -> None:
    with pytest.raises(WeightsError, match="offline"):
        hub.resolve("horse2zebra", offline=True)
    assert server.requests == []


def test_hand_placed_file_without_sidecar_is_used(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACELAB_OFFLINE", "1")
    dest = _cache() / "style_monet.pth"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"anything")
    assert hub.resolve("style_monet") == dest
    assert hub.verify("style_monet")[0] is None


def test_project_folder_comes_before_cache(server: _Server, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    proj = tmp_path / "repo_weights"
    proj.mkdir()
    monkeypatch.setattr(hub, "project_weights_dir", lambda: proj)
    cached = hub.fetch("horse2zebra")
    (proj / "horse2zebra.pth").write_bytes(BODY)
    assert hub.resolve("horse2zebra") == proj / "horse2zebra.pth"
    assert cached.exists()
    status = {s.entry.name: s for s in hub.list_status()}
    assert status["horse2zebra"].where == "project"
    assert status["zebra2horse"].path is None


def test_explicit_weights(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.pth"):
        hub.resolve("horse2zebra", weights=tmp_path / "nope.pth")
    mine = tmp_path / "mine.pth"
    mine.write_bytes(BODY)
    assert hub.resolve("horse2zebra", weights=mine) == mine
    assert server.requests == []


def test_known_sha256_is_enforced_on_download(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = hub.REGISTRY["horse2zebra"]
    bad = hub.WeightsEntry(**{**entry.__dict__, "sha256": "f" * 64})
    monkeypatch.setitem(hub.REGISTRY, "horse2zebra", bad)
    with pytest.raises(WeightsError, match="expected"):
        hub.fetch("horse2zebra")
    assert list(_cache().iterdir()) == []


def test_download_rejects_wrong_expected_hash(server: _Server, tmp_path: Path) -> None:
    dest = tmp_path / "dl" / "x.pth"
    digest = hub.download(server.url + GOOD.lstrip("/"), dest)
    assert digest == hashlib.sha256(BODY).hexdigest() and dest.read_bytes() == BODY
    dest2 = tmp_path / "dl2" / "x.pth"
    with pytest.raises(WeightsError, match="sha256"):
        hub.download(server.url + GOOD.lstrip("/"), dest2, expected_sha256="0" * 64)
    assert list(dest2.parent.iterdir()) == []


# ------------------------------------------------------------------------------------------ CLI

@pytest.fixture
def cli_root() -> click.Group:
    """The real `facelab` group."""
    from facelab.cli import cli

    return cli


def test_cli_list(cli_root: click.Group, server: _Server) -> None:
    res = CliRunner().invoke(cli_root, ["weights", "list"])
    assert res.exit_code == 0, res.output
    for name in hub.REGISTRY:
        assert name in res.output
    assert "resnet_9blocks" in res.output and "unet_256" in res.output
    assert "publishes no hashes" in res.output
    res = CliRunner().invoke(cli_root, ["weights", "list", "--family", "pix2pix", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 5 and all(r["family"] == "pix2pix" and r["present"] is False for r in rows)


def test_cli_path_missing_is_one_line_exit_1(cli_root: click.Group, server: _Server) -> None:
    res = CliRunner().invoke(cli_root, ["weights", "path", "horse2zebra"])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "horse2zebra.pth" in lines[0]
    assert server.requests == []


def test_cli_fetch_path_verify(cli_root: click.Group, server: _Server) -> None:
    runner = CliRunner()
    res = runner.invoke(cli_root, ["weights", "fetch", "horse2zebra"])
    assert res.exit_code == 0, res.output
    path = _cache() / "horse2zebra.pth"
    assert path.read_bytes() == BODY and hub.sidecar_path(path).exists()

    res = runner.invoke(cli_root, ["weights", "path", "horse2zebra"])
    assert res.exit_code == 0 and res.stdout.strip() == str(path)

    res = runner.invoke(cli_root, ["weights", "verify"])
    assert res.exit_code == 0 and "ok" in res.stdout

    path.write_bytes(b"tampered")
    res = runner.invoke(cli_root, ["weights", "verify", "horse2zebra"])
    assert res.exit_code == 1 and "MISMATCH" in res.stdout


def test_cli_fetch_several_with_failure_is_partial(cli_root: click.Group, server: _Server) -> None:
    res = CliRunner().invoke(cli_root, ["weights", "fetch", "horse2zebra", "apple2orange"])
    assert res.exit_code == 3
    assert "HTTP 404" in res.stderr and (_cache() / "horse2zebra.pth").exists()


def test_cli_fetch_offline_and_usage(cli_root: click.Group, server: _Server,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    assert runner.invoke(cli_root, ["weights", "fetch"]).exit_code == 2
    assert runner.invoke(cli_root, ["weights", "fetch", "--all", "horse2zebra"]).exit_code == 2
    monkeypatch.setenv("FACELAB_OFFLINE", "1")
    res = runner.invoke(cli_root, ["weights", "fetch", "horse2zebra"])
    assert res.exit_code == 1 and "FACELAB_OFFLINE" in res.stderr
    res = runner.invoke(cli_root, ["weights", "fetch", "--all"])
    assert res.exit_code == 1 and "FACELAB_OFFLINE" in res.stderr
    assert server.requests == []
