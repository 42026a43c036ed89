"""Train benchmark: iterations/s of CycleGAN and pix2pix, facelab's trainer against a naive loop.

    python bench/train_speed.py --quick          # alone; bench/run_all.py runs it with the rest

Configs (batch 1, Adam, the official losses and defaults):

- **256**: the official ones. CycleGAN `resnet_9blocks` ngf/ndf 64, InstanceNorm, LSGAN, pool 50,
  identity 0.5; pix2pix `unet_256`, BatchNorm, dropout, vanilla GAN, L1 100; load 286, crop 256.
- **small** (a CPU config): CycleGAN `resnet_6blocks`, pix2pix `unet_128`, ngf/ndf 16, load
  143, crop 128.

Each runs twice on the same synthetic data set (JPEG crops of `samples/`, written to a temporary
folder: `trainA/`, `trainB/` for CycleGAN, A|B side by side for pix2pix):

1. **naive**: the official `train.py` loop written out: a PIL + torchvision-transforms data set
   in a `DataLoader` without workers, then `optimize_parameters` as the official models do it
   (forward, generator step, one backward per discriminator), nets built by facelab's factory.
2. **facelab**: `facelab.translate.trainer.train(Pix2PixConfig(...))`, the loop behind `facelab
   train`, with its default data workers; timed from its `on_step` callback.

The first `warmup` iterations (DataLoader start, first allocations) are not counted; the data set
holds more images than iterations, so no epoch ends (with its checkpoint) inside the window.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from benchlib import PHOTOS, run_alone, table
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from facelab.config import TRAIN_CONFIGS, CycleGANConfig, Pix2PixConfig
from facelab.nn.factory import create_discriminator, create_generator
from facelab.nn.layers import init_weights
from facelab.translate.cyclegan import ImagePool
from facelab.translate.trainer import train


@dataclass(frozen=True)
class Setup:
    name: str
    model: str
    netG: str
    nf: int
    load: int
    crop: int


def setups(quick: bool) -> list[Setup]:
    small = [Setup("small", "cyclegan", "resnet_6blocks", 16, 143, 128), Setup("small", "pix2pix", "unet_128", 16, 143, 128)]
    if quick:
        return small
    return [Setup("256", "cyclegan", "resnet_9blocks", 64, 286, 256), Setup("256", "pix2pix", "unet_256", 64, 286, 256),
            *small]


def make_data(root: Path, model: str, n: int, size: int) -> Path:
    """n training items of `size` px: CycleGAN trainA/ + trainB/, pix2pix A|B pairs in train/."""
    def photo(i: int) -> Image.Image:
        src = Image.open(PHOTOS[i % len(PHOTOS)]).convert("RGB")
        s = min(src.size)
        box = ((src.width - s) // 2, (src.height - s) // 2, (src.width + s) // 2, (src.height + s) // 2)
        img = src.crop(box).resize((size, size), Image.BICUBIC)
        return img.rotate(90 * (i // len(PHOTOS))) if i >= len(PHOTOS) else img

    root = root / model
    for i in range(n):
        a, b = photo(i), photo(i + 1).transpose(Image.FLIP_LEFT_RIGHT)
        if model == "cyclegan":
            for sub, img in (("trainA", a), ("trainB", b)):
                (root / sub).mkdir(parents=True, exist_ok=True)
                img.save(root / sub / f"{i:04d}.jpg", quality=95)
        else:
            (root / "train").mkdir(parents=True, exist_ok=True)
            ab = Image.new("RGB", (2 * size, size))
            ab.paste(a, (0, 0))
            ab.paste(b, (size, 0))
            ab.save(root / "train" / f"{i:04d}.jpg", quality=95)
    return root


# ---------------------------------------------------------------------------------------------
# 1. the naive loop: official data sets and optimize_parameters


class OfficialData(Dataset):
    """Official unaligned / aligned data sets: PIL, Resize(load, BICUBIC), RandomCrop, flip."""

    def __init__(self, root: Path, model: str, load: int, crop: int) -> None:
        self.model, self.load, self.crop = model, load, crop
        if model == "cyclegan":
            self.a = sorted((root / "trainA").glob("*.jpg"))
            self.b = sorted((root / "trainB").glob("*.jpg"))
        else:
            self.a = sorted((root / "train").glob("*.jpg"))
        self.tf = transforms.Compose([transforms.Resize([load, load], transforms.InterpolationMode.BICUBIC),
                                      transforms.RandomCrop(crop), transforms.RandomHorizontalFlip(),
                                      transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])
        self.norm = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if self.model == "cyclegan":
            b = self.b[random.randint(0, len(self.b) - 1)]
            return {"A": self.tf(Image.open(self.a[i]).convert("RGB")), "B": self.tf(Image.open(b).convert("RGB"))}
        ab = Image.open(self.a[i]).convert("RGB")
        w = ab.width // 2
        a, b = ab.crop((0, 0, w, ab.height)), ab.crop((w, 0, 2 * w, ab.height))
        x, y = random.randint(0, self.load - self.crop), random.randint(0, self.load - self.crop)
        flip = random.random() > 0.5
        out = {}
        for k, img in (("A", a), ("B", b)):  # same crop and flip for both halves
            img = img.resize((self.load, self.load), Image.BICUBIC).crop((x, y, x + self.crop, y + self.crop))
            out[k] = self.norm(img.transpose(Image.FLIP_LEFT_RIGHT) if flip else img)
        return out


class OfficialGANLoss(nn.Module):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.loss = nn.MSELoss() if mode == "lsgan" else nn.BCEWithLogitsLoss()

    def forward(self, pred: torch.Tensor, real: bool) -> torch.Tensor:
        return self.loss(pred, torch.tensor(1.0 if real else 0.0).expand_as(pred))


def set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad = flag


def naive(s: Setup, data: Path, steps: int, warmup: int) -> float:
    """Seconds per iteration of the official loop, over the iterations after `warmup`."""
    torch.manual_seed(0)
    d = CycleGANConfig(dataroot="", out="") if s.model == "cyclegan" else Pix2PixConfig(dataroot="", out="")
    g_kw = {"ngf": s.nf, "norm": d.norm, "use_dropout": d.use_dropout}
    dkw = {"ndf": s.nf, "norm": d.norm, "n_layers_D": 3}
    loader = DataLoader(OfficialData(data, s.model, s.load, s.crop), batch_size=1, shuffle=True, num_workers=0)
    gan, l1 = OfficialGANLoss(d.gan_mode), nn.L1Loss()
    if s.model == "cyclegan":
        G_A, G_B = (init_weights(create_generator(s.netG, **g_kw)) for _ in range(2))
        D_A, D_B = (init_weights(create_discriminator("basic", input_nc=3, **dkw)) for _ in range(2))
        opt_G = torch.optim.Adam([*G_A.parameters(), *G_B.parameters()], lr=2e-4, betas=(0.5, 0.999))
        opt_D = torch.optim.Adam([*D_A.parameters(), *D_B.parameters()], lr=2e-4, betas=(0.5, 0.999))
        pool_A, pool_B = ImagePool(50), ImagePool(50)
    else:
        G = init_weights(create_generator(s.netG, **g_kw))
        D = init_weights(create_discriminator("basic", input_nc=6, **dkw))
        opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def backward_D_basic(netD: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        loss = (gan(netD(real), True) + gan(netD(fake.detach()), False)) * 0.5
        loss.backward()
        return loss

    done, t0 = 0, 0.0
    while done < steps:
        for batch in loader:
            if done == warmup:
                t0 = time.perf_counter()
            real_A, real_B = batch["A"], batch["B"]
            if s.model == "cyclegan":
                fake_B = G_A(real_A)
                rec_A = G_B(fake_B)
                fake_A = G_B(real_B)
                rec_B = G_A(fake_A)
                set_requires_grad([D_A, D_B], False)
                opt_G.zero_grad()
                loss_idt_A = l1(G_A(real_B), real_B) * 10.0 * 0.5
                loss_idt_B = l1(G_B(real_A), real_A) * 10.0 * 0.5
                loss_G = (gan(D_A(fake_B), True) + gan(D_B(fake_A), True) + l1(rec_A, real_A) * 10.0
                          + l1(rec_B, real_B) * 10.0 + loss_idt_A + loss_idt_B)
                loss_G.backward()
                opt_G.step()
                set_requires_grad([D_A, D_B], True)
                opt_D.zero_grad()
                backward_D_basic(D_A, real_B, pool_B.query(fake_B))
                backward_D_basic(D_B, real_A, pool_A.query(fake_A))
                opt_D.step()
            else:
                fake_B = G(real_A)
                set_requires_grad([D], True)
                opt_D.zero_grad()
                fake_AB = torch.cat((real_A, fake_B), 1)
                loss_D = (gan(D(fake_AB.detach()), False) + gan(D(torch.cat((real_A, real_B), 1)), True)) * 0.5
                loss_D.backward()
                opt_D.step()
                set_requires_grad([D], False)
                opt_G.zero_grad()
                loss_G = gan(D(fake_AB), True) + l1(fake_B, real_B) * 100.0
                loss_G.backward()
                opt_G.step()
            done += 1
            if done >= steps:
                break
    return (time.perf_counter() - t0) / (steps - warmup)


# ---------------------------------------------------------------------------------------------
# 2. facelab's trainer


def facelab(s: Setup, data: Path, out: Path, steps: int, warmup: int) -> float:
    stamps: list[float] = []
    cfg = TRAIN_CONFIGS[s.model](dataroot=str(data), out=str(out), netG=s.netG, ngf=s.nf, ndf=s.nf, load_size=s.load,
                                 crop_size=s.crop, max_steps=steps, device="cpu", print_every=10 ** 6,
                                 display_every=10 ** 6, save_latest_every=10 ** 6, save_epoch_every=10 ** 6)
    train(cfg, on_step=lambda info: stamps.append(time.perf_counter()))
    # stamps[k] is taken after iteration k+1: the window covers iterations warmup+1 .. steps
    return (stamps[steps - 1] - stamps[warmup - 1]) / (steps - warmup)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    warmup, steps = (2, 5) if args.quick else (2, 6)
    rows = []
    for s in setups(args.quick):
        n_steps = steps if s.name == "256" or args.quick else 20
        data = make_data(work / f"data_{s.name}", s.model, n_steps + 2, s.load)
        random.seed(0)
        np.random.seed(0)
        repeat = 1 if args.quick or s.name == "256" else args.repeat  # a 256 CycleGAN step: ~10-30 s on 2 cores
        t_naive = min(naive(s, data, n_steps, warmup) for _ in range(repeat))
        t_fl = min(facelab(s, data, work / f"run_{s.name}_{s.model}_{i}", n_steps, warmup) for i in range(repeat))
        rows.append({"config": s.name, "model": s.model, "netG": s.netG, "ngf_ndf": s.nf, "crop": s.crop,
                     "iterations_timed": n_steps - warmup, "naive_it_per_s": 1 / t_naive,
                     "facelab_it_per_s": 1 / t_fl, "ratio": t_naive / t_fl,
                     "naive_s_per_it": round(t_naive, 4), "facelab_s_per_it": round(t_fl, 4)})
        print(json.dumps(rows[-1]), flush=True)
    md = table(["config", "model", "netG", "ngf/ndf", "crop", "iterations timed", "naive it/s", "facelab it/s",
                "x naive"], [[r["config"], r["model"], r["netG"], r["ngf_ndf"], r["crop"], r["iterations_timed"],
                              r["naive_it_per_s"], r["facelab_it_per_s"], r["ratio"]] for r in rows], "lllrrrrrr")
    return {"rows": rows, "warmup_iterations": warmup, "markdown": md,
            "note": "naive: DataLoader without workers; facelab: TrainLoopConfig.workers (default 2)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None)
    run_alone(run, ap.parse_args(), "train")


if __name__ == "__main__":
    main()
