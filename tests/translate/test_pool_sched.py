from __future__ import annotations

import random

import pytest
import torch

from facelab.config import CycleGANConfig
from facelab.translate.cyclegan import ImagePool
from facelab.translate.trainer import make_scheduler


def test_image_pool_fills_then_replays_history_half_the_time() -> None:
    random.seed(0)
    pool = ImagePool(4)
    first = [torch.full((1, 1, 2, 2), float(i)) for i in range(4)]
    for t in first:
        assert torch.equal(pool.query(t), t)  # filling: returns the new image
    replayed = 0
    for i in range(200):
        new = torch.full((1, 1, 2, 2), 100.0 + i)
        replayed += int(not torch.equal(pool.query(new), new))
    assert 70 < replayed < 130  # p = 0.5
    assert len(pool.images) == 4
    assert torch.equal(ImagePool(0).query(first[0]), first[0])


@pytest.mark.parametrize("policy", ["linear", "step", "cosine"])
def test_lr_schedules(policy: str) -> None:
    cfg = CycleGANConfig(dataroot="", out="", n_epochs=4, n_epochs_decay=4, lr_policy=policy, lr_decay_iters=2)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = make_scheduler(opt, cfg)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    if policy == "linear":  # official: constant for n_epochs, then linear to lr/(n_decay+1)
        assert lrs[:4] == pytest.approx([2e-4] * 4)
        assert lrs[4:] == pytest.approx([2e-4 * (1 - k / 5) for k in range(1, 5)])
    elif policy == "step":
        assert lrs[:2] == pytest.approx([2e-4] * 2) and lrs[2] == pytest.approx(2e-5)
    else:
        assert lrs[0] == pytest.approx(2e-4) and lrs[4] == pytest.approx(0.0, abs=1e-12)
