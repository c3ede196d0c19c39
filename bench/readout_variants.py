"""Would another read-out of the same probability maps give better masks? Scored on a CALIBRATION set only, by
the rule `fakeseg eval --calibrate` uses (mIoU over every pixel of fake and genuine crops), each variant at its
best tau1 on the calibration grid, beside the fakes' Fg-IoU, precision and recall and the genuine pixels flagged.

Variants: the Gaussian smoothing `calibrate` picks from (sigma up to 32 px); a per-image relative threshold (a
pixel must also reach a share of its map's maximum); zeroing the mask of an image judged real (score < tau2, as
CAM does in the paper's Fig. 2); filling the holes of the thresholded mask; the convex hull of the
thresholded mask, or of each of its regions above a size (small specks dropped).

    .venv/bin/python bench/readout_variants.py vgg5.rendered_video_ft runs/calib_video/manifest.csv
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import torch

from fakeseg.data.transforms import to_tensor
from fakeseg.evaluation.calibrate import TAU1_GRID
from fakeseg.evaluation.crops import iter_samples
from fakeseg.evaluation.inputs import batches, load_for_eval, plan_data
from fakeseg.metrics import ConfusionMatrix
from fakeseg.models import scores_and_maps, smooth_maps


def fill_holes(binary: np.ndarray) -> np.ndarray:
    """Background not reachable from the crop's border becomes foreground."""
    flood = binary.astype(np.uint8)
    cv2.floodFill(flood, np.zeros((flood.shape[0] + 2, flood.shape[1] + 2), np.uint8), (0, 0), 1)
    return binary | (flood == 0)


def convex_hull(binary: np.ndarray, min_area: int = 0) -> np.ndarray:
    """Each connected region of at least `min_area` px painted as its convex hull; smaller specks dropped when
    min_area > 0 (min_area 0: one hull over every foreground pixel). A manipulation paints a contiguous region
    (a face, a mouth); a net that sees 16 px of it finds part of it, scattered."""
    out = np.zeros(binary.shape, np.uint8)
    if min_area == 0:
        points = cv2.findNonZero(binary.astype(np.uint8))
        if points is not None:
            cv2.fillConvexPoly(out, cv2.convexHull(points), 1)
        return out.astype(bool)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] >= min_area:
            cv2.fillConvexPoly(out, cv2.convexHull(cv2.findNonZero((labels == i).astype(np.uint8))), 1)
    return out.astype(bool)


def summary(genuine: ConfusionMatrix, fake: ConfusionMatrix) -> dict:
    """The calibration rule's mIoU (every pixel, fake and genuine crops), and the fakes' side of it."""
    both = ConfusionMatrix()
    both += genuine
    both += fake
    c = fake.counts
    return {
        "miou": both.miou,
        "fg_iou": fake.fg_iou,
        "precision": c["tp"] / max(c["tp"] + c["fp"], 1),
        "recall": c["tp"] / max(c["tp"] + c["fn"], 1),
        "genuine_flagged": genuine.flagged,
    }


def main(weights: str, data: str) -> None:
    loaded = load_for_eval(weights, torch.device("cpu"))
    cfg = loaded.config
    probs, truths, labels, scores = [], [], [], []
    for batch in batches(iter_samples(plan_data(data, None).items, cfg.input_size, cfg.crop_scale, False, True), 16):
        x = to_tensor([s.image for s in batch], cfg.mean, cfg.std)
        with torch.no_grad():
            score, prob = scores_and_maps(loaded.model, x)  # raw maps, no smoothing
        probs.append(prob)
        scores += score.tolist()
        truths += [s.mask.astype(bool) for s in batch]
        labels += [s.record.label for s in batch]
    prob, labels, judged_fake = torch.cat(probs), np.array(labels), np.array(scores) >= cfg.tau2
    smoothed = {sigma: smooth_maps(prob, sigma).numpy() for sigma in (0, 4, 8, 12, 16, 24, 32)}
    variants = {f"gaussian sigma {s:g}": (lambda t, m=m: m > t) for s, m in smoothed.items()}
    base = smoothed[cfg.mask_sigma] if cfg.mask_sigma in smoothed else smooth_maps(prob, cfg.mask_sigma).numpy()
    peak = base.reshape(len(base), -1).max(1)[:, None, None]
    for share in (0.3, 0.4, 0.5, 0.6):
        variants[f"sigma {cfg.mask_sigma:g}, also >= {share:.0%} of the map's max"] = (
            lambda t, share=share: (base > t) & (base >= share * peak))
    variants[f"sigma {cfg.mask_sigma:g}, empty when judged real"] = lambda t: (base > t) & judged_fake[:, None, None]
    variants[f"sigma {cfg.mask_sigma:g}, holes filled"] = lambda t: np.stack([fill_holes(b) for b in base > t])
    variants[f"sigma {cfg.mask_sigma:g}, convex hull"] = lambda t: np.stack([convex_hull(b) for b in base > t])
    for area in (64, 256, 1024):
        variants[f"sigma {cfg.mask_sigma:g}, hull per region >= {area} px"] = (
            lambda t, area=area: np.stack([convex_hull(b, area) for b in base > t]))
    for s in (0, 4):
        variants[f"sigma {s:g}, hull per region >= 256 px"] = (
            lambda t, s=s: np.stack([convex_hull(b, 256) for b in smoothed.get(s, base) > t]))
    print(f"{weights} on {data} ({int((labels == 1).sum())} fake, {int((labels == 0).sum())} genuine crops), "
          f"checkpoint: tau1 {cfg.tau1:.2f}, sigma {cfg.mask_sigma:g}")
    print(f"{'read-out':48s} {'tau1':>5s} {'mIoU':>7s} {'fake Fg':>7s} {'prec':>6s} {'recall':>6s} {'gen flag':>8s}")
    for name, predict in variants.items():
        best = None
        for tau1 in TAU1_GRID:
            pred = predict(tau1)
            tally = {0: ConfusionMatrix(), 1: ConfusionMatrix()}  # by the crop's label
            for p, t, y in zip(pred, truths, labels, strict=True):
                tally[int(y)].update(target=t, pred=p)
            row = summary(tally[0], tally[1])
            if best is None or row["miou"] > best[1]["miou"]:
                best = (tau1, row)
        tau1, r = best
        print(f"{name:48s} {tau1:5.2f} {r['miou']:7.4f} {r['fg_iou']:7.3f} {r['precision']:6.3f} "
              f"{r['recall']:6.3f} {r['genuine_flagged']:8.4f}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
