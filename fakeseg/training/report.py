"""What a run leaves for people: metrics per epoch (CSV and JSON) and a PNG of loss and validation mIoU.

The plot is drawn with OpenCV (already a dependency) rather than pulling in matplotlib for two lines.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import cv2
import numpy as np

from .._fs import atomic_write

COLUMNS = (
    "epoch",
    "step",
    "train_loss",
    "val_loss",
    "val_miou",
    "val_fg_iou",
    "val_bg_iou",
    "val_flagged",
    "val_auc",
    "val_accuracy",
    "val_images",
    "images_per_s",
    "elapsed_s",
)


def write_metrics(run: Path, history: list[dict]) -> None:
    """RUN/metrics.csv and RUN/metrics.json, one row per validation point (epoch end or final stop)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else _fmt(row[k])) for k in COLUMNS})
    atomic_write(run / "metrics.csv", buf.getvalue())
    atomic_write(run / "metrics.json", json.dumps(history, indent=1) + "\n")


def _fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else v


# --------------------------------------------------------------------------------------------------
# plot


def _panel(
    canvas: np.ndarray, x0: int, title: str, series: list[tuple[str, list, list, tuple]], w: int, h: int
) -> None:
    pad_l, pad_r, pad_t, pad_b = 60, 15, 30, 35
    left, top, right, bottom = x0 + pad_l, pad_t, x0 + w - pad_r, h - pad_b
    cv2.rectangle(canvas, (left, top), (right, bottom), (200, 200, 200), 1)
    cv2.putText(canvas, title, (left, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    pts = [
        (x, y)
        for _, xs, ys, _ in series
        for x, y in zip(xs, ys, strict=True)
        if y is not None and math.isfinite(y)
    ]
    if not pts:
        return
    xs_all, ys_all = [p[0] for p in pts], [p[1] for p in pts]
    xlo, xhi = min(xs_all), max(xs_all)
    ylo, yhi = min(ys_all), max(ys_all)
    if xhi == xlo:
        xhi = xlo + 1
    if yhi - ylo < 1e-9:
        ylo, yhi = ylo - 0.5, yhi + 0.5

    def px(x, y):
        return (
            int(left + (x - xlo) / (xhi - xlo) * (right - left)),
            int(bottom - (y - ylo) / (yhi - ylo) * (bottom - top)),
        )

    for frac in (0.0, 0.5, 1.0):
        y = ylo + frac * (yhi - ylo)
        cv2.putText(
            canvas, f"{y:.3g}", (x0 + 5, px(xlo, y)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (80, 80, 80), 1
        )
    cv2.putText(
        canvas, f"epoch {xlo:g} .. {xhi:g}", (left, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (80, 80, 80), 1
    )
    for i, (label, xs, ys, colour) in enumerate(series):
        line = [px(x, y) for x, y in zip(xs, ys, strict=True) if y is not None and math.isfinite(y)]
        for a, b in zip(line, line[1:], strict=False):
            cv2.line(canvas, a, b, colour, 2, cv2.LINE_AA)
        for p in line:
            cv2.circle(canvas, p, 3, colour, -1, cv2.LINE_AA)
        cv2.putText(
            canvas,
            label,
            (right - 110, top + 18 + 16 * i),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            colour,
            1,
            cv2.LINE_AA,
        )


def plot_history(history: list[dict], path: Path) -> None:
    """Two panels: train/val loss and val mIoU / Fg-IoU against epoch (fractional for a mid-epoch stop)."""
    w, h = 480, 320
    canvas = np.full((h, 2 * w, 3), 255, np.uint8)
    xs = [r["epoch"] for r in history]
    _panel(
        canvas,
        0,
        "loss (BCE)",
        [
            ("train", xs, [r.get("train_loss") for r in history], (200, 90, 20)),
            ("val", xs, [r.get("val_loss") for r in history], (30, 30, 200)),
        ],
        w,
        h,
    )
    _panel(
        canvas,
        w,
        "validation IoU",
        [
            ("mIoU", xs, [r.get("val_miou") for r in history], (30, 140, 30)),
            ("Fg-IoU", xs, [r.get("val_fg_iou") for r in history], (150, 30, 150)),
        ],
        w,
        h,
    )
    from ..data.io import write_image

    write_image(path, canvas)  # canvas is drawn in RGB order; write_image converts
