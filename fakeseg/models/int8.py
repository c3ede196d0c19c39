"""int8 inference on CPU: static quantisation of a model's body and head (PyTorch FX graph mode).

On a CPU with VNNI (AVX512-VNNI / AVX-VNNI) int8 convolutions run about twice as fast as bf16 ones:
FN3 takes ~2.2 ms per 256 px crop against ~4.8 ms in bf16 on the 2-core machine of docs/benchmarks.md.
The price is accuracy (scores move by ~1e-3, see docs/benchmarks.md), so `fakeseg detect` uses it only
when asked (`--precision int8`).

Static quantisation needs the range of every activation. Those ranges are measured once, on validation
crops (`fakeseg eval --calibrate VAL --save-thresholds` does it beside tau2), and stored in the weights'
config.json (`int8`). Loading then rebuilds the same quantised model with no data at hand, so two runs
of detect on one machine give identical outputs. Weights are per-channel symmetric int8. Activations use
the full unsigned 8-bit range (0-255) where the CPU has VNNI. Without it (AVX2 or AVX-512 without VNNI, e.g.
AMD Zen 3) the kernels add pairs of u8 x s8 products in int16 (vpmaddubsw), which saturates with 8-bit
activations: FN3's output was off by ~18 % of its range on such a CPU. There the stored ranges are mapped
onto 7 bits (0-127, PyTorch's `reduce_range`), at the cost of half the grey levels; the ranges themselves do
not depend on the machine.
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.nn as nn

from .base import FakeSegNet

ENGINE = "x86"
_QMIN, _QMAX = 0, 255
_QMAX_WITHOUT_VNNI = 127  # 7 bits: u8 x s8 pair sums then stay inside int16


def activation_levels() -> int:
    """Highest quantised activation level the int8 kernels of this CPU add up without saturating."""
    has_vnni = getattr(torch.cpu, "_is_vnni_supported", lambda: False)  # private in torch 2.x: assume the worst
    return _QMAX if has_vnni() else _QMAX_WITHOUT_VNNI


def int8_supported() -> bool:
    """True where PyTorch has the x86 quantised kernels (any x86-64 build; fast with VNNI)."""
    return ENGINE in torch.backends.quantized.supported_engines


class _Core(nn.Module):
    """body + head: the part that is quantised (FakeSegNet's upsampling and read-out stay float)."""

    def __init__(self, model: FakeSegNet):
        super().__init__()
        self.body, self.head = model.body, model.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _qconfig_mapping(observer, quant_max: int):
    from torch.ao.quantization import PerChannelMinMaxObserver, QConfig, QConfigMapping

    weight = PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    activation = observer.with_args(quant_min=_QMIN, quant_max=quant_max, dtype=torch.quint8)
    return QConfigMapping().set_global(QConfig(activation=activation, weight=weight))


def _prepare(model: FakeSegNet, observer, example: torch.Tensor, quant_max: int = _QMAX):
    from torch.ao.quantization.quantize_fx import prepare_fx

    core = _Core(copy.deepcopy(model).float().cpu().eval())
    with warnings.catch_warnings():  # FX quantisation warns that it is moving to torchao; it works in torch 2.x
        warnings.simplefilter("ignore")
        prepared = prepare_fx(core, _qconfig_mapping(observer, quant_max), (example,))
    observers = {n: m for n, m in prepared.named_modules() if n.startswith("activation_post_process")}
    return prepared, observers


class RangeObserver:
    """Collects each activation's quantisation range over normalised input batches (B,3,S,S).

    A histogram observer picks the range that minimises the quantisation error (it clips rare outliers
    instead of stretching the grid over them); `ranges()` returns [min, max] that reproduce its choice.

    >>> obs = RangeObserver(model)                                       # doctest: +SKIP
    >>> for x in val_batches: obs.observe(x)                             # doctest: +SKIP
    >>> config.int8 = {"ranges": obs.ranges()}                           # doctest: +SKIP
    """

    def __init__(self, model: FakeSegNet):
        self.model = model
        self.seen = 0
        self._prepared = None
        self._observers: dict = {}

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        from torch.ao.quantization import HistogramObserver

        x = x.detach().float().cpu()
        if self._prepared is None:
            self._prepared, self._observers = _prepare(self.model, HistogramObserver, x[:1])
        self._prepared(x)
        self.seen += len(x)

    def ranges(self) -> dict[str, list[float]]:
        if not self.seen:
            raise ValueError("int8 calibration needs at least one batch")
        out = {}
        for name, obs in self._observers.items():
            lo, hi = obs._non_linear_param_search()
            out[name] = [float(lo), float(hi)]
        return out


def quantize(model: FakeSegNet, ranges: dict[str, list[float]]) -> FakeSegNet:
    """An int8 copy of `model` built from stored activation ranges (no data needed). CPU only.

    Raises ValueError when the ranges do not belong to this architecture's graph.
    """
    from torch.ao.quantization import MinMaxObserver
    from torch.ao.quantization.quantize_fx import convert_fx

    if not int8_supported():
        raise ValueError(f"this PyTorch build has no '{ENGINE}' quantised kernels")
    torch.backends.quantized.engine = ENGINE
    size = 64  # any size traces the same graph
    prepared, observers = _prepare(model, MinMaxObserver, torch.zeros(1, 3, size, size), activation_levels())
    if set(observers) != set(ranges):
        raise ValueError(
            f"int8 ranges do not match the {model.arch} graph ({len(ranges)} stored, {len(observers)} needed)"
        )
    for name, obs in observers.items():
        lo, hi = ranges[name]
        obs.min_val, obs.max_val = torch.tensor(float(lo)), torch.tensor(float(hi))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        core = convert_fx(prepared)
    q = copy.deepcopy(model).cpu().eval()
    q.body, q.head = core, nn.Identity()  # FakeSegNet.forward = head(body(x)), then upsampling
    return q


__all__ = ["ENGINE", "RangeObserver", "activation_levels", "int8_supported", "quantize"]
