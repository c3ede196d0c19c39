"""Xception (Chollet 2017): the 36-conv body (entry, 8 middle blocks, exit up to conv4 at 2048 ch).

The final global pool and fully-connected layer are replaced by the shared conv classifier (1x1 here:
at 2048 channels a 3x3 head would add 18k x 9 weights for no receptive-field gain at stride 32).
Layout follows the reference implementation used by FaceForensics++ (timm's legacy xception).
"""
import torch.nn as nn

from ._registry import register_model
from .base import FakeSegNet


class SeparableConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, padding: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, k, stride, padding, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, reps: int, stride: int = 1, start_with_relu: bool = True,
                 grow_first: bool = True):
        super().__init__()
        self.skip = None
        if cout != cin or stride != 1:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        layers = []
        for i in range(reps):
            if grow_first:
                c_in, c_out = (cin if i == 0 else cout), cout
            else:
                c_in, c_out = cin, (cin if i < reps - 1 else cout)
            layers += [nn.ReLU(inplace=False), SeparableConv2d(c_in, c_out), nn.BatchNorm2d(c_out)]
        if not start_with_relu:
            layers = layers[1:]
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, 1))
        self.rep = nn.Sequential(*layers)

    def forward(self, x):
        skip = x if self.skip is None else self.skip(x)
        return self.rep(x) + skip


def _xception_body() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        Block(64, 128, 2, 2, start_with_relu=False),
        Block(128, 256, 2, 2),
        Block(256, 728, 2, 2),
        *[Block(728, 728, 3, 1) for _ in range(8)],
        Block(728, 1024, 2, 2, grow_first=False),
        SeparableConv2d(1024, 1536), nn.BatchNorm2d(1536), nn.ReLU(inplace=True),
        SeparableConv2d(1536, 2048), nn.BatchNorm2d(2048), nn.ReLU(inplace=True),
    )


@register_model("xception", family="xception", depth=36)
def xception(task: str = "seg") -> FakeSegNet:
    return FakeSegNet(_xception_body(), 2048, out_stride=32, task=task, arch="xception", head_kernel=1)
