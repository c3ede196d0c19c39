"""Metrics of the paper and the ones it leaves out; pure torch/numpy, no model or data code.

Pixel level: one `ConfusionMatrix` accumulated over every pixel of a split (torch.bincount, as in
torchvision's segmentation references), never an average of per-batch IoUs. IoU = TP / (TP + FP + FN)
(the paper's text writes TN for FN, a typo). A class absent from the targets has no IoU (None): on
pristine images Fg-IoU is undefined ("-" in the paper's Table 2) and mIoU is then Bg-IoU.

Image level: accuracy at tau2 (Eq. 6: fake when score >= tau2), ROC AUC with ties counted as half,
average precision, equal error rate; video level: the same on per-video mean scores.

No function here mutates its inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor | Sequence[float]


def _flat_long(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    # .long() copies, so the caller's array is never touched
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).reshape(-1).long()


class ConfusionMatrix:
    """Pixel confusion matrix; rows = target class, columns = predicted class (0 background, 1 fake).

    >>> cm = ConfusionMatrix()
    >>> cm.update(target=np.array([0, 0, 1, 1]), pred=np.array([0, 1, 1, 1]))
    >>> round(cm.fg_iou, 3), round(cm.bg_iou, 3), round(cm.miou, 3)
    (0.667, 0.5, 0.583)
    """

    def __init__(self, num_classes: int = 2):
        self.num_classes = num_classes
        self.mat = torch.zeros((num_classes, num_classes), dtype=torch.int64)

    def update(self, target: np.ndarray | torch.Tensor, pred: np.ndarray | torch.Tensor) -> None:
        """Add every pixel of `target` (class ids) against `pred` (class ids, same number of elements)."""
        t, p = _flat_long(target).cpu(), _flat_long(pred).cpu()
        if t.numel() != p.numel():
            raise ValueError(f"target has {t.numel()} pixels, pred has {p.numel()}")
        n = self.num_classes
        keep = (t >= 0) & (t < n)
        self.mat += torch.bincount(n * t[keep] + p[keep], minlength=n * n).reshape(n, n)

    def __iadd__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        self.mat += other.mat
        return self

    @classmethod
    def from_counts(cls, tp: int, fp: int, fn: int, tn: int) -> ConfusionMatrix:
        cm = cls(2)
        cm.mat = torch.tensor([[tn, fp], [fn, tp]], dtype=torch.int64)
        return cm

    @property
    def counts(self) -> dict[str, int]:
        """Binary counts (fake = positive)."""
        m = self.mat
        return {"tp": int(m[1, 1]), "fp": int(m[0, 1]), "fn": int(m[1, 0]), "tn": int(m[0, 0])}

    def iou(self) -> list[float | None]:
        """Per-class IoU; None for a class that never occurs in the target."""
        m = self.mat.double()
        tp = m.diag()
        in_target = m.sum(1)
        union = in_target + m.sum(0) - tp
        return [None if in_target[c] == 0 else float(tp[c] / union[c]) for c in range(self.num_classes)]

    @property
    def bg_iou(self) -> float | None:
        return self.iou()[0]

    @property
    def fg_iou(self) -> float | None:
        return self.iou()[1]

    @property
    def miou(self) -> float | None:
        defined = [v for v in self.iou() if v is not None]
        return float(np.mean(defined)) if defined else None

    @property
    def flagged(self) -> float | None:
        """Share of genuine (target 0) pixels predicted fake: the false-positive area."""
        neg = int(self.mat[0].sum())
        return None if neg == 0 else int(self.mat[0, 1]) / neg

    @property
    def pixels(self) -> int:
        return int(self.mat.sum())

    def compute(self) -> dict[str, float | int | None]:
        return {
            "miou": self.miou,
            "bg_iou": self.bg_iou,
            "fg_iou": self.fg_iou,
            "flagged": self.flagged,
            "pixels": self.pixels,
            **self.counts,
        }


class PixelAUC:
    """ROC AUC over every pixel, in constant memory: pixel scores in [0, 1] are counted in `bins`
    equal-width bins per class, and pairs that share a bin count as ties (half). Deterministic, no
    subsampling; the error is at most half the share of (fake, genuine) pixel pairs that share a bin,
    reported as `tie_share`. Binary maps (CAM masks) are exact.
    """

    def __init__(self, bins: int = 4096):
        self.bins = bins
        self.hist = torch.zeros((2, bins), dtype=torch.int64)

    def update(self, target: np.ndarray | torch.Tensor, prob: np.ndarray | torch.Tensor) -> None:
        t = _flat_long(target).cpu()
        p = torch.as_tensor(np.asarray(prob) if not isinstance(prob, torch.Tensor) else prob)
        p = p.detach().reshape(-1).float().cpu()
        if t.numel() != p.numel():
            raise ValueError(f"target has {t.numel()} pixels, prob has {p.numel()}")
        idx = (p.clamp(0, 1) * (self.bins - 1)).round().long()  # new tensor: the input is untouched
        self.hist += torch.bincount((t.clamp(0, 1) * self.bins + idx), minlength=2 * self.bins).reshape(2, -1)

    def __iadd__(self, other: PixelAUC) -> PixelAUC:
        self.hist += other.hist
        return self

    def compute(self) -> float | None:
        neg, pos = self.hist.double()
        n_neg, n_pos = float(neg.sum()), float(pos.sum())
        if n_neg == 0 or n_pos == 0:
            return None
        below = torch.cumsum(neg, 0) - neg  # genuine pixels in lower bins
        return float((pos * (below + 0.5 * neg)).sum() / (n_pos * n_neg))

    @property
    def tie_share(self) -> float:
        neg, pos = self.hist.double()
        total = float(neg.sum() * pos.sum())
        return 0.0 if total == 0 else float((neg * pos).sum() / total)


# --------------------------------------------------------------------------------------------------
# image and video level


def _scores_labels(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = np.array(scores, dtype=np.float64).reshape(-1)  # np.array copies
    y = np.array(labels).reshape(-1).astype(np.int64)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (genuine) or 1 (fake)")
    return s, y


def accuracy_at(scores: ArrayLike, labels: ArrayLike, tau2: float = 0.5) -> float | None:
    """Share of images judged right, an image being fake when score >= tau2 (Eq. 6)."""
    s, y = _scores_labels(scores, labels)
    return None if s.size == 0 else float(((s >= tau2).astype(np.int64) == y).mean())


def false_alarm_rate(threshold: float, genuine_scores: ArrayLike) -> float:
    """Share of genuine scores at or above `threshold`: how often calling an image fake at this score (Eq. 6:
    fake when score >= tau2) would be a false alarm on genuine images like these."""
    s = np.asarray(genuine_scores, np.float64).reshape(-1)
    if s.size == 0:
        raise ValueError("no genuine scores")
    return float(np.count_nonzero(s >= threshold)) / s.size


def threshold_at_false_alarm_rate(genuine_scores: ArrayLike, rate: float) -> float:
    """The lowest tau2 at which at most floor(rate * n) of n genuine scores reach it (fake = score >= tau2):
    calling images fake at this tau2 is a false alarm on at most `rate` of genuine images like these."""
    ordered = np.sort(np.asarray(genuine_scores, np.float64).reshape(-1))
    if ordered.size == 0:
        raise ValueError("no genuine scores")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"the false-alarm rate must be in [0, 1), got {rate}")
    allowed = int(np.floor(rate * len(ordered)))
    return float(np.nextafter(ordered[len(ordered) - allowed - 1], np.inf))


def balanced_accuracy_at(scores: ArrayLike, labels: ArrayLike, tau2: float = 0.5) -> float | None:
    """Mean of the accuracy on fakes and on genuine images; None unless both occur."""
    s, y = _scores_labels(scores, labels)
    if not (y == 1).any() or not (y == 0).any():
        return None
    return float(((s[y == 1] >= tau2).mean() + (s[y == 0] < tau2).mean()) / 2)


def roc_curve(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), one point per distinct score (ties share a point), from (0, 0) up.

    thresholds[i] is the smallest score judged fake at that point (score >= threshold); the first is +inf.
    """
    s, y = _scores_labels(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], s.size - 1] if s.size else np.array([], np.int64)
    tps = np.cumsum(y)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    tpr = np.r_[0.0, tps / n_pos] if n_pos else np.full(tps.size + 1, np.nan)
    fpr = np.r_[0.0, fps / n_neg] if n_neg else np.full(fps.size + 1, np.nan)
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float | None:
    """ROC AUC = P(score_fake > score_genuine) + 0.5 P(tie); None unless both classes occur.

    >>> roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    """
    s, y = _scores_labels(scores, labels)
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    if n_pos == 0 or n_neg == 0:
        return None
    fpr, tpr, _ = roc_curve(s, y)
    return float(np.trapezoid(tpr, fpr) if hasattr(np, "trapezoid") else np.trapz(tpr, fpr))


