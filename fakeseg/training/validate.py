"""Validation during training: loss, pixel IoU from ONE confusion matrix over every val pixel, image AUC.

Scores and pixel maps come from `scores_and_maps`, the read-out eval and detect use, so a number here
means what it means there (seg: sigmoid map and its mean; cls: sigmoid(mean M) and the CAM mask).
The loss is the training BCE computed from those probabilities (for cls on the image score).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data.transforms import normalize
from ..metrics import ConfusionMatrix, accuracy_at, roc_auc
from ..models import scores_and_maps


def _bce(prob: torch.Tensor, target: torch.Tensor, pos_weight: float | None) -> torch.Tensor:
    weight = None if pos_weight is None else 1.0 + (pos_weight - 1.0) * target
    return F.binary_cross_entropy(prob.clamp(1e-7, 1 - 1e-7), target, weight=weight, reduction="sum")


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    loader,
    device: torch.device,
    pos_weight: float | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    tau1: float = 0.5,
    tau2: float = 0.5,
    channels_last: bool = False,
) -> dict:
    """One pass over `loader` ((x, mask, label) batches); returns val_* metrics (None where undefined)."""
    was_training = model.training
    model.eval()
    cm = ConfusionMatrix()
    scores, labels = [], []
    loss_sum, loss_n = 0.0, 0
    try:
        for x, mask, label in loader:
            x = normalize(x.to(device, non_blocking=True))  # NHWC view: already channels_last
            if not channels_last:
                x = x.contiguous()
            with autocast():
                score, pixel_map = scores_and_maps(model, x, tau1=tau1, tau2=tau2)
            score, pixel_map = score.float().cpu(), pixel_map.float().cpu()
            target = mask.float()
            if model.task == "seg":
                loss_sum += float(_bce(pixel_map, target, pos_weight))
                loss_n += target.numel()
            else:
                loss_sum += float(_bce(score, label, pos_weight))
                loss_n += label.numel()
            cm.update(target=mask, pred=pixel_map >= 0.5)
            scores.append(score.numpy())
            labels.append(label.numpy())
    finally:
        model.train(was_training)
    if not scores:
        return {}
    s, y = np.concatenate(scores), np.concatenate(labels).astype(np.int64)
    return {
        "val_loss": loss_sum / max(loss_n, 1),
        "val_miou": cm.miou,
        "val_fg_iou": cm.fg_iou,
        "val_bg_iou": cm.bg_iou,
        "val_flagged": cm.flagged,
        "val_auc": roc_auc(s, y),
        "val_accuracy": accuracy_at(s, y, tau2),
        "val_images": int(s.size),
    }
