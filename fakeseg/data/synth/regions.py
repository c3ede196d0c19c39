"""Blend regions: where a manipulation is pasted, and how soft its edge is.

Every region starts from a convex hull of a landmark subset (dlib 68-point order) and is then varied
in shape (eroded, dilated, elastically deformed) and in edge softness (Gaussian feather), because a
net that sees only one region shape learns that shape instead of the blending evidence.
"""

from __future__ import annotations

import cv2
import numpy as np

# landmark subsets (dlib order): 0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes, 48-67 mouth
FACE = np.r_[0:27]
INNER = np.r_[17:68]
LOWER = np.r_[1:16, 29]  # jaw below the cheekbones up to the nose: what lip-sync tools repaint
MOUTH = np.r_[48:68]
EYES = np.r_[17:27, 36:48]
NOSE_MOUTH = np.r_[31:36, 48:68, 5:12]

HULLS = {"face": FACE, "inner": INNER, "lower": LOWER, "mouth": MOUTH, "eyes": EYES, "nose_mouth": NOSE_MOUTH}


def face_size(landmarks: np.ndarray) -> float:
    """A scale for every distance: the larger side of the landmarks' bounding box."""
    span = landmarks.max(0) - landmarks.min(0)
    return float(max(span.max(), 8.0))


def hull(hw: tuple[int, int], points: np.ndarray) -> np.ndarray:
    m = np.zeros(hw, np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return m


def raise_brows(landmarks: np.ndarray, amount: float) -> np.ndarray:
    """Landmarks with the brows (17-26) pushed up by `amount` x face size: the hull then covers the
    lower forehead, as the masks of real swaps do."""
    lm = landmarks.copy()
    lm[17:27, 1] -= amount * face_size(landmarks)
    return lm


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    if pixels == 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(pixels) + 1, 2 * abs(pixels) + 1))
    return cv2.dilate(mask, k) if pixels > 0 else cv2.erode(mask, k)


def elastic(mask: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """The mask pushed around by a smooth random displacement (`amplitude` px at most, ~4 bumps a side)."""
    if amplitude < 1:
        return mask
    h, w = mask.shape
    field = rng.uniform(-amplitude, amplitude, (2, 5, 5)).astype(np.float32)
    dx = cv2.resize(field[0], (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(field[1], (w, h), interpolation=cv2.INTER_CUBIC)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, gx + dx, gy + dy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)


def region_alpha(
    hw: tuple[int, int],
    landmarks: np.ndarray,
    name: str,
    rng: np.random.Generator,
    grow: tuple[float, float] = (-0.04, 0.06),
    feather: tuple[float, float] = (0.01, 0.07),
    deform: float = 0.05,
) -> tuple[np.ndarray, dict]:
    """float32 alpha in [0, 1] of a named region (see HULLS), varied at random; and what was drawn.

    `grow` (fraction of face size) erodes (<0) or dilates (>0) the hull, `deform` is the largest
    elastic displacement and `feather` the Gaussian sigma of the edge, all as fractions of face size.
    """
    fs = face_size(landmarks)
    lm = raise_brows(landmarks, rng.uniform(0.0, 0.08)) if name in ("face", "inner") else landmarks
    if name == "lower_box":  # Wav2Lip pastes a rectangle: nose to chin, jaw side to jaw side
        x0, x1 = lm[2:15, 0].min(), lm[2:15, 0].max()
        y0, y1 = lm[[29, 30]].mean(0)[1], lm[5:12, 1].max()
        mask = hull(hw, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32))
    else:
        mask = hull(hw, lm[HULLS[name]])
    g = int(round(rng.uniform(*grow) * fs))
    mask = _grow(mask, g)
    mask = elastic(mask, rng.uniform(0.0, deform) * fs, rng)
    sigma = rng.uniform(*feather) * fs
    alpha = mask.astype(np.float32)
    if sigma >= 0.5:
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigma)
    return alpha, {"region": name, "grow_px": g, "feather_px": round(float(sigma), 1)}


def blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """alpha * fg + (1 - alpha) * bg, uint8."""
    a = alpha[..., None]
    return np.clip(fg.astype(np.float32) * a + bg.astype(np.float32) * (1.0 - a) + 0.5, 0, 255).astype(
        np.uint8
    )