def average_precision(scores: ArrayLike, labels: ArrayLike) -> float | None:
    """AP = sum_n (R_n - R_{n-1}) P_n over distinct thresholds (scikit-learn's, no interpolation)."""
    s, y = _scores_labels(scores, labels)
    n_pos = int(y.sum())
    if n_pos == 0:
        return None
    fpr, tpr, _ = roc_curve(s, y)
    n_neg = y.size - n_pos
    tp = tpr[1:] * n_pos
    fp = (fpr[1:] * n_neg) if n_neg else np.zeros_like(tp)
    precision = tp / np.maximum(tp + fp, 1e-12)
    return float(np.sum(np.diff(tpr) * precision))


def equal_error_rate(scores: ArrayLike, labels: ArrayLike) -> float | None:
    """The error rate where false-positive and false-negative rates meet on the ROC curve (interpolated)."""
    s, y = _scores_labels(scores, labels)
    if y.sum() == 0 or y.sum() == y.size:
        return None
    fpr, tpr, _ = roc_curve(s, y)
    fnr = 1.0 - tpr
    diff = fnr - fpr  # starts at 1 (nothing judged fake), ends at -1: it crosses zero once
    i = int(np.nonzero(diff <= 0)[0][0])
    if diff[i] == 0 or i == 0:
        return float(fpr[i])
    # linear interpolation between points i-1 and i along the segment of the ROC curve
    w = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))


