"""Geometry and colour: move pixels so that landmarks land where we want, and match skin colour."""

from __future__ import annotations

import cv2
import numpy as np

_GRID = 40  # the displacement field is solved on a coarse grid and upsampled: smooth and cheap


def _affine(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """2x3 least-squares affine taking dst points to src points."""
    a = np.hstack([dst, np.ones((len(dst), 1), np.float32)])
    sol, *_ = np.linalg.lstsq(a, src, rcond=None)
    return sol.T.astype(np.float32)


def landmark_warp(
    image: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    out_hw: tuple[int, int],
    sigma: float,
    affine: bool = True,
) -> np.ndarray:
    """Warp `image` so that its points `src` land on `dst` in an image of size `out_hw`.

    A global affine (when `affine`) plus a smooth residual: each landmark's leftover offset spread by a
    Gaussian of `sigma` px that fades to zero away from the landmarks (so pixels far from the moved
    points keep the affine, and for reenactment stay put). Bilinear sampling, reflected borders.
    """
    h, w = out_hw
    src = src.astype(np.float32)
    dst = dst.astype(np.float32)
    m = _affine(dst, src) if affine else np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    res = src - (dst @ m[:, :2].T + m[:, 2])
    gy, gx = np.meshgrid(
        np.linspace(0, h - 1, _GRID, dtype=np.float32),
        np.linspace(0, w - 1, _GRID, dtype=np.float32),
        indexing="ij",
    )
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    d2 = ((grid[:, None, :] - dst[None, :, :]) ** 2).sum(-1)
    wgt = np.exp(-d2 / (2 * sigma * sigma))
    wsum = wgt.sum(1, keepdims=True)
    # Shepard average of the residuals, times a falloff that reaches 0 where no landmark is near
    off = (wgt @ res) / np.maximum(wsum, 1e-6) * (wsum / (wsum + 0.05))
    mx = (gx.ravel() * m[0, 0] + gy.ravel() * m[0, 1] + m[0, 2] + off[:, 0]).reshape(_GRID, _GRID)
    my = (gx.ravel() * m[1, 0] + gy.ravel() * m[1, 1] + m[1, 2] + off[:, 1]).reshape(_GRID, _GRID)
    mx = cv2.resize(mx, (w, h), interpolation=cv2.INTER_LINEAR)
    my = cv2.resize(my, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def colour_transfer(
    src: np.ndarray, ref: np.ndarray, region: np.ndarray, strength: float = 1.0
) -> np.ndarray:
    """`src` with the LAB mean/std of `ref` inside `region` (bool), as classic swap pipelines do."""
    if region.sum() < 16:
        return src
    s = cv2.cvtColor(src, cv2.COLOR_RGB2LAB).astype(np.float32)
    r = cv2.cvtColor(ref, cv2.COLOR_RGB2LAB).astype(np.float32)
    sm, ss = s[region].mean(0), s[region].std(0) + 1e-3
    rm, rs = r[region].mean(0), r[region].std(0) + 1e-3
    # std ratio clamped: a flat (grey, or over-exposed) source would otherwise blow its noise up into colour
    out = (s - sm) * np.clip(rs / ss, 0.5, 2.0) + rm
    out = s + strength * (out - s)
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def poisson(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """cv2.seamlessClone of `fg` into `bg` inside `mask` (uint8 {0,1}); None when the mask is unusable
    (seamlessClone needs the mask to stay off the image border)."""
    h, w = mask.shape
    m = mask.copy()
    m[:2], m[-2:], m[:, :2], m[:, -2:] = 0, 0, 0, 0
    ys, xs = np.nonzero(m)
    if len(xs) < 64:
        return None
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    # seamlessClone pastes the mask's bounding box at centre - size // 2: choose the centre that keeps
    # fg and bg aligned (they share one canvas)
    centre = (int(x0 + (x1 - x0) // 2), int(y0 + (y1 - y0) // 2))
    out = cv2.seamlessClone(
        np.ascontiguousarray(fg[..., ::-1]),
        np.ascontiguousarray(bg[..., ::-1]),
        m * 255,
        centre,
        cv2.NORMAL_CLONE,
    )
    return np.ascontiguousarray(out[..., ::-1])
