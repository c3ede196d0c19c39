"""The one model contract: a body of features, a per-location classifier, and two ways to read it.

seg: logits upsampled to the input resolution, trained with per-pixel BCE (paper Sec. 3.2).
cls: the classifier applied at every location *before* global average pooling (the paper's modified
     CAM, Sec. 3.1): forward returns the activation map M; the image logit is its mean.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class FakeSegNet(nn.Module):
    def __init__(self, body: nn.Module, out_channels: int, out_stride: int, task: str, arch: str,
                 head_kernel: int = 3):
        super().__init__()
        self.body = body
        self.head = nn.Conv2d(out_channels, 1, head_kernel, padding=head_kernel // 2)
        self.out_stride = out_stride
        self.task = task
        self.arch = arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B,3,H,W) normalised. seg -> (B,1,H,W) logits; cls -> (B,1,H/s,W/s) activation map M."""
        logits = self.head(self.body(x))
        if self.task == "seg" and logits.shape[-2:] != x.shape[-2:]:
            # bilinear on logits (not on a binary mask) is the usual FCN upsampling
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits

    @staticmethod
    def image_logit(out: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """cls: Eq. 1's logit = mean of M (GAP after the per-location classifier), accumulated in `dtype`. (B,)"""
        return out.float().mean(dim=(1, 2, 3), dtype=dtype)


@torch.no_grad()
def scores_and_maps(model: FakeSegNet, x: torch.Tensor, tau1: float = 0.5, tau2: float = 0.5,
                    mask_sigma: float = 0.0):
    """The paper's read-out, shared by eval and detect.

    Returns (score (B,), pixel map (B,H,W) in [0,1] at the input resolution).
    seg: pixel map = sigmoid(logits); score = its mean (Eq. 6 before the threshold tau2). With `mask_sigma`
         > 0 the map is then smoothed (`smooth_maps`); the score stays the mean of the unsmoothed map.
    cls: score = sigmoid(mean M); pixel map = 1{normalised M >= tau1} (Eq. 3-4), upsampled with
         nearest; all zero when the image is judged real (score < tau2), as in the paper's Fig. 2.
    """
    score, level = read_out(model(x), model.task, x.shape[-2:])
    if model.task == "seg":
        return score, smooth_maps(level, mask_sigma)
    binary = (level >= tau1).float() * (score >= tau2).float()[:, None, None]
    return score, binary


def read_out(out: torch.Tensor, task: str, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A forward output -> (score (B,), map (B,H,W) at `size`) before any threshold or smoothing.

    seg: sigmoid(logits) and its mean. cls: sigmoid(mean M) (Eq. 1) and M normalised to [0, 1] per image
    (Eq. 3), upsampled with nearest, which commutes with Eq. 4's threshold: calibration reads every tau1
    off this one map.
    """
    out = out.float()
    # image means accumulate in float64: a float32 sum's order (and so its last bit) follows how many images share
    # the batch, and a score must not depend on --batch-size (or move a printed digit when it changes)
    if task == "seg":
        prob = torch.sigmoid(out)[:, 0]
        return prob.mean(dim=(1, 2), dtype=torch.float64).float(), prob
    score = torch.sigmoid(FakeSegNet.image_logit(out, torch.float64).float())
    m = out[:, 0]
    lo = m.amin(dim=(1, 2), keepdim=True)
    span = (m - lo).amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    level = F.interpolate(((m - lo) / span)[:, None], size=tuple(size), mode="nearest")[:, 0]
    return score, level


def smooth_maps(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B,H,W) probability maps blurred by a Gaussian of `sigma` px (separable, reflected borders).

    Why: VGG5 sees 16 px and FN3 27 px of a 256 px crop, so on a manipulated face their maps come out as
    scattered evidence over the region, and on a genuine one as isolated specks. Averaging over a
    neighbourhood before tau1 fills the first and drops the second (docs/weights.md, "Smoothed masks").
    `fakeseg eval --calibrate` picks sigma with tau1; 0 (the paper's read-out) returns `maps` unchanged.
    """
    if sigma <= 0:
        return maps
    h, w = maps.shape[-2:]
    radius = min(int(math.ceil(4 * sigma)), h - 1, w - 1)
    if maps.device.type == "cpu":  # OpenCV's separable blur: ~10x faster than conv2d with a long 1-channel kernel
        ksize = (2 * radius + 1, 2 * radius + 1)
        blurred = [cv2.GaussianBlur(m, ksize, sigma, borderType=cv2.BORDER_REFLECT_101) for m in maps.float().numpy()]
        return torch.from_numpy(np.stack(blurred)) if blurred else maps.float()
    return _gaussian_conv(maps, sigma, radius)


def _gaussian_conv(maps: torch.Tensor, sigma: float, radius: int) -> torch.Tensor:
    """smooth_maps on any device, in torch (the same kernel and borders as the OpenCV path)."""
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=maps.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = maps.float()[:, None]
    with torch.autocast(maps.device.type, enabled=False):  # keep fp32: a bf16 blur would shift tau1
        x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
        x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return x[:, 0]


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d that directly follows a Conv2d (in a Sequential) into the conv, in place.

    For inference only (eval-mode statistics): one op fewer per block, ~25 % faster FN3 on CPU, outputs
    equal to ~1e-5. Training and `fakeseg eval` keep the unfolded model.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq[i], seq[i + 1] = fuse_conv_bn_eval(conv.eval(), bn.eval()), nn.Identity()
    return model
