"""Reading images and masks with one clear error per bad file."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .._fs import atomic_write
from .faces import as_rgb_uint8

MAX_PIXELS = 100_000_000  # ~10k x 10k; beyond this a decode would take GBs of RAM


class BadInput(ValueError):
    """Unreadable, corrupt or unsupported input; the message is one line meant for users."""


def read_image(path: str | Path) -> np.ndarray:
    """RGB uint8 (H, W, 3) from any image cv2 reads; grayscale, RGBA and 16-bit are converted."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    data = np.fromfile(str(path), np.uint8)
    if data.size == 0:
        raise BadInput(f"{path}: empty file")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise BadInput(f"{path}: not a readable image")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise BadInput(f"{path}: image too large ({image.shape[1]}x{image.shape[0]})")
    if image.ndim == 3 and image.shape[2] >= 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return as_rgb_uint8(image)


def read_mask(path: str | Path | None, shape_hw: tuple[int, int]) -> np.ndarray:
    """uint8 {0,1} mask; None means a genuine image (all zeros). Resized with nearest if sizes differ."""
    if path is None:
        return np.zeros(shape_hw, np.uint8)
    path = Path(path)
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise BadInput(f"{path}: not a readable mask")
    if m.shape != tuple(shape_hw):
        m = cv2.resize(m, (shape_hw[1], shape_hw[0]), interpolation=cv2.INTER_NEAREST)
    return (m > 127).astype(np.uint8)


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    """Write an RGB (or single-channel) image atomically."""
    path = Path(path)
    ext = path.suffix or ".png"
    arr = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext, arr)
    if not ok:
        raise BadInput(f"{path}: cannot encode as {ext}")
    atomic_write(path, buf.tobytes())
