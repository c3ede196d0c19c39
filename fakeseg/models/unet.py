"""UNet4x / UNet8x: a UNet whose encoder downsamples 4x / 8x, with skip connections (Ronneberger et al.).

Widths start at 32 and double per level; decoder upsamples bilinearly then fuses the skip with two
3x3 convs. Output stride 1 for both tasks (for cls, M has the input's resolution).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ._layers import conv_bn_relu
from ._registry import register_model
from .base import FakeSegNet


def _double(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(conv_bn_relu(cin, cout), conv_bn_relu(cout, cout))


class UNetBody(nn.Module):
    def __init__(self, levels: int, base: int = 32):
        super().__init__()
        widths = [base * 2**i for i in range(levels + 1)]
        self.down = nn.ModuleList([_double(3, widths[0])])
        self.down.extend(_double(widths[i], widths[i + 1]) for i in range(levels))
        self.up = nn.ModuleList(_double(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(levels)))
        self.out_channels = widths[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return x


def _unet(name: str, levels: int, task: str) -> FakeSegNet:
    body = UNetBody(levels)
    return FakeSegNet(body, body.out_channels, out_stride=1, task=task, arch=name)


# detect_batch 8: the full-resolution decoder keeps every level's features alive; on a one-minute 720p clip
# `fakeseg detect` peaks at ~1,300 MB with 16 faces per pass and ~980 MB with 8, 7 % faster (docs/benchmarks.md)
@register_model("unet4x", family="unet", depth=14, detect_batch=8)
def unet4x(task: str = "seg") -> FakeSegNet:
    return _unet("unet4x", 2, task)


@register_model("unet8x", family="unet", depth=18, detect_batch=8)
def unet8x(task: str = "seg") -> FakeSegNet:
    return _unet("unet8x", 3, task)
