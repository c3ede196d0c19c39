"""Paired image + mask views for training and validation: ONE transform moves both, never two.

Every face crop is first brought to the scale evaluation and detection see (short side = `size`, the
whole x2 crop in view). Training then enlarges it by a small random factor and cuts a random
`size` x `size` window out of image and mask with the same offsets (the paper's "random 256 x 256 crop
of image and mask"; for square crops without jitter it is the whole crop). The paper crops seg inputs
at native resolution, but our crops come from frames of any size and detect resizes the whole crop to
`size`, so training at native scale would teach a scale the net never sees at test time.

Masks are resized with nearest-neighbour (bilinear would invent fractional labels at the boundary,
exactly where the forgery cue lives). JPEG re-compression touches the image only: it moves no pixel,
so the mask stays right. Validation uses `eval_view`: no randomness at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Augment:
    """Light training augmentation; `Augment.off()` for validation-like training views."""

    flip: bool = True
    scale: tuple[float, float] = (1.0, 1.15)  # short side = size * U(scale) before the random crop
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (60, 95)

    @classmethod
    def off(cls) -> Augment:
        return cls(flip=False, scale=(1.0, 1.0), jpeg_prob=0.0)


def _resize_short_side(image: np.ndarray, mask: np.ndarray, short: int) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    if min(h, w) == short:
        return image, mask
    f = short / min(h, w)
    new_wh = (max(short, round(w * f)), max(short, round(h * f)))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    image = cv2.resize(image, new_wh, interpolation=interp)
    mask = cv2.resize(mask, new_wh, interpolation=cv2.INTER_NEAREST)  # binary stays binary
    return image, mask


def jpeg_recompress(image: np.ndarray, quality: int) -> np.ndarray:
    """RGB uint8 through a JPEG round trip (encoded as BGR so chroma subsampling hits the right channels)."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:  # pragma: no cover - cv2 encodes any uint8 RGB
        return image
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def train_view(
    image: np.ndarray, mask: np.ndarray, size: int, rng: np.random.Generator, augment: Augment | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Random `size` x `size` view of a face crop and its mask, both moved by the same transform.

    >>> img, m = np.zeros((300, 300, 3), np.uint8), np.zeros((300, 300), np.uint8)
    >>> [a.shape for a in train_view(img, m, 256, np.random.default_rng(0))]
    [(256, 256, 3), (256, 256)]
    """
    augment = augment or Augment.off()
    lo, hi = augment.scale
    short = round(size * (rng.uniform(lo, hi) if hi > lo else lo))
    image, mask = _resize_short_side(image, mask, max(short, size))
    h, w = image.shape[:2]
    y0 = int(rng.integers(0, h - size + 1))
    x0 = int(rng.integers(0, w - size + 1))
    image, mask = image[y0 : y0 + size, x0 : x0 + size], mask[y0 : y0 + size, x0 : x0 + size]
    if augment.flip and rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    if augment.jpeg_prob > 0 and rng.random() < augment.jpeg_prob:
        image = jpeg_recompress(
            np.ascontiguousarray(image), int(rng.integers(*augment.jpeg_quality, endpoint=True))
        )
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)


def eval_view(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic view: short side resized to `size`, centre `size` crop (the whole crop if square)."""
    image, mask = _resize_short_side(image, mask, size)
    h, w = image.shape[:2]
    y0, x0 = (h - size) // 2, (w - size) // 2
    return (
        np.ascontiguousarray(image[y0 : y0 + size, x0 : x0 + size]),
        np.ascontiguousarray(mask[y0 : y0 + size, x0 : x0 + size]),
    )
