"""The pixel-difference rule that turns (fake, original) into a manipulation mask.

One rule for FaceForensics++, the real forgeries in ../shared/data and synthesised forgeries, so that a
mask means the same thing everywhere (see docs/data.md):

    d    = sum over R,G,B of |fake - original|     (0..765 per pixel)
    mask = GaussianBlur(d, sigma) > threshold
           -> morphological close (ellipse, `close_frac` of min(H, W))
           -> drop connected components smaller than `min_area_frac` of the image
           -> fill holes

threshold 20/765 sits above the 3-8 grey-level noise of H.264/VP9 sources (measured on
../shared/data/forgeries) while keeping low-contrast blended edges; sigma 2 suppresses isolated
codec speckle before thresholding.
"""
from __future__ import annotations

import cv2
import numpy as np

DEFAULT_THRESHOLD = 20.0
DEFAULT_SIGMA = 2.0
DEFAULT_CLOSE_FRAC = 0.03
DEFAULT_MIN_AREA_FRAC = 0.0005


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill regions of 0 not connected to the border."""
    h, w = mask.shape
    flood = np.pad(mask, 1).astype(np.uint8)
    ff = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(flood, ff, (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return (mask.astype(bool) | holes).astype(np.uint8)


def difference_mask(fake: np.ndarray, original: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
                    sigma: float = DEFAULT_SIGMA, close_frac: float = DEFAULT_CLOSE_FRAC,
                    min_area_frac: float = DEFAULT_MIN_AREA_FRAC) -> np.ndarray:
    """uint8 {0,1} mask of the pixels where `fake` differs from `original` (both HxWx3 uint8, aligned)."""
    if fake.shape != original.shape:
        raise ValueError(f"fake {fake.shape} and original {original.shape} are not aligned")
    d = np.abs(fake.astype(np.int16) - original.astype(np.int16)).sum(axis=2).astype(np.float32)
    if sigma > 0:
        d = cv2.GaussianBlur(d, (0, 0), sigma)
    mask = (d > threshold).astype(np.uint8)
    h, w = mask.shape
    k = max(1, int(round(close_frac * min(h, w))))
    if k > 1:
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    min_area = min_area_frac * h * w
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    mask = keep[labels].astype(np.uint8)
    return fill_holes(mask)
