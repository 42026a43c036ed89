"""Training under torchrun, for real: 2 CPU processes (gloo) against 1 process on the same global batch.

The torchrun runs go through a small launcher that gives each rank its own working directory,
so a relative `-o` shows which ranks wrote files (only rank 0 may). Losses are compared per
iteration: they agree to float rounding (the all-reduce sums two half-batch gradients where one
process sums four per-image terms; measured ~1e-7 relative), far inside the 1e-4 asserted here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from facelab.checkpoint import safe_load
from facelab.cli import cli
from facelab.data.datasets import EpochSampler
from facelab.distributed import DistributedEpochSampler, dist_env, refuse_distributed
from facelab.errors import ConfigError

TINY = ["--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32", "--workers", "0",
        "--print-every", "1", "--display-every", "3", "--save-latest-every", "2", "--n-epochs", "2",
        "--n-epochs-decay", "2"]
# pix2pix's defaults otherwise (batch norm, synchronised over the ranks), minus dropout, whose masks
# cannot match between one batch of 4 and two of 2
PIX2PIX = ["--netG", "unet_128", "--no-dropout", "--batch-size", "4", *TINY]

LAUNCHER = """
import os, sys
os.chdir(os.path.join(sys.argv[1], "rank" + os.environ["RANK"]))
sys.argv = ["facelab"] + sys.argv[2:]
from facelab.cli import main
main()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node 2 <launcher> root -q --device cpu ARGS`, each rank in root/rank<r>/."""
    for r in (0, 1):
        (root / f"rank{r}").mkdir(parents=True, exist_ok=True)
    launcher = root / "launch.py"
    launcher.write_text(LAUNCHER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), str(launcher), str(root), "-q", "--device", "cpu", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ddp_data")
    for i in range(8):  # 2 global batches of 4 per epoch
        for side, off in (("A", 0), ("B", 50)):
            path = root / "pairs" / side / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.random.default_rng(i + off).integers(0, 256, (36, 36, 3), dtype=np.uint8)).save(path)
    for side in ("trainA", "trainB"):  # unpaired, for CycleGAN
        (root / "unpaired" / side).mkdir(parents=True)
        for i in range(4):
            (root / "unpaired" / side / f"{i}.png").write_bytes((root / "pairs" / side[-1] / f"{i}.png").read_bytes())
    return root


@pytest.fixture(scope="module")
def runs(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One process, 6 iterations; torchrun, 3 iterations (stopping mid-epoch), then --resume to 6."""
    root = tmp_path_factory.mktemp("ddp_runs")
    single = root / "single"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    res = CliRunner().invoke(cli, ["-q", "--device", "cpu", "train", "pix2pix", str(data / "pairs"), "-o", str(single),
                                   *PIX2PIX, "--max-steps", "6"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    ddp = root / "ddp"
    torchrun(ddp, "train", "pix2pix", str(data / "pairs"), "-o", "run", *PIX2PIX, "--max-steps", "3")
    first = ddp / "rank0" / "run"
    three = {"rows": rows(first), "files": sorted(str(p.relative_to(first)) for p in first.rglob("*"))}
    (root / "after3.json").write_text(json.dumps(three))
    torchrun(ddp, "train", "pix2pix", str(data / "pairs"), "-o", str(first), "--resume", "--max-steps", "6")
    return {"single": single, "ddp": first, "rank1": ddp / "rank1", "after3": root / "after3.json"}


@pytest.mark.slow
def test_losses_match_single_process_per_iteration(runs: dict[str, Path]) -> None:
    one, two = rows(runs["single"]), rows(runs["ddp"])
    assert [r["iteration"] for r in two] == [1, 2, 3, 4, 5, 6]  # resumed at 3: no row twice, none missing
    for a, b in zip(one, two):
        assert a.keys() == b.keys()
        for key in ("G_GAN", "G_L1", "D_real", "D_fake", "D", "lr"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (a["iteration"], key)


@pytest.mark.slow
def test_weights_and_checkpoints_match_single_process(runs: dict[str, Path]) -> None:
    one = safe_load(runs["single"] / "checkpoints" / "latest.pt")
    two = safe_load(runs["ddp"] / "checkpoints" / "latest.pt")
    assert one["meta"]["iteration"] == two["meta"]["iteration"] == 6
    assert len(two["rng_ranks"]) == 2  # each rank's RNG, for an exact resume
    for name in ("G", "D"):
        sd1, sd2 = one["nets"][name]["state_dict"], two["nets"][name]["state_dict"]
        assert sd1.keys() == sd2.keys()  # plain modules: no "module." prefix, BatchNorm keys as usual
        for key in sd1:
            assert torch.allclose(sd1[key].float(), sd2[key].float(), rtol=1e-3, atol=1e-5), (name, key)
    final = safe_load(runs["ddp"] / "final.pt")
    assert list(final["nets"]) == ["G"]


@pytest.mark.slow
def test_only_rank_0_writes(runs: dict[str, Path]) -> None:
    assert not any(runs["rank1"].iterdir())  # rank 1 ran in its own folder with the same relative -o
    after3 = json.loads(runs["after3"].read_text())
    assert [r["iteration"] for r in after3["rows"]] == [1, 2, 3]
    assert {"config.json", "log.jsonl", "log.csv", "index.html", "final.pt", "checkpoints/latest.pt",
            "images/iter_0000003.jpg"} <= set(after3["files"])


@pytest.mark.slow
def test_cyclegan_under_torchrun_with_per_rank_pools(data: Path, tmp_path: Path) -> None:
    torchrun(tmp_path, "train", "cyclegan", str(data / "unpaired"), "-o", "run", "--netG", "resnet_6blocks",
             "--batch-size", "2", "--max-steps", "3", "--pool-size", "4", *TINY)
    run = tmp_path / "rank0" / "run"
    assert [r["iteration"] for r in rows(run)] == [1, 2, 3]
    assert not any((tmp_path / "rank1").iterdir())
    state = safe_load(run / "checkpoints" / "latest.pt")
    assert set(state["nets"]) == {"G_A", "G_B", "D_A", "D_B"} and len(state["rng_ranks"]) == 2


COLLECTIVES = """
import json, os, sys
import torch
import torch.distributed as dist
from facelab.distributed import SyncBatchNorm2d, mean_over_ranks
dist.init_process_group("gloo")
rank = dist.get_rank()
# a stop asked on rank 1 only stops every rank; losses come back as the mean over ranks
losses, stop = mean_over_ranks({"a": float(rank), "b": 10.0 * rank}, stop=rank == 1, device=torch.device("cpu"))
# synchronised BatchNorm on half of a batch each = BatchNorm on the whole batch (output and gradient)
torch.manual_seed(0)
x = torch.randn(4, 3, 5, 5, requires_grad=True)
bn = SyncBatchNorm2d(3)
y = bn(x[2 * rank:2 * rank + 2])
(y * torch.arange(1.0, 4.0).view(1, 3, 1, 1)).sum().backward()
dist.all_reduce(x.grad)
ref_x = x.detach().clone().requires_grad_(True)
ref = torch.nn.BatchNorm2d(3)
ref_y = ref(ref_x)
(ref_y * torch.arange(1.0, 4.0).view(1, 3, 1, 1)).sum().backward()
out = {"losses": losses, "stop": stop,
       "y": (y - ref_y[2 * rank:2 * rank + 2]).abs().max().item(), "grad": (x.grad - ref_x.grad).abs().max().item(),
       "running": (bn.running_var - ref.running_var).abs().max().item()}
open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w").write(json.dumps(out))
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_stop_flag_losses_and_batchnorm_are_shared_by_all_ranks(tmp_path: Path) -> None:
    script = tmp_path / "collectives.py"
    script.write_text(COLLECTIVES)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                           "127.0.0.1", "--master_port", str(free_port()), str(script), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    for r in (0, 1):
        out = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert out["stop"] is True and out["losses"] == {"a": 0.5, "b": 5.0}
        assert out["y"] < 1e-5 and out["grad"] < 1e-5 and out["running"] < 1e-6


def test_distributed_sampler_splits_each_global_batch() -> None:
    single = list(EpochSampler(10, seed=3))  # batches of 4: two full ones, the last 2 items dropped
    ranks = [DistributedEpochSampler(10, 3, batch_size=4, rank=r, world_size=2) for r in (0, 1)]
    for s in ranks:
        s.set_epoch(0)
    parts = [list(s) for s in ranks]
    assert [len(p) for p in parts] == [len(s) for s in ranks] == [4, 4]
    for b in range(2):
        assert parts[0][2 * b:2 * b + 2] + parts[1][2 * b:2 * b + 2] == single[4 * b:4 * b + 4]
    for s in ranks:  # mid-epoch resume: skip counts global items
        s.set_epoch(0, skip=4)
    assert list(ranks[0]) + list(ranks[1]) == single[4:8]
    with pytest.raises(ConfigError, match="multiple of 2"):
        DistributedEpochSampler(10, 3, batch_size=3, rank=0, world_size=2)


def test_env_and_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert not dist_env().enabled
    refuse_distributed("anything")  # a single process is always fine
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert dist_env().rank == 1 and not dist_env().is_main
    with pytest.raises(ConfigError, match="train detector does not support several processes"):
        from facelab.detector.train import DetectorTrainConfig, train_detector

        train_detector(DetectorTrainConfig(dataset="nowhere", out="nowhere"))
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ConfigError, match="does not fit WORLD_SIZE"):
        dist_env()
