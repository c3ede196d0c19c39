"""Picked on validation data: tau2 (Eq. 6) for every model, the pixel threshold tau1 (Eq. 4 for cls; on the
predicted probability for seg), and the activation ranges that `--precision int8` inference needs
(fakeseg.models.int8)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._fs import atomic_write
from ..data.records import Record
from ..data.transforms import to_tensor
from ..metrics import (
    ConfusionMatrix,
    balanced_accuracy_at,
    best_threshold,
    false_alarm_rate,
    threshold_at_false_alarm_rate,
)
from ..models import read_out, resolve_weights, smooth_maps
from ..models._weights import CONFIG_NAME
from ..models.int8 import RangeObserver
from .crops import iter_samples
from .inputs import EvalError, ProgressFn, SkipFn, batches, load_for_eval, pick_device, plan_data

TAU1_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # pixel thresholds tried by calibrate()
# seg: map smoothings tried with them (px; models.smooth_maps)
MASK_SIGMA_GRID = (0.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0)


@dataclass
class Calibration:
    tau2: float
    tau1: float
    balanced_accuracy: float | None  # on the validation data at tau2 (None without fakes)
    # cls: mIoU on the validation fakes at (tau1, tau2); seg: mIoU over every validation pixel at tau1;
    # None when tau1 was kept from the checkpoint (no fakes to pick it on)
    miou: float | None
    n_fake: int
    n_genuine: int
    data: str
    int8_ranges: dict | None = None  # None where the model cannot be quantised (see int8.quantize)
    # how tau2 was picked: "balanced accuracy", or "false-alarm rate 0.05" (see calibrate's target_fpr)
    rule: str = "balanced accuracy"
    false_alarm_rate: float | None = None  # share of the validation genuine images called fake at tau2
    mask_sigma: float = 0.0  # seg: the smoothing picked with tau1 (0 for cls, whose CAM map is binary)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "int8_ranges"}


def calibrate(
    weights_or_model,
    data: str | Path | list[Record],
    *,
    split: str | None = None,
    face_crop: bool | None = None,
    device: str | None = None,
    batch_size: int = 16,
    on_skip: SkipFn | None = None,
    progress: ProgressFn | None = None,
    target_fpr: float | None = None,
) -> Calibration:
    """Pick tau2 (max balanced accuracy) and tau1 on validation data.

    cls: tau1 with the best mIoU on the fakes at that tau2, masks of images judged real being empty as in
    evaluation. seg: tau1 and the map's smoothing (MASK_SIGMA_GRID; the least smoothing among equals) with the
    best mIoU over the pixels of every image, fake and genuine: a seg mask
    is not gated by tau2, so its threshold must keep genuine faces clean as well as find the fakes.

    target_fpr: pick tau2 instead as the lowest threshold that calls at most this share of the validation
    genuine images fake (a fixed false-alarm rate, as forensic tools are often run). It needs genuine
    images only: given genuine footage like the user's, it sets tau2 where the balanced rule cannot (the
    score's level moves between sources, so a tau2 balanced on synthetic fakes can flag most genuine video;
    docs/weights.md). Without fakes tau1 stays the checkpoint's.
    """
    if target_fpr is not None and not 0.0 <= target_fpr < 1.0:
        raise EvalError(f"target false-alarm rate must be in [0, 1), got {target_fpr}")
    dev = pick_device(device)
    loaded = load_for_eval(weights_or_model, dev)
    cfg, is_cls = loaded.config, loaded.config.task == "cls"
    plan = plan_data(data, split)
    crop = plan.face_crop if face_crop is None else face_crop
    scores, labels = [], []
    sigmas = MASK_SIGMA_GRID if not is_cls else (0.0,)
    # per fake (cls) or every (seg) image: (len(sigmas), len(TAU1_GRID), 4) tp, fp, fn, tn
    per_image: list[np.ndarray] = []
    n_skipped = 0
    ranges: RangeObserver | None = RangeObserver(loaded.model)

    def skip(record: Record, reason: str) -> None:
        nonlocal n_skipped
        n_skipped += 1
        if on_skip:
            on_skip(str(record.image), reason)

    for batch in batches(
        iter_samples(plan.items, cfg.input_size, cfg.crop_scale, crop, False, skip), batch_size
    ):
        x = to_tensor([s.image for s in batch], cfg.mean, cfg.std).to(dev)
        with torch.no_grad():
            out = loaded.model(x)
        if ranges is not None:
            try:
                ranges.observe(x)
            except Exception:  # an architecture FX cannot trace (control flow): no int8 for it, thresholds still
                ranges = None
        score, level = read_out(out, cfg.task, x.shape[-2:])  # one read-out; every threshold is counted off it
        scores += score.cpu().tolist()
        labels += [s.record.label for s in batch]
        if is_cls:
            # per fake, the binary CAM mask of every tau1 (Eq. 4: normalised M >= tau1)
            level = level.cpu().numpy()
            for i, s in enumerate(batch):
                if s.record.label == 1:
                    per_image.append(_counts_per_threshold(level[i], s.mask.astype(bool), inclusive=True)[None])
        else:
            smoothed = [smooth_maps(level, sigma).cpu().numpy() for sigma in sigmas]
            for i, s in enumerate(batch):
                truth = s.mask.astype(bool)
                per_image.append(np.stack([_counts_per_threshold(m[i], truth) for m in smoothed]))
        if progress:
            progress(len(scores) + n_skipped, plan.total)
    y, s = np.asarray(labels), np.asarray(scores, np.float64)
    has_fakes = bool((y == 1).any())
    if not (y == 0).any() or (target_fpr is None and not has_fakes):
        raise EvalError(
            f"calibration needs {'genuine' if target_fpr is not None else 'fake and genuine'} images; "
            f"{plan.description['path']} has {int((y == 1).sum())} fake, {int((y == 0).sum())} genuine usable"
        )
    if target_fpr is None:
        tau2, bal = best_threshold(scores, labels)
        rule = "balanced accuracy"
    else:
        tau2, rule = threshold_at_false_alarm_rate(s[y == 0], target_fpr), f"false-alarm rate {target_fpr:g}"
        bal = balanced_accuracy_at(s, y, tau2)
    false_alarms = false_alarm_rate(tau2, s[y == 0])
    if not has_fakes:  # nothing to pick tau1 on: keep the checkpoint's
        return Calibration(tau2, cfg.tau1, None, None, 0, int((y == 0).sum()), plan.description["path"],
                           ranges.ranges() if ranges is not None else None, rule, false_alarms, cfg.mask_sigma)
    counts = np.stack(per_image)  # (images, len(sigmas), len(TAU1_GRID), 4)
    if is_cls:
        judged_real = s[y == 1] < tau2
        # an image judged real gets an empty mask: its manipulated pixels all become false negatives
        empty = np.stack(
            [
                np.zeros(len(counts)),
                np.zeros(len(counts)),
                counts[:, 0, 0, 0] + counts[:, 0, 0, 2],
                counts[:, 0, 0, 1] + counts[:, 0, 0, 3],
            ],
            1,
        ).astype(np.int64)
        counts[judged_real] = empty[judged_real][:, None, None, :]
    totals = counts.sum(0)
    mious = np.array([[ConfusionMatrix.from_counts(*(int(v) for v in c)).miou for c in row] for row in totals])
    a, b = np.unravel_index(int(np.argmax(mious)), mious.shape)  # first maximum: least smoothing, lowest tau1
    return Calibration(
        tau2, TAU1_GRID[b], bal, float(mious[a, b]), int((y == 1).sum()), int((y == 0).sum()),
        plan.description["path"], ranges.ranges() if ranges is not None else None, rule, false_alarms,
        sigmas[a],
    )


def _counts_per_threshold(
    level: np.ndarray, truth: np.ndarray, thresholds=TAU1_GRID, inclusive: bool = False
) -> np.ndarray:
    """(len(thresholds), 4) tp, fp, fn, tn of `level > t` (`>=` when inclusive) for every ascending t, in one pass.

    These are the rules of evaluation (evaluation.tally) and of the read-out: a seg probability is
    manipulated above tau1; a cls pixel where its normalised CAM reaches tau1 (Eq. 4)."""
    grid = np.asarray(thresholds, level.dtype)
    # how many thresholds each pixel passes
    passed = np.searchsorted(grid, level.ravel(), side="right" if inclusive else "left")
    t = truth.ravel()

    def above(levels: np.ndarray) -> np.ndarray:  # pixels passing each threshold k: passed > k
        return np.bincount(levels, minlength=len(grid) + 1)[::-1].cumsum()[::-1][1:]

    tp, fp = above(passed[t]), above(passed[~t])
    n_true = int(np.count_nonzero(t))
    return np.stack([tp, fp, n_true - tp, (t.size - n_true) - fp], 1).astype(np.int64)


def save_reference(weights: str, genuine_scores: list[float], data: str) -> Path:
    """Store the scores of known-genuine faces in the checkpoint's config.json (`extra.reference`), atomically.

    detect then says, per face track, what share of these genuine faces score at least as high as the
    track (its false-alarm rate): a verdict's strength in terms of footage like the reference. The score's
    level moves between sources (docs/weights.md, "Genuine video"), so the reference should be genuine
    footage like the user's; the shipped one is genuine video of the training identities.
    """
    if not genuine_scores:
        raise EvalError(f"{data}: no genuine image was evaluated; a reference needs genuine faces")
    folder = _writable_folder(weights, "a reference")
    path = folder / CONFIG_NAME
    config = json.loads(path.read_text())
    config.setdefault("extra", {})["reference"] = {
        "data": str(data),
        "n": len(genuine_scores),
        "scores": sorted(round(float(v), 6) for v in genuine_scores),
    }
    atomic_write(path, json.dumps(config, indent=2) + "\n")
    return path


def _writable_folder(weights: str, what: str) -> Path:
    if str(weights).startswith("hf://"):
        raise EvalError(f"{what} cannot be saved into the hub cache; download the folder and pass it")
    return resolve_weights(weights)


def save_thresholds(weights: str, calibration: Calibration) -> Path:
    """Store calibrated tau2, tau1 (and the int8 activation ranges) in the checkpoint's config.json,
    atomically. The sha256 covers the tensor file only, so the checkpoint stays valid."""
    folder = _writable_folder(weights, "thresholds")
    path = folder / CONFIG_NAME
    config = json.loads(path.read_text())
    config["tau2"] = calibration.tau2
    config["tau1"] = calibration.tau1
    config["mask_sigma"] = calibration.mask_sigma
    config.setdefault("extra", {})["calibration"] = calibration.to_dict()
    if calibration.int8_ranges is not None:
        n = calibration.n_fake + calibration.n_genuine
        config["int8"] = {"ranges": calibration.int8_ranges, "data": f"{calibration.data} ({n} crops)"}
    atomic_write(path, json.dumps(config, indent=2) + "\n")
    return path
