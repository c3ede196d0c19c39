"""The one preprocessing function from an RGB crop to a network input, shared by train, eval and detect."""
from __future__ import annotations

import numpy as np
import torch

from ..constants import IMAGENET_MEAN, IMAGENET_STD


def to_tensor(crops: np.ndarray | list[np.ndarray], mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """(N,H,W,3) or list of (H,W,3) uint8 RGB -> (N,3,H,W) float32 normalised."""
    arr = np.stack(crops) if isinstance(crops, list) else crops
    if arr.ndim == 3:
        arr = arr[None]
    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s
