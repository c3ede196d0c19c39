"""How strong must a purely local forgery cue be for a small FCN to learn it on this CPU budget, and does a
curriculum (the cue exaggerated first, weakened to its real strength over training) lower that bar?

A controlled toy with no synthesis in the way: genuine face crops of a pool, half of them with a random
ellipse where Gaussian noise of `--strength` grey levels is added (or the region is resampled at 1/2 and
back: `--cue blur`). Training draws fresh ellipses every step; validation is 200 fixed samples at the
final strength. Same seed, same batches: only the option under test differs.

    .venv/bin/python bench/cue_sensitivity.py --pool runs/learnability/rerender_clean/train/manifest.csv \\
        --strength 4 --steps 300                       # the cue as it is
    .venv/bin/python bench/cue_sensitivity.py --pool ... --strength 4 --start-strength 20 --steps 300

Prints one JSON line per 50 steps (loss, validation image AUC of the mean mask, Fg-IoU at 0.5) and appends
the last one to runs/cue_sensitivity/results.jsonl.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from fakeseg.data.io import read_image
from fakeseg.data.transforms import to_tensor
from fakeseg.metrics import roc_auc
from fakeseg.models import create_model

OUT = Path("runs/cue_sensitivity")


def genuine_crops(manifest: Path, n: int) -> np.ndarray:
    rows = [r for r in csv.DictReader(manifest.open()) if r["label"] == "0"][:n]
    if len(rows) < n:
        raise SystemExit(f"{manifest}: {len(rows)} genuine rows, need {n}")
    return np.stack([read_image(manifest.parent / r["image"]) for r in rows])


def with_cue(image: np.ndarray, rng: np.random.Generator, cue: str, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Half the time the image untouched (empty mask); otherwise the cue inside a random ellipse."""
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    if rng.random() < 0.5:
        return image, mask
    centre = (int(rng.integers(w // 4, 3 * w // 4)), int(rng.integers(h // 4, 3 * h // 4)))
    axes = (int(rng.integers(w // 12, w // 4)), int(rng.integers(h // 12, h // 4)))
    cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    if cue == "noise":
        changed = np.clip(image + rng.normal(0, strength, image.shape), 0, 255).astype(np.uint8)
    else:  # resampled at 1/2 and back, the change scaled by `strength` (1: as resampled)
        small = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        blurred = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        changed = np.clip(image + strength * (blurred - image), 0, 255).astype(np.uint8)
    return np.where(mask[..., None] > 0, changed, image), mask


def batch(images: np.ndarray, rng: np.random.Generator, n: int, cue: str, strength: float):
    pairs = [with_cue(images[i], rng, cue, strength) for i in rng.integers(0, len(images), n)]
    x = to_tensor(np.stack([p[0] for p in pairs])).contiguous(memory_format=torch.channels_last)
    return x, torch.from_numpy(np.stack([p[1] for p in pairs])).float()[:, None]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pool", type=Path, required=True, help="a manifest whose genuine rows give the crops")
    p.add_argument("--cue", choices=("noise", "blur"), default="noise")
    p.add_argument("--strength", type=float, default=4.0, help="noise sigma in grey levels (blur: change scale)")
    p.add_argument("--start-strength", type=float, help="curriculum: start here, reach --strength at 60 %% of steps")
    p.add_argument("--arch", default="fn3")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--pos-weight", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (the paper's: 1e-3)")
    p.add_argument("--no-amp", dest="amp", action="store_false")
    args = p.parse_args()
    torch.manual_seed(0)
    images = genuine_crops(args.pool, 1200)
    train, val = images[:1000], images[1000:]
    vx, vy = batch(val, np.random.default_rng(1), 200, args.cue, args.strength)
    model = create_model(args.arch, "seg").to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999))
    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.amp)  # noqa: E731
    pos_weight = torch.tensor(args.pos_weight)
    start = args.start_strength if args.start_strength is not None else args.strength
    rng, t, row = np.random.default_rng(0), time.time(), {}
    for step in range(1, args.steps + 1):
        strength = start + (args.strength - start) * min(1.0, step / (0.6 * args.steps))
        x, y = batch(train, rng, args.batch_size, args.cue, strength)
        with autocast():
            out = model(x)
        loss = F.binary_cross_entropy_with_logits(out.float(), y, pos_weight=pos_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == args.steps:
            model.eval()
            with torch.no_grad(), autocast():
                prob = torch.cat([torch.sigmoid(model(vx[i : i + 50]).float()) for i in range(0, len(vx), 50)])
            model.train()
            pred, truth = prob > 0.5, vy > 0.5
            row = {**{k: v for k, v in vars(args).items() if k != "pool"}, "step": step,
                   "loss": round(loss.item(), 4),
                   "auc": round(roc_auc(prob.mean((1, 2, 3)).numpy(), truth.amax((1, 2, 3)).numpy()), 3),
                   "fg_iou": round(float((pred & truth).sum() / max(1, (pred | truth).sum())), 3),
                   "s": round(time.time() - t)}
            print(json.dumps(row), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "results.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
