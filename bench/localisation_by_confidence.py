"""Is Fg-IoU limited by detection or by localisation? Fg-IoU of the model and of the face hull on the fakes of a
pool of crops, over all fakes, over those called fake (score >= tau2) and over the half the model scores highest.
If the model's masks were good wherever it is sure, its Fg-IoU on its top half would reach the hull's.

    .venv/bin/python bench/localisation_by_confidence.py vgg5.rendered_video_ft \
        runs/learnability/all_rendered_video/val/manifest.csv
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from fakeseg.data.transforms import to_tensor
from fakeseg.evaluation.crops import iter_samples
from fakeseg.evaluation.inputs import batches, load_for_eval, plan_data
from fakeseg.models import scores_and_maps


def fg_iou(counts: np.ndarray) -> float:
    tp, fp, fn = counts.sum(0)
    return float(tp / (tp + fp + fn))


def main(weights: str, pool: str) -> None:
    loaded = load_for_eval(weights, torch.device("cpu"))
    cfg = loaded.config
    scores, methods, model, hull = [], [], [], []  # per fake crop; counts are (tp, fp, fn)
    for batch in batches(iter_samples(plan_data(pool, None).items, cfg.input_size, cfg.crop_scale, False, True), 16):
        x = to_tensor([s.image for s in batch], cfg.mean, cfg.std)
        with torch.no_grad():
            score, maps = scores_and_maps(loaded.model, x, mask_sigma=cfg.mask_sigma)  # the read-out eval uses
        for i, s in enumerate(batch):
            if s.record.label != 1:
                continue
            truth, pred, painted = s.mask.astype(bool), maps[i].numpy() > cfg.tau1, s.hull.astype(bool)
            scores.append(float(score[i]))
            methods.append(s.record.method)
            model.append([(pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()])
            hull.append([(painted & truth).sum(), (painted & ~truth).sum(), (~painted & truth).sum()])
    s, m, model, hull = np.array(scores), np.array(methods), np.array(model), np.array(hull)
    top = s >= np.median(s)
    print(f"{weights} on {pool} ({len(s)} fakes), pixels at tau1 {cfg.tau1:.2f}, map smoothing "
          f"{cfg.mask_sigma:g} px: Fg-IoU model / face hull")
    for name, rows in [("all fakes", s == s), (f"called fake (score >= tau2 {cfg.tau2:.3f})", s >= cfg.tau2),
                       ("top half by score", top), ("bottom half", ~top),
                       *((f"top half, {f}", top & (m == f)) for f in sorted(set(methods)))]:
        print(f"{name:36s} n={rows.sum():4d}  {fg_iou(model[rows]):.3f} / {fg_iou(hull[rows]):.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