def best_threshold(scores: ArrayLike, labels: ArrayLike) -> tuple[float, float]:
    """tau2 that maximises balanced accuracy: (tau2, balanced accuracy). Ties keep the midpoint of the
    widest gap, so the threshold is not glued to one validation score."""
    s, y = _scores_labels(scores, labels)
    if not (y == 1).any() or not (y == 0).any():
        raise ValueError("calibration needs both fake and genuine images")
    values = np.unique(s)
    candidates = np.r_[values[0] - 1e-6, (values[:-1] + values[1:]) / 2, values[-1] + 1e-6]
    bal = np.array([balanced_accuracy_at(s, y, t) for t in candidates])
    best = np.flatnonzero(bal >= bal.max() - 1e-12)
    # among equally good thresholds, prefer the one in the middle of the best run
    tau = float(candidates[best[len(best) // 2]])
    return min(max(tau, 0.0), 1.0), float(bal.max())


def video_scores(
    scores: ArrayLike, labels: ArrayLike, videos: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-video mean score and label, from rows that carry a video id (empty ids are left out; a
    video id is never guessed from a path). A video whose rows disagree on the label is an error."""
    s, y = _scores_labels(scores, labels)
    if len(videos) != s.size:
        raise ValueError(f"{s.size} scores but {len(videos)} video ids")
    sums: dict[str, list] = {}
    for score, label, vid in zip(s, y, videos, strict=True):
        if not vid:
            continue
        entry = sums.setdefault(vid, [0.0, 0, int(label)])
        if entry[2] != label:
            raise ValueError(f"video {vid!r} has both fake and genuine rows")
        entry[0] += float(score)
        entry[1] += 1
    vs = np.array([total / n for total, n, _ in sums.values()], dtype=np.float64)
    vy = np.array([label for _, _, label in sums.values()], dtype=np.int64)
    return vs, vy


def video_auc(scores: ArrayLike, labels: ArrayLike, videos: Sequence[str]) -> float | None:
    """ROC AUC of per-video mean scores; None when fewer than one fake and one genuine video carry ids."""
    vs, vy = video_scores(scores, labels, videos)
    return roc_auc(vs, vy) if vs.size else None


def image_metrics(scores: ArrayLike, labels: ArrayLike, tau2: float = 0.5) -> dict[str, float | None]:
    """accuracy, balanced accuracy at tau2, AUC, AP and EER of image scores in one dict."""
    return {
        "accuracy": accuracy_at(scores, labels, tau2),
        "balanced_accuracy": balanced_accuracy_at(scores, labels, tau2),
        "auc": roc_auc(scores, labels),
        "ap": average_precision(scores, labels),
        "eer": equal_error_rate(scores, labels),
    }
