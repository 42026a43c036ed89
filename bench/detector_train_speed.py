"""Training throughput of the detector's CNN on the CPU: crop size and memory format, in one run.

    python bench/detector_train_speed.py                 # EfficientNet-Lite0, batch 32, 3 timed steps each
    python bench/detector_train_speed.py --cache runs/reals --steps 10   # also the online-fakes data path

Times forward + backward + AdamW steps on random uint8 crops (after one warm-up step) for 128
and 160 px crops, NCHW and channels_last, with the stem and first block frozen as the default
recipe does; with ``--cache`` (a real-face cache of ``facelab train detector --real``) also how
long the online fakes (self-blend or blended swap, plus the augmentations) take per pair.
Compare the rows as ratios: the machine is shared and its absolute speed varies.
"""

from __future__ import annotations

import argparse
import time

import torch

from facelab.detector.cnn import create_classifier, normalize
from facelab.detector.train import freeze_stages


def step_rate(size: int, channels_last: bool, steps: int, batch: int) -> float:
    torch.manual_seed(0)
    net = create_classifier("efficientnet_lite0", pretrained=True)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    frozen = freeze_stages(net, "efficientnet_lite0", 2)
    net.train()
    for m in frozen:
        m.eval()
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    x8 = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8)
    y = torch.randint(0, 2, (batch,)).float()
    t0 = 0.0
    for i in range(steps + 1):
        if i == 1:
            t0 = time.perf_counter()
        x = normalize(x8, (0.5,) * 3, (0.5,) * 3)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--cache", default=None, help="a real-face cache: also time the online fakes")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    for size in (128, 160):
        for cl in (False, True):
            rate = step_rate(size, cl, args.steps, args.batch)
            print(f"{size} px {'channels_last' if cl else 'NCHW':13s} {rate:6.1f} images/s")
    if args.cache:
        from facelab.detector.online import OnlineFakes, augmentations
        from facelab.detector.realfaces import load_real_cache

        faces = load_real_cache(args.cache)
        ds = OnlineFakes(faces, faces.indices("train"), {"sbi": 1, "swap": 1}, 0, augmentations())
        n = 100
        t0 = time.perf_counter()
        for k in range(n):
            ds[k]
        print(f"online fakes: {(time.perf_counter() - t0) / n * 1000:.1f} ms per (real, fake) pair")


if __name__ == "__main__":
    main()
