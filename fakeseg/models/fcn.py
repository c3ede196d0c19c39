"""FN3 (the paper's "Conv3"): two Conv-BN-ReLU blocks, kernel 7, stride 2, then a 3x3 classifier."""
import torch.nn as nn

from ._layers import conv_bn_relu
from ._registry import register_model
from .base import FakeSegNet


@register_model("fn3", aliases=("conv3",), family="fcn", depth=3)
def fn3(task: str = "seg") -> FakeSegNet:
    body = nn.Sequential(conv_bn_relu(3, 64, k=7, stride=2), conv_bn_relu(64, 128, k=7, stride=2))
    return FakeSegNet(body, 128, out_stride=4, task=task, arch="fn3")
