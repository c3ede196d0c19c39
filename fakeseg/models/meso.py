"""MesoInception-4 (Afchar et al. 2018): two inception modules and two 5x5 convs with max-pooling.

As in the paper, everything after the last batch-norm (the final 4x4 pool, dropout and dense layers)
is replaced by one conv classifier, so the output stride is 8.
"""
import torch
import torch.nn as nn

from ._registry import register_model
from .base import FakeSegNet


class InceptionLayer(nn.Module):
    """Four branches: 1x1; 1x1->3x3; 1x1->3x3 dilated 2; 1x1->3x3 dilated 3 (as in MesoInception-4)."""

    def __init__(self, cin: int, a: int, b: int, c: int, d: int):
        super().__init__()
        self.b1 = nn.Conv2d(cin, a, 1)
        self.b2 = nn.Sequential(nn.Conv2d(cin, b, 1), nn.Conv2d(b, b, 3, padding=1))
        self.b3 = nn.Sequential(nn.Conv2d(cin, c, 1), nn.Conv2d(c, c, 3, padding=2, dilation=2))
        self.b4 = nn.Sequential(nn.Conv2d(cin, d, 1), nn.Conv2d(d, d, 3, padding=3, dilation=3))
        self.out_channels = a + b + c + d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1))


def _meso_body() -> nn.Sequential:
    i1, i2 = InceptionLayer(3, 1, 4, 4, 2), InceptionLayer(11, 2, 4, 4, 2)
    return nn.Sequential(
        i1, nn.BatchNorm2d(11), nn.MaxPool2d(2),
        i2, nn.BatchNorm2d(12), nn.MaxPool2d(2),
        nn.Conv2d(12, 16, 5, padding=2), nn.ReLU(inplace=True), nn.BatchNorm2d(16), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 5, padding=2), nn.ReLU(inplace=True), nn.BatchNorm2d(16),
    )


@register_model("mesoinception4", aliases=("mesonet", "meso4"), family="meso", depth=10)
def mesoinception4(task: str = "seg") -> FakeSegNet:
    return FakeSegNet(_meso_body(), 16, out_stride=8, task=task, arch="mesoinception4")
