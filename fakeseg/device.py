"""The one rule for choosing a device, and what its CPU does fast, shared by every engine."""
from __future__ import annotations

import torch


def pick_device(device: str | None = None) -> torch.device:
    """`device` if given (checked), else cuda, then mps, then cpu."""
    if device:
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise ValueError(f"--device {device!r}: expected cuda, cuda:N, mps or cpu") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--device {device}: CUDA is not available on this machine")
        if dev.type == "mps" and not (
            getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
        ):
            raise ValueError(f"--device {device}: MPS is not available on this machine")
        if dev.type not in ("cuda", "mps", "cpu"):
            raise ValueError(f"--device {device!r}: expected cuda, cuda:N, mps or cpu")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_native_bf16() -> bool:
    """True where oneDNN runs bf16 natively (AVX512-BF16 or AMX). Elsewhere (e.g. AVX2 only) it emulates bf16
    and autocast is ~10x slower than fp32: FN3 inference ~300 against ~33 ms a crop, training 0.64 against 6.2
    images/s on an AMD Zen 3 (docs/benchmarks.md, stop 28)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
