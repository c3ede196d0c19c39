"""Is there evidence of the manipulation inside a small window, or only relative to the rest of the face?

    .venv/bin/python bench/local_evidence.py --train runs/learnability/rerender_cap2/train/manifest.csv \
        --val runs/learnability/rerender_cap2/val/manifest.csv [--window 27]
    .venv/bin/python bench/local_evidence.py --train runs/loso/ghost_video_swap/manifest.csv --split-by-row

A probe, not a detector: per pixel, 7 texture and colour statistics over a window x window box (27 px =
FN3's receptive field on the 256 px crop): fine-texture (Laplacian) energy, gradient energy, detail left
after a sigma-1 blur, local std of lightness, mean L, a, b. A small MLP reads them three ways:
- `texture`: the four texture statistics alone (no colour: a swapped face's skin tone identifies it only
  within one clip);
- `local`: all seven statistics (what a net with that receptive field can use);
- `context`: the same plus each statistic minus its median over the inner face of the same crop (what a
  net that relates a region to its surroundings can use);
- `position`: only where the pixel is in the crop (what a face-shape prior can use: the face hull's cue).
Prints pixel AUC (mask vs rest, fakes and genuine crops) and image AUC (the mean of the map, Eq. 6) on the
validation crops, and for each statistic alone the AUC of fake-mask pixels against genuine inner-face pixels.
If `local` stays near 0.5 where `context` does not, a small-receptive-field net cannot learn the task from
these labels, however long it trains. Crops are cut with eval's own function.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch
from texture_levels import LAPLACE  # bench/ is on sys.path when a script here runs

from fakeseg.data.datasets import is_face_crop
from fakeseg.data.records import ManifestError, read_manifest
from fakeseg.evaluation.crops import iter_samples
from fakeseg.metrics import roc_auc

SIZE = 256
INNER = (slice(64, 192), slice(64, 192))  # the face: the x2 crop's middle half


def pixel_stats(rgb: np.ndarray, window: int) -> np.ndarray:
    """(H, W, 7) float32 statistics over a window x window box around each pixel."""
    def box(x):
        return cv2.boxFilter(x, -1, (window, window), borderType=cv2.BORDER_REFLECT)

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    fine = np.log1p(box(np.abs(cv2.filter2D(grey, -1, LAPLACE))))
    grad = np.log1p(box(cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))))
    detail = np.log1p(box(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.0))))
    mean_l = box(lab[..., 0])
    std_l = np.sqrt(np.maximum(box(lab[..., 0] ** 2) - mean_l**2, 0))
    return np.stack([fine, grad, detail, np.log1p(std_l), mean_l / 255, box(lab[..., 1]) / 255,
                     box(lab[..., 2]) / 255], axis=-1)


def features(stats: np.ndarray, view: str) -> np.ndarray:
    if view == "texture":
        return stats[..., :4]
    if view == "local":
        return stats
    if view == "context":
        return np.concatenate([stats, stats - np.median(stats[INNER].reshape(-1, stats.shape[-1]), 0)], -1)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE - 0.5
    return np.stack([xx, yy, np.hypot(xx, yy)], -1)


def load(manifest: Path, limit: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    records = read_manifest(manifest)
    order = np.random.default_rng(seed).permutation(len(records))[:limit]
    records = [records[i] for i in sorted(order)]
    crops = is_face_crop(records[0].image)
    return [(s.image, s.mask, s.record.label)
            for s in iter_samples(records, SIZE, 2.0, face_crop=not crops, hull=False)]


STAT_NAMES = ("laplacian", "gradient", "detail", "std_L", "L", "a", "b")


def single_stat_aucs(rows, window: int) -> dict[str, float | None]:
    """Per statistic: AUC of pixels inside fake masks against inner-face pixels of genuine crops
    (< 0.5: lower inside the manipulated region). Every 50th pixel."""
    fake, genuine = [], []
    for image, mask, label in rows:
        stats = pixel_stats(image, window)
        (fake if label else genuine).append(stats[mask > 0][::50] if label else stats[INNER].reshape(-1, 7)[::50])
    if not fake or not genuine:
        return {}
    f, g = np.concatenate(fake), np.concatenate(genuine)
    truth = np.r_[np.ones(len(f)), np.zeros(len(g))]
    return {name: roc_auc(np.r_[f[:, k], g[:, k]], truth) for k, name in enumerate(STAT_NAMES)}


def fit_probe(x: np.ndarray, y: np.ndarray, steps: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0) + 1e-6
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 32), torch.nn.ReLU(), torch.nn.Linear(32, 32),
                              torch.nn.ReLU(), torch.nn.Linear(32, 1))
    net.register_buffer("mean", torch.from_numpy(mean))
    net.register_buffer("std", torch.from_numpy(std))
    xt, yt = torch.from_numpy((x - mean) / std), torch.from_numpy(y)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = torch.from_numpy(rng.integers(0, len(xt), 4096))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt[idx])[:, 0], yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def probe(train, val, view: str, window: int, pixels: int, steps: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for image, mask, _ in train:
        f = features(pixel_stats(image, window), view)
        f = f.reshape(-1, f.shape[-1])
        pick = rng.integers(0, len(f), pixels)
        xs.append(f[pick])
        ys.append(mask.reshape(-1)[pick].astype(np.float32))
    net = fit_probe(np.concatenate(xs), np.concatenate(ys), steps, seed)
    grid = (slice(None, None, 4), slice(None, None, 4))  # every 16th pixel: plenty for an AUC
    pixel_scores, pixel_truth, image_scores, labels = [], [], [], []
    with torch.no_grad():
        for image, mask, label in val:
            f = features(pixel_stats(image, window), view)
            x = torch.from_numpy(f.reshape(-1, f.shape[-1]))
            prob = torch.sigmoid(net((x - net.mean) / net.std)[:, 0]).numpy().reshape(SIZE, SIZE)
            pixel_scores.append(prob[grid].ravel())
            pixel_truth.append(mask[grid].ravel())
            image_scores.append(float(prob.mean()))
            labels.append(label)
    return {"view": view, "pixel_auc": roc_auc(np.concatenate(pixel_scores), np.concatenate(pixel_truth)),
            "image_auc": roc_auc(image_scores, labels)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, required=True, help="manifest of crops or frames")
    ap.add_argument("--val", type=Path, help="held-out manifest (default: --split-by-row)")
    ap.add_argument("--split-by-row", action="store_true",
                    help="no --val: validate on every 3rd row of the manifest, train on the others (neighbouring "
                    "video frames then fall on both sides: a probe of evidence, not of generalisation)")
    ap.add_argument("--window", type=int, default=27)
    ap.add_argument("--n-train", type=int, default=800, help="training crops read (a random subset)")
    ap.add_argument("--n-val", type=int, default=400)
    ap.add_argument("--pixels", type=int, default=400, help="pixels sampled per training crop")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="append the results as one JSON line")
    args = ap.parse_args()
    if args.val is None and not args.split_by_row:
        ap.error("give --val or --split-by-row")
    try:
        if args.val is None:
            rows = load(args.train, 10**9, args.seed)
            train, val = [r for i, r in enumerate(rows) if i % 3 != 2], rows[2::3]
        else:
            train, val = load(args.train, args.n_train, args.seed), load(args.val, args.n_val, args.seed)
    except ManifestError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"{len(train)} training crops ({sum(r[2] for r in train)} fake), {len(val)} validation crops "
          f"({sum(r[2] for r in val)} fake); window {args.window} px")
    results = []
    for view in ("texture", "local", "context", "position"):
        r = probe(train, val, view, args.window, args.pixels, args.steps, args.seed)
        print(f"{view:9s} pixel AUC {r['pixel_auc']:.3f}   image AUC {r['image_auc']:.3f}")
        results.append(r)
    singles = single_stat_aucs(val, args.window)
    print("one statistic, fake-mask pixels vs genuine inner face (AUC; < 0.5 = lower inside the fakes): "
          + ", ".join(f"{k} {v:.2f}" for k, v in singles.items()))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps({"train": str(args.train), "val": str(args.val), "window": args.window,
                                "n_train": len(train), "n_val": len(val), "results": results,
                                "single_statistic_auc": singles}) + "\n")


if __name__ == "__main__":
    main()
