"""The one preprocessing from RGB uint8 crops to a network input, shared by train, eval and detect."""
from __future__ import annotations

import numpy as np
import torch

from ..constants import IMAGENET_MEAN, IMAGENET_STD


def normalize(x: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """(N,H,W,3) uint8 RGB on any device -> (N,3,H,W) float32 normalised.

    The result is a permuted view of NHWC memory, i.e. already channels_last. Training loaders ship
    uint8 batches and call this on the GPU: 4x less to copy and no float work in the loader processes.
    """
    # (x / 255 - mean) / std as one multiply and one subtract on a single buffer: on a 2-core CPU this pass
    # cost ~1 ms per 256 px crop in detect, a quarter of FN3's own time.
    scale = 1.0 / (255.0 * torch.tensor(std, dtype=torch.float32, device=x.device))
    shift = torch.tensor(mean, dtype=torch.float32, device=x.device) / torch.tensor(std, dtype=torch.float32,
                                                                                   device=x.device)
    return x.float().mul_(scale).sub_(shift).permute(0, 3, 1, 2)


def to_tensor(crops: np.ndarray | list[np.ndarray], mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """(N,H,W,3) or list of (H,W,3) uint8 RGB -> (N,3,H,W) float32 normalised (contiguous NCHW)."""
    arr = np.stack(crops) if isinstance(crops, list) else crops
    if arr.ndim == 3:
        arr = arr[None]
    return normalize(torch.from_numpy(np.ascontiguousarray(arr)), mean, std).contiguous()
