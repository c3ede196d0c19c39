"""VGG3/5/8: the first 2 / 4 / 7 conv layers of VGG16 (with its max-pools between stages) + a classifier.

We use the vgg16_bn layout (BN after each conv): the paper trains from scratch with Adam at 1e-3 and
reports ImageNet initialisation does not matter (Table 4); BN keeps that recipe stable.
"""
import torch.nn as nn

from ._layers import conv_bn_relu
from ._registry import register_model
from .base import FakeSegNet

_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256]


def _vgg_body(n_convs: int) -> tuple[nn.Sequential, int, int]:
    layers, cin, stride, convs = [], 3, 1, 0
    for v in _VGG16:
        if convs == n_convs:
            break
        if v == "M":
            layers.append(nn.MaxPool2d(2))
            stride *= 2
        else:
            layers.append(conv_bn_relu(cin, v))
            cin, convs = v, convs + 1
    return nn.Sequential(*layers), cin, stride


def _vgg(name: str, n_convs: int, task: str) -> FakeSegNet:
    body, channels, stride = _vgg_body(n_convs)
    return FakeSegNet(body, channels, out_stride=stride, task=task, arch=name)


@register_model("vgg3", family="vgg", depth=3)
def vgg3(task: str = "seg") -> FakeSegNet:
    return _vgg("vgg3", 2, task)


@register_model("vgg5", aliases=("vgg4",), family="vgg", depth=4)
def vgg5(task: str = "seg") -> FakeSegNet:
    return _vgg("vgg5", 4, task)


@register_model("vgg8", aliases=("vgg7",), family="vgg", depth=7)
def vgg8(task: str = "seg") -> FakeSegNet:
    return _vgg("vgg8", 7, task)
