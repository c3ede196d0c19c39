"""Can data loading keep up with training? Images/s of the training loader alone and of training steps alone.

    .venv/bin/python bench/bench_train.py                      # this machine, CPU
    .venv/bin/python bench/bench_train.py --device cuda --workers 0 4 8 --batch-size 64

Loader: PNG face crops (256 px) + masks from a manifest -> paired random crop, flip, JPEG -> to_tensor,
through the same TrainDataset / StepBatchSampler / Collate that `fakeseg train` uses. Crops are made from
../shared/data/real_faces when it exists (else textured noise), written to a temp folder first.
Training: forward + backward + Adam step of fn3 and vgg5 (seg, 256 px) on a batch already in memory,
with the engine's settings (bf16 autocast + channels_last where the engine uses them, unless --no-amp). Prints a
markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from fakeseg._memory import reuse_freed_memory
from fakeseg.data.augment import Augment
from fakeseg.data.datasets import Collate, EpochPlan, ManifestSource, StepBatchSampler, TrainDataset, pooled_rows
from fakeseg.data.pool import pack_manifest
from fakeseg.data.records import read_manifest
from fakeseg.models import create_model
from fakeseg.train import _autocast, _loss

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_faces" / "utkface_crop_part1"


def make_crops(root: Path, n: int, size: int = 256) -> Path:
    files = sorted(SHARED.glob("*.jpg"))[:n] if SHARED.is_dir() else []
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        if files:
            img = cv2.resize(
                cv2.imread(str(files[i % len(files)])), (size, size), interpolation=cv2.INTER_LINEAR
            )
        else:
            img = cv2.resize(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), (size, size))
        mask = np.zeros((size, size), np.uint8)
        if i % 2:
            cv2.ellipse(mask, (size // 2, size // 2), (size // 5, size // 4), 0, 0, 360, 255, -1)
            cv2.imwrite(str(root / f"m{i}.png"), mask)
        cv2.imwrite(str(root / f"i{i}.png"), img)
        rows.append([f"i{i}.png", f"m{i}.png" if i % 2 else "", i % 2, "bench"])
    with open(root / "train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "mask", "label", "method"])
        w.writerows(rows)
    return root / "train.csv"


def bench_loader(manifest: Path, workers: int, batch: int, steps: int, pin: bool, pooled: bool = False) -> float:
    records = read_manifest(manifest)
    if pooled:
        pack_manifest(manifest)
    rows = pooled_rows(records, [manifest]) if pooled else None
    ds = TrainDataset(ManifestSource(records, [None] * len(records), rows), None, 256, seed=0, augment=Augment())
    plan = EpochPlan.build(len(records), synth=False, synth_fraction=0.0, epoch_size=None, seed=0)
    sampler = StepBatchSampler(plan, batch, total_steps=steps + 2)
    loader = torch.utils.data.DataLoader(
        ds,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=Collate(),
        pin_memory=pin,
        prefetch_factor=4 if workers else None,
    )
    it = iter(loader)
    for _ in range(2):  # worker start-up is not throughput
        next(it)
    t = time.perf_counter()
    for _ in range(steps):
        next(it)
    return steps * batch / (time.perf_counter() - t)


def bench_model(arch: str, device: torch.device, batch: int, steps: int, amp: bool) -> float:
    torch.manual_seed(0)
    model = create_model(arch, task="seg").to(device)
    autocast = _autocast(device, amp)
    cl = autocast is not contextlib.nullcontext
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, 256, 256, device=device)
    x = x.contiguous(memory_format=torch.channels_last) if cl else x
    mask = (torch.rand(batch, 256, 256, device=device) > 0.8).to(torch.uint8)
    label = torch.ones(batch, device=device)

    def step():
        with autocast():
            out = model(x)
        loss = _loss(out, mask, label, "seg", None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--loader-steps", type=int, default=8)
    p.add_argument("--train-steps", type=int, default=4)
    p.add_argument("--archs", nargs="+", default=["fn3", "vgg5"])
    p.add_argument("--no-amp", action="store_true")
    p.add_argument("--no-reuse-memory", action="store_true", help="without `fakeseg train`'s malloc setting")
    args = p.parse_args()
    if not args.no_reuse_memory:
        reuse_freed_memory()  # as `fakeseg train` runs (fakeseg/_memory.py)
    device = torch.device(args.device)
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "-"
    print(
        f"machine: {os.cpu_count()} cores ({cpu}), torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), device {device} {gpu}"
    )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}\n")
    print("| what | setting | images/s |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        n = args.batch_size * (args.loader_steps + 2)
        manifest = make_crops(Path(tmp), n)
        for pooled in (False, True):
            what = "decoded pool (`synth --pack`)" if pooled else "PNG crop + mask"
            for w in args.workers:
                rate = bench_loader(manifest, w, args.batch_size, args.loader_steps, device.type == "cuda", pooled)
                print(f"| loading ({what}, paired aug, uint8 batch) | {w} workers, batch {args.batch_size} "
                      f"| {rate:.0f} |", flush=True)
    for arch in args.archs:
        rate = bench_model(arch, device, args.batch_size, args.train_steps, amp=not args.no_amp)
        in_bf16 = _autocast(device, not args.no_amp) is not contextlib.nullcontext  # the engine's own choice
        amp = "bf16 autocast + channels_last" if in_bf16 else "fp32"
        print(
            f"| training {arch}-seg 256 px (fwd+bwd+Adam) | {device.type}, {amp}, batch {args.batch_size} "
            f"| {rate:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
